"""The read side: what the counted votes add up to, for the app, the audit and the demo.

``tally.py`` reads the standings from the Redis counters, ``audit.py`` recounts
the MongoDB vote log and compares the two, ``webapp.py`` is ``certamen
streamlit`` (the Streamlit app itself is ``streamlit_app/`` beside the package).
May import the base (``settings``, ``logs``), ``contract`` and ``adapters``;
never the services that write, nor ``operations``.
"""

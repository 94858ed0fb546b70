"""The read side: what the counted votes add up to, and what the organisers see of it.

``tally.py`` reads the standings from the Redis counters, ``audit.py`` recounts
the MongoDB vote log and compares the two, ``webapp.py`` is ``certamen
streamlit`` (the Streamlit app itself is ``streamlit_app/`` beside the package),
``access.py`` decides who may see the app and who may replay, ``i18n/`` holds
the Spanish and English texts and formats of the app and the dashboards.
May import the base (``settings``, ``logs``), ``contract`` and ``adapters``;
never the services that write, nor ``operations``.
"""

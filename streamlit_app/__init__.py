"""The Streamlit app of Certamen: live results, the vote log, the dead letters and the audit.

Run it with ``certamen streamlit`` (``certamen.results.webapp``); ``app.py`` is the entry script.
"""

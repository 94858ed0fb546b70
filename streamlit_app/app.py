"""Entry script of the Streamlit app: page setup, the language, sign-in, navigation.

Run by ``certamen streamlit``. Configuration comes from the same environment
variables as every other part (``certamen.settings.load``, read once); a bad
value is shown, not raised. With sign-in on, nothing below the sign-in page
runs before an account signed in (``signin.gate``).
"""

from __future__ import annotations

import streamlit as st

from certamen.contract import CatalogError
from certamen.results.access import AccessError
from certamen.results.i18n import messages
from certamen.settings import SettingsError
from streamlit_app import reader, resources, signin

st.set_page_config(page_title="Certamen", page_icon=":material/how_to_vote:", layout="wide")

try:
    resources.settings()
    resources.access()
except AccessError:
    # certamen streamlit refuses to start like this; this is for a `streamlit run` by hand.
    st.error(messages(reader.browser_language()).access.not_configured)
    st.stop()
except SettingsError as e:
    st.error(messages(reader.browser_language()).app.bad_configuration.format(error=e))
    st.stop()

reader.pick_language()
signin.gate(reader.current())
try:
    resources.catalog()
except CatalogError as e:
    st.error(reader.current().texts.app.bad_configuration.format(error=e))
    st.stop()
texts = reader.current().texts.app
navigation = st.navigation(
    [
        st.Page(
            "views/results.py",
            title=texts.page_results,
            icon=":material/leaderboard:",
            default=True,
        ),
        st.Page(
            "views/logs.py", title=texts.page_logs, icon=":material/list_alt:", url_path="logs"
        ),
        st.Page(
            "views/dead_letters.py",
            title=texts.page_dead_letters,
            icon=":material/report:",
            url_path="dead-letters",
        ),
        st.Page(
            "views/audit.py", title=texts.page_audit, icon=":material/fact_check:", url_path="audit"
        ),
    ]
)
navigation.run()

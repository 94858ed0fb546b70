"""Entry script of the Streamlit app: page setup and navigation (run by ``certamen streamlit``).

Configuration comes from the same environment variables as every other part
(``certamen.settings.load``, read once); a bad value is shown, not raised.
"""

from __future__ import annotations

import streamlit as st

from certamen.contract import CatalogError
from certamen.settings import SettingsError
from streamlit_app import resources

st.set_page_config(page_title="Certamen", page_icon=":material/how_to_vote:", layout="wide")

try:
    resources.settings()
    resources.catalog()
except (SettingsError, CatalogError) as e:
    st.error(f"**Certamen cannot start: bad configuration.** {e}")
    st.stop()

navigation = st.navigation(
    [
        st.Page("views/results.py", title="Results", icon=":material/leaderboard:", default=True),
        st.Page("views/logs.py", title="Logs", icon=":material/list_alt:", url_path="logs"),
        st.Page("views/audit.py", title="Audit", icon=":material/fact_check:", url_path="audit"),
    ]
)
navigation.run()

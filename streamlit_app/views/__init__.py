"""One module per page of the app; ``app.py`` registers them with ``st.navigation``."""

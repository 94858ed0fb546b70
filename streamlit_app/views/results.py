"""Results: the live standings from Redis, refreshed every second without reloading the page.

Only the fragment below reruns on its timer, so the page never flickers and
the other pages' widgets keep their state.
"""

from __future__ import annotations

import streamlit as st

from certamen.tally import read_rate, read_standings
from streamlit_app import components, resources

REFRESH_SECONDS = 1.0
RATE_WINDOW_SECONDS = 60

settings = resources.settings()
catalog = resources.catalog()

st.title("Results")
st.caption(
    f"Live from Redis, refreshed every {REFRESH_SECONDS:g} s"
    + (f" — {catalog.title}" if catalog else " — open contest (no catalog)")
)


@st.fragment(run_every=REFRESH_SECONDS)
def live_standings() -> None:
    """Read one snapshot of the tally and draw it; runs again on its own every second."""
    with components.reaching("Redis", settings.redis_url_redacted):
        client = resources.redis_client()
        standings = read_standings(client, catalog)
        rate = read_rate(client, RATE_WINDOW_SECONDS)
        components.standings_metrics(standings, rate)
        components.standings_charts(standings, rate)
        components.standings_tables(standings)


live_standings()

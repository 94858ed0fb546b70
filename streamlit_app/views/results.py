"""Results: the live standings from Redis, refreshed every second without reloading the page.

Only the fragment below reruns on its timer, so the page never flickers and
the other pages' widgets keep their state.
"""

from __future__ import annotations

import streamlit as st

from certamen.results.tally import read_rate, read_standings
from streamlit_app import components, reader, resources

REFRESH_SECONDS = 1.0
CHART_REFRESH_SECONDS = 2.0
RATE_WINDOW_SECONDS = 60

settings = resources.settings()
catalog = resources.catalog()
me = reader.current()
texts = me.texts.results

st.title(texts.title)
st.caption(
    texts.caption.format(
        numbers=me.formats.decimal(REFRESH_SECONDS, 1),
        charts=me.formats.decimal(CHART_REFRESH_SECONDS, 1),
        contest=catalog.title if catalog else texts.open_contest,
    )
)


@st.fragment(run_every=REFRESH_SECONDS)
def live_numbers() -> None:
    """The headline numbers and the standings tables; rerun on their own every second."""
    with components.reaching(me, "Redis", settings.redis_url_redacted):
        client = resources.redis_client()
        standings = read_standings(client, catalog)
        components.standings_metrics(me, standings, read_rate(client, RATE_WINDOW_SECONDS))
        with st.expander(texts.standings_tables, expanded=True):
            components.standings_tables(me, standings)


@st.fragment(run_every=CHART_REFRESH_SECONDS)
def live_charts() -> None:
    """The charts; heavier to draw, so redrawn every other second."""
    with components.reaching(me, "Redis", settings.redis_url_redacted):
        client = resources.redis_client()
        components.standings_charts(
            me, read_standings(client, catalog), read_rate(client, RATE_WINDOW_SECONDS)
        )


live_numbers()
live_charts()

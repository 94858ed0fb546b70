"""Pieces the pages share: the message for a server that is down, and the charts.

A page wraps each part that needs a server in :func:`reaching`; when that
server does not answer, the part shows one clear sentence instead of a
traceback and the rest of the page keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import altair as alt
import streamlit as st
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from certamen.adapters.errors import StoreUnavailable
from certamen.results.tally import Standings

log = logging.getLogger("certamen.streamlit")

SERVER_ERRORS = (RedisError, PyMongoError, StoreUnavailable, OSError)
NO_RANK = "no votes yet"


@contextmanager
def reaching(server: str, address: str) -> Iterator[None]:
    """Run a part of a page that talks to ``server``; if it is down, say so on the page."""
    try:
        yield
    except SERVER_ERRORS as e:
        log.warning("%s at %s is not reachable: %s", server, address, e)
        st.error(
            f"**{server} is not reachable** at `{address}`. This part of the page comes back "
            "by itself when the server does; the rest of the app keeps working.",
            icon=":material/cloud_off:",
        )


def standings_metrics(standings: Standings, rate: Sequence[tuple[int, int]]) -> None:
    """The headline numbers: total, the recent rate, each channel and the dead letters."""
    recent = rate[-6:-1] if len(rate) > 5 else rate
    per_second = sum(count for _, count in recent) / max(len(recent), 1)
    columns = st.columns(3 + len(standings.by_channel))
    columns[0].metric("Total votes", standings.total)
    columns[1].metric("Votes per second (last 5 s)", f"{per_second:.1f}")
    for column, (channel, count) in zip(columns[2:], standings.by_channel.items(), strict=False):
        column.metric(f"Votes via {channel}", count)
    columns[-1].metric("Dead letters", standings.dead_letters)


def standings_charts(standings: Standings, rate: Sequence[tuple[int, int]]) -> None:
    """Bars by band, album and channel, the average rank and the votes per second."""
    bands = [{"band": band, "votes": votes} for band, votes in standings.by_band.items()]
    albums = [
        {"album": s.key, "band": s.band, "votes": s.votes, "average rank": s.average_rank}
        for s in standings.by_album
    ]
    channels = [{"channel": c, "votes": votes} for c, votes in standings.by_channel.items()]
    left, right = st.columns([3, 1])
    with left:
        st.subheader("Votes by band")
        st.altair_chart(bar_chart(bands, "band", "votes"), width="stretch")
    with right:
        st.subheader("By channel")
        st.altair_chart(bar_chart(channels, "channel", "votes"), width="stretch")
    st.subheader("Votes per second, last minute")
    st.altair_chart(_rate_chart(rate), width="stretch")
    left, right = st.columns(2)
    with left:
        st.subheader("Votes by album")
        st.altair_chart(bar_chart(albums, "album", "votes", color="band"), width="stretch")
    with right:
        st.subheader("Average rank by album")
        st.altair_chart(
            bar_chart(albums, "album", "average rank", color="band", domain=(0, 100)),
            width="stretch",
        )


def standings_tables(standings: Standings) -> None:
    """The standings as tables: exact numbers to read out on stage."""
    left, right = st.columns([1, 2])
    with left:
        st.subheader("Bands")
        st.table(
            [{"Band": band, "Votes": votes} for band, votes in standings.by_band.items()],
            hide_index=True,
        )
    with right:
        st.subheader("Albums")
        st.table(
            [
                {
                    "Band": s.band,
                    "Album": s.album,
                    "Votes": s.votes,
                    "Average rank": NO_RANK if s.average_rank is None else f"{s.average_rank:.2f}",
                }
                for s in standings.by_album
            ],
            hide_index=True,
        )


def bar_chart(
    rows: Sequence[Mapping[str, object]],
    label: str,
    value: str,
    *,
    color: str | None = None,
    domain: tuple[float, float] | None = None,
) -> alt.LayerChart:
    """Horizontal bars, longest first, each with its number; zero rows keep their place."""
    counts = domain is None  # whole numbers: ticks at integers only
    if domain is None:
        highest = max((v for r in rows if isinstance(v := r.get(value), int | float)), default=0)
        domain = (0, max(1, highest))
    axis = alt.Axis(tickMinStep=1, format="d") if counts else alt.Axis()
    base = alt.Chart({"values": [dict(r) for r in rows]}).encode(
        y=alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
        x=alt.X(f"{value}:Q", title=value, scale=alt.Scale(domain=list(domain)), axis=axis),
        tooltip=[f"{key}:{'Q' if key == value else 'N'}" for key in (rows[0] if rows else {})],
    )
    bars = base.mark_bar().encode(
        color=alt.Color(f"{color}:N", legend=None) if color else alt.value("#4c78a8")
    )
    text = base.mark_text(align="left", dx=3).encode(text=alt.Text(f"{value}:Q", format=",.2~f"))
    chart: alt.LayerChart = (bars + text).properties(height=alt.Step(22))
    return chart


def _rate_chart(rate: Sequence[tuple[int, int]]) -> alt.Chart:
    values = [
        {"time": datetime.fromtimestamp(second, UTC).isoformat(), "votes": count}
        for second, count in rate
    ]
    chart: alt.Chart = (
        alt.Chart({"values": values})
        .mark_bar()
        .encode(
            x=alt.X("time:T", title="time (UTC)"),
            y=alt.Y("votes:Q", title="votes per second", axis=alt.Axis(tickMinStep=1, format="d")),
            tooltip=["time:T", "votes:Q"],
        )
        .properties(height=180)
    )
    return chart

"""Pieces the pages share: the message for a server that is down, the charts and the tables.

A page wraps each part that needs a server in :func:`reaching`; when that
server does not answer, the part shows one clear sentence instead of a
traceback and the rest of the page keeps working. Every text and number comes
from the session's :class:`~streamlit_app.reader.Reader`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import altair as alt
import streamlit as st
from pymongo.errors import ExecutionTimeout, NetworkTimeout, PyMongoError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from certamen.adapters.errors import StoreUnavailable
from certamen.results.tally import Standings
from streamlit_app.queries import FilterError
from streamlit_app.reader import Reader

log = logging.getLogger("certamen.streamlit")

SERVER_ERRORS = (RedisError, PyMongoError, StoreUnavailable, OSError)
# A read that a connected server did not finish in time: slow, not away (FerretDB v1
# reads the whole vote log for any query but an _id lookup).
SLOW_ERRORS = (NetworkTimeout, ExecutionTimeout, RedisTimeoutError)


@contextmanager
def reaching(reader: Reader, server: str, address: str, slow_hint: str = "") -> Iterator[None]:
    """Run a part of a page that talks to ``server``; if it is down or too slow, say which
    on the page (``slow_hint``: what this page can do about a slow read)."""
    try:
        yield
    except SLOW_ERRORS as e:
        log.warning("%s at %s did not answer in time: %s", server, address, e)
        st.error(
            " ".join(
                [reader.texts.app.server_slow.format(server=server, address=address), slow_hint]
            ).strip(),
            icon=":material/hourglass_top:",
        )
    except SERVER_ERRORS as e:
        log.warning("%s at %s is not reachable: %s", server, address, e)
        st.error(
            reader.texts.app.server_unreachable.format(server=server, address=address),
            icon=":material/cloud_off:",
        )


def filter_problem(reader: Reader, error: FilterError) -> str:
    """Why a filter value was refused, in the reader's language."""
    texts = reader.texts.filters
    field = getattr(texts, f"field_{error.field}")
    problem = getattr(texts, error.problem).format(**error.details)
    explained: str = reader.texts.logs.cannot_filter.format(field=field, problem=problem)
    return explained


def standings_metrics(
    reader: Reader, standings: Standings, rate: Sequence[tuple[int, int]]
) -> None:
    """The headline numbers: total, the recent rate, each channel and the dead letters."""
    texts, formats = reader.texts.results, reader.formats
    recent = rate[-6:-1] if len(rate) > 5 else rate
    per_second = sum(count for _, count in recent) / max(len(recent), 1)
    columns = st.columns(3 + len(standings.by_channel))
    columns[0].metric(texts.total_votes, formats.count(standings.total))
    columns[1].metric(texts.votes_per_second, formats.decimal(per_second, 1))
    for column, (channel, count) in zip(columns[2:], standings.by_channel.items(), strict=False):
        named = reader.texts.channels.of(channel)
        column.metric(texts.votes_via.format(channel=named), formats.count(count))
    columns[-1].metric(texts.dead_letters, formats.count(standings.dead_letters))


def standings_charts(reader: Reader, standings: Standings, rate: Sequence[tuple[int, int]]) -> None:
    """Bars by band, album and channel, the average rank and the votes per second."""
    texts = reader.texts.results
    band, album, channel = texts.band, texts.album, texts.channel
    votes, average = texts.votes, texts.average_rank
    bands = [{band: name, votes: count} for name, count in standings.by_band.items()]
    albums = [
        {album: s.key, band: s.band, votes: s.votes, average: s.average_rank}
        for s in standings.by_album
    ]
    named = reader.texts.channels.of
    channels = [{channel: named(c), votes: count} for c, count in standings.by_channel.items()]
    left, right = st.columns([3, 1])
    with left:
        st.subheader(texts.votes_by_band)
        st.altair_chart(bar_chart(reader, bands, band, votes), width="stretch")
    with right:
        st.subheader(texts.by_channel)
        st.altair_chart(bar_chart(reader, channels, channel, votes), width="stretch")
    st.subheader(texts.votes_per_second_minute)
    st.altair_chart(_rate_chart(reader, rate), width="stretch")
    left, right = st.columns(2)
    with left:
        st.subheader(texts.votes_by_album)
        st.altair_chart(bar_chart(reader, albums, album, votes, color=band), width="stretch")
    with right:
        st.subheader(texts.average_rank_by_album)
        st.altair_chart(
            bar_chart(reader, albums, album, average, color=band, domain=(0, 100)),
            width="stretch",
        )


def standings_tables(reader: Reader, standings: Standings) -> None:
    """The standings as tables: exact numbers to read out on stage."""
    texts, formats = reader.texts.results, reader.formats
    left, right = st.columns([1, 2])
    with left:
        st.subheader(texts.bands)
        st.table(
            [
                {texts.band: band, texts.votes: formats.count(votes)}
                for band, votes in standings.by_band.items()
            ],
            hide_index=True,
        )
    with right:
        st.subheader(texts.albums)
        st.table(
            [
                {
                    texts.band: s.band,
                    texts.album: s.album,
                    texts.votes: formats.count(s.votes),
                    texts.average_rank: reader.texts.app.no_votes_yet
                    if s.average_rank is None
                    else formats.decimal(s.average_rank),
                }
                for s in standings.by_album
            ],
            hide_index=True,
        )


def bar_chart(
    reader: Reader,
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
    axis = alt.Axis(tickMinStep=1, format=",d") if counts else alt.Axis()
    base = alt.Chart({"values": [dict(r) for r in rows]}).encode(
        y=alt.Y(field=label, type="nominal", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
        x=alt.X(
            field=value,
            type="quantitative",
            title=value,
            scale=alt.Scale(domain=list(domain)),
            axis=axis,
        ),
        tooltip=[
            alt.Tooltip(field=key, type="quantitative" if key == value else "nominal")
            for key in (rows[0] if rows else {})
        ],
    )
    bars = base.mark_bar().encode(
        color=alt.Color(field=color, type="nominal", legend=None) if color else alt.value("#4c78a8")
    )
    text = base.mark_text(align="left", dx=3).encode(
        text=alt.Text(field=value, type="quantitative", format=",.2~f")
    )
    chart: alt.LayerChart = (
        (bars + text).properties(height=alt.Step(22)).configure(locale=_locale(reader))
    )
    return chart


def _rate_chart(reader: Reader, rate: Sequence[tuple[int, int]]) -> alt.Chart:
    """Votes per second against the contest zone's clock.

    The wall-clock times are handed to Vega as UTC and drawn on a UTC scale, so the
    axis shows the contest's time whatever the browser's own zone is.
    """
    texts, formats = reader.texts.results, reader.formats
    values = [
        {
            "time": formats.wall_clock(datetime.fromtimestamp(second, UTC)).isoformat() + "Z",
            "votes": count,
        }
        for second, count in rate
    ]
    time_title = texts.time.format(zone=formats.zone_name)
    chart: alt.Chart = (
        alt.Chart({"values": values})
        .mark_bar()
        .encode(
            x=alt.X(field="time", type="temporal", title=time_title, scale=alt.Scale(type="utc")),
            y=alt.Y(
                field="votes",
                type="quantitative",
                title=texts.votes,
                axis=alt.Axis(tickMinStep=1, format=",d"),
            ),
            tooltip=[
                alt.Tooltip(
                    field="time",
                    type="temporal",
                    title=time_title,
                    format="%H:%M:%S",
                    formatType="utc",
                ),
                alt.Tooltip(field="votes", type="quantitative", title=texts.votes),
            ],
        )
        .properties(height=180)
        .configure(locale=_locale(reader))
    )
    return chart


def _locale(reader: Reader) -> dict[str, Any]:
    """Vega's number and time conventions of the reader's locale (separators, month names)."""
    return reader.formats.vega_locale()

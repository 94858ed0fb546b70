"""Logs: the vote log from MongoDB, filtered, paged and downloadable.

Widget values go through ``queries`` (checked, escaped, capped) before any of
them reaches MongoDB. Times are picked and shown in the contest's time zone;
the query and the CSV keep UTC, as stored.
"""

from __future__ import annotations

import streamlit as st

from certamen.contract import CHANNELS
from streamlit_app import components, reader, resources, store
from streamlit_app.paging import pager, pager_key, table_height
from streamlit_app.queries import (
    PAGE_SIZES,
    VOTE_COLUMNS,
    FilterError,
    page_count,
    page_window,
    vote_filters,
    vote_query,
    vote_rows_shown,
    votes_csv,
)

settings = resources.settings()
catalog = resources.catalog()
mongo_address = settings.mongodb_uri_redacted
me = reader.current()
texts, formats = me.texts.logs, me.formats


def _options(field: str, chosen_bands: list[str]) -> list[str]:
    """Bands or albums to pick from: the catalog's, else what the log holds."""
    if catalog is not None:
        if field == "name":
            return catalog.bands
        wanted = set(chosen_bands)
        albums = (c.album for c in catalog.candidates if not wanted or c.band in wanted)
        return list(dict.fromkeys(albums))
    options: list[str] = []
    with components.reaching(me, "MongoDB", mongo_address):
        options = store.voted_names(resources.mongo_database(), field)
    return options


def _columns() -> dict[str, str]:
    """The table's headers in the reader's language (the data keeps the stored names)."""
    headers = {
        "received_at": texts.received_at,
        "name": texts.name,
        "album": texts.album,
        "year": texts.year,
        "rank": texts.rank,
        "channel": texts.channel,
        "vote_id": texts.vote_id,
        "processed_at": texts.processed_at,
    }
    return {column: headers[column] for column in VOTE_COLUMNS}


def vote_log() -> None:
    """Filters, the total matching count, one page of votes and the CSV of all of them."""
    zone = formats.zone_name
    first, second, third = st.columns(3)
    choose = me.texts.app.choose
    bands = first.multiselect(texts.band, _options("name", []), placeholder=choose, key="log_bands")
    albums = second.multiselect(
        texts.album, _options("album", bands), placeholder=choose, key="log_albums"
    )
    channels = third.multiselect(
        texts.channel,
        list(CHANNELS),
        format_func=me.texts.channels.of,
        placeholder=choose,
        key="log_channels",
    )
    first, second, third = st.columns(3)
    since = first.datetime_input(
        texts.since.format(zone=zone), value=None, format=formats.date_picker, key="log_since"
    )
    until = second.datetime_input(
        texts.until.format(zone=zone), value=None, format=formats.date_picker, key="log_until"
    )
    if until is not None:  # the picker has minutes: "to 17:04" includes 17:04:59.999
        until = until.replace(second=59, microsecond=999_000)
    text = third.text_input(texts.search, key="log_text", max_chars=120)
    vote_id = st.text_input(
        texts.find_vote, key="log_vote_id", max_chars=128, help=texts.find_vote_help
    )
    try:
        filters = vote_filters(
            bands=bands,
            albums=albums,
            channels=channels,
            since=None if since is None else formats.from_wall_clock(since),
            until=None if until is None else formats.from_wall_clock(until),
            text=text,
            vote_id=vote_id,
        )
    except FilterError as e:
        st.warning(components.filter_problem(me, e))
        return
    query = vote_query(filters)
    with components.reaching(me, "MongoDB", mongo_address, slow_hint=texts.slow_log):
        db = resources.mongo_database()
        total = store.count_votes(db, query)
        size = st.selectbox(texts.rows_per_page, PAGE_SIZES, key="log_page_size")
        page = pager(total, size, key=pager_key("log", query, size))
        window = page_window(page, size)
        rows = vote_rows_shown(store.find_votes(db, query, window), formats)
        pages = page_count(total, size)
        st.markdown(
            texts.matching.format(
                count=formats.count(total),
                page=formats.count(window.page),
                pages=formats.count(pages),
            )
        )
        st.dataframe(
            rows or {column: [] for column in VOTE_COLUMNS},
            column_config=_columns(),
            hide_index=True,
            height=table_height(len(rows)),
        )
        st.download_button(
            texts.download,
            data=lambda: votes_csv(store.votes_for_download(db, query)),
            file_name="certamen-votes.csv",
            mime="text/csv",
            on_click="ignore",
            help=texts.download_help,
            key="log_csv",
        )


st.title(texts.title)
vote_log()

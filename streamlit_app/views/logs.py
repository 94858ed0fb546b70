"""Logs: the vote log and the dead letters from MongoDB, filtered, paged and downloadable.

Widget values go through ``queries`` (checked, escaped, capped) before any of
them reaches MongoDB.
"""

from __future__ import annotations

import zlib
from typing import Any

import streamlit as st

from certamen.contract import CHANNELS, Catalog
from streamlit_app import components, resources, store
from streamlit_app.queries import (
    PAGE_SIZES,
    VOTE_COLUMNS,
    FilterError,
    dead_letter_query,
    page_count,
    page_window,
    vote_filters,
    vote_query,
    vote_rows,
    votes_csv,
)

settings = resources.settings()
catalog = resources.catalog()
mongo_address = settings.mongodb_uri_redacted


def _options(field: str, chosen_bands: list[str], known: Catalog | None) -> list[str]:
    """Bands or albums to pick from: the catalog's, else what the log holds."""
    if known is not None:
        if field == "name":
            return known.bands
        wanted = set(chosen_bands)
        albums = (c.album for c in known.candidates if not wanted or c.band in wanted)
        return list(dict.fromkeys(albums))
    options: list[str] = []
    with components.reaching("MongoDB", mongo_address):
        options = store.voted_names(resources.mongo_database(), field)
    return options


def _table_height(rows: int) -> int:
    """Tall enough for a page of up to 20 rows without an inner scroll bar."""
    return 38 + 35 * min(max(rows, 1), 20)


def _pager_key(prefix: str, query: dict[str, Any], size: int) -> str:
    """A widget key per query and page size: a new filter starts again at page 1."""
    return f"{prefix}_page_{zlib.crc32(repr((query, size)).encode()):08x}"


def _pager(total: int, size: int, key: str) -> int:
    """The page to show; the pager is keyed by the query so a new filter starts at page 1."""
    pages = page_count(total, size)
    return st.pagination(pages, key=key) if pages > 1 else 1


def vote_log() -> None:
    """Filters, the total matching count, one page of votes and the CSV of all of them."""
    first, second, third = st.columns(3)
    bands = first.multiselect("Band", _options("name", [], catalog), key="log_bands")
    albums = second.multiselect("Album", _options("album", bands, catalog), key="log_albums")
    channels = third.multiselect("Channel", list(CHANNELS), key="log_channels")
    first, second, third = st.columns(3)
    since = first.datetime_input("From (UTC)", value=None, key="log_since")
    until = second.datetime_input("To (UTC)", value=None, key="log_until")
    if until is not None:  # the picker has minutes: "to 17:04" includes 17:04:59.999
        until = until.replace(second=59, microsecond=999_000)
    text = third.text_input("Search band or album", key="log_text", max_chars=120)
    try:
        filters = vote_filters(
            bands=bands, albums=albums, channels=channels, since=since, until=until, text=text
        )
    except FilterError as e:
        st.warning(f"Cannot filter by {e.field}: {e.message}")
        return
    query = vote_query(filters)
    with components.reaching("MongoDB", mongo_address):
        db = resources.mongo_database()
        total = store.count_votes(db, query)
        size = st.selectbox("Rows per page", PAGE_SIZES, key="log_page_size")
        page = _pager(total, size, key=_pager_key("log", query, size))
        window = page_window(page, size)
        rows = vote_rows(store.find_votes(db, query, window))
        pages = page_count(total, size)
        st.markdown(f"**{total:,}** matching votes — page {window.page} of {pages}")
        st.dataframe(
            rows or {column: [] for column in VOTE_COLUMNS},
            hide_index=True,
            height=_table_height(len(rows)),
        )
        st.download_button(
            "Download CSV of the matching votes",
            data=lambda: votes_csv(store.votes_for_download(db, query)),
            file_name="certamen-votes.csv",
            mime="text/csv",
            on_click="ignore",
            key="log_csv",
        )


def dead_letters() -> None:
    """The events the consumer could not count, with the field and rule that rejected them."""
    with components.reaching("MongoDB", mongo_address):
        db = resources.mongo_database()
        by_rule = store.dead_letter_rules(db)
        st.subheader("Dead letters by reason")
        if by_rule:
            reasons = [{"rule": rule, "dead letters": n} for rule, n in by_rule.items()]
            st.altair_chart(components.bar_chart(reasons, "rule", "dead letters"), width="stretch")
        rules = st.multiselect("Reason", list(by_rule), key="dead_rules")
        try:
            query = dead_letter_query(rules)
        except FilterError as e:
            st.warning(f"Cannot filter by {e.field}: {e.message}")
            return
        total = store.count_dead_letters(db, query)
        size = st.selectbox("Rows per page", PAGE_SIZES, key="dead_page_size")
        page = _pager(total, size, key=_pager_key("dead", query, size))
        window = page_window(page, size)
        letters = store.find_dead_letters(db, query, window)
        pages = page_count(total, size)
        st.markdown(f"**{total:,}** dead letters — page {window.page} of {pages}")
        st.dataframe(
            [_dead_letter_row(d) for d in letters] or {c: [] for c in DEAD_LETTER_COLUMNS},
            hide_index=True,
        )


DEAD_LETTER_COLUMNS = ("failed_at", "field", "rule", "message", "event id", "data")
MAX_SHOWN_DATA = 500


def _dead_letter_row(document: dict[str, Any]) -> dict[str, Any]:
    """One dead letter as the consumer stores it (``certamen.consumer.documents``), for a table."""
    reason = document.get("reason") or {}
    event = document.get("event") or {}
    data = event.get("data")
    if data is None and "data_base64" in event:
        data = f"(not UTF-8, {event.get('data_size', '?')} bytes, base64) {event['data_base64']}"
    return {
        "failed_at": document.get("failed_at"),
        "field": reason.get("field"),
        "rule": reason.get("rule"),
        "message": reason.get("message"),
        "event id": (event.get("attributes") or {}).get("id"),
        "data": None if data is None else str(data)[:MAX_SHOWN_DATA],
    }


st.title("Logs")
votes_tab, dead_tab = st.tabs(["Votes", "Dead letters"])
with votes_tab:
    vote_log()
with dead_tab:
    dead_letters()

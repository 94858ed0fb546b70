"""Dead letters: the events the consumer could not count, with the field and rule that refused them.

The rule filter goes through ``queries.dead_letter_query`` (short lower-case
words only) before it reaches MongoDB.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from streamlit_app import components, reader, resources, store
from streamlit_app.paging import pager, pager_key, table_height
from streamlit_app.queries import (
    PAGE_SIZES,
    FilterError,
    dead_letter_query,
    page_count,
    page_window,
)

DEAD_LETTER_COLUMNS = ("failed_at", "field", "rule", "message", "event_id", "data")
MAX_SHOWN_DATA = 500

settings = resources.settings()
me = reader.current()
texts, formats = me.texts.dead_letters, me.formats


def _row(document: dict[str, Any]) -> dict[str, Any]:
    """One dead letter as the consumer stores it (``certamen.consumer.documents``), for a table."""
    reason = document.get("reason") or {}
    event = document.get("event") or {}
    data = event.get("data")
    if data is None and "data_base64" in event:
        data = texts.not_utf8.format(size=event.get("data_size", "?"), data=event["data_base64"])
    return {
        "failed_at": formats.moment(document.get("failed_at")),
        "field": reason.get("field"),
        "rule": reason.get("rule"),
        "message": reason.get("message"),
        "event_id": (event.get("attributes") or {}).get("id"),
        "data": None if data is None else str(data)[:MAX_SHOWN_DATA],
    }


def _columns() -> dict[str, str]:
    headers = (texts.failed_at, texts.field, texts.rule, texts.message, texts.event_id, texts.data)
    return dict(zip(DEAD_LETTER_COLUMNS, headers, strict=True))


def dead_letters() -> None:
    """Counts by rule, the rule filter, one page of letters."""
    with components.reaching(me, "MongoDB", settings.mongodb_uri_redacted):
        db = resources.mongo_database()
        by_rule = store.dead_letter_rules(db)
        if not by_rule and not store.count_dead_letters(db, {}):
            st.info(texts.none_yet, icon=":material/check_circle:")
            return
        st.subheader(texts.by_reason)
        reasons = [{texts.rule: rule, texts.count: n} for rule, n in by_rule.items()]
        st.altair_chart(components.bar_chart(me, reasons, texts.rule, texts.count), width="stretch")
        rules = st.multiselect(
            texts.reason, list(by_rule), placeholder=me.texts.app.choose, key="dead_rules"
        )
        try:
            query = dead_letter_query(rules)
        except FilterError as e:
            st.warning(components.filter_problem(me, e))
            return
        total = store.count_dead_letters(db, query)
        size = st.selectbox(me.texts.logs.rows_per_page, PAGE_SIZES, key="dead_page_size")
        page = pager(total, size, key=pager_key("dead", query, size))
        window = page_window(page, size)
        letters = [_row(d) for d in store.find_dead_letters(db, query, window)]
        st.markdown(
            texts.matching.format(
                count=formats.count(total),
                page=formats.count(window.page),
                pages=formats.count(page_count(total, size)),
            )
        )
        st.dataframe(
            letters or {c: [] for c in DEAD_LETTER_COLUMNS},
            column_config=_columns(),
            hide_index=True,
            height=table_height(len(letters)),
        )


st.title(texts.title)
st.caption(texts.caption)
dead_letters()

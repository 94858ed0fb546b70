"""Audit: recount MongoDB's vote log and compare it with every Redis counter, on demand.

The comparison is ``certamen.results.audit.compare`` (the same as ``certamen audit`` and
the demo); this page only reads the two stores and shows the report. The last
report stays on the page until the next run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pymongo
import streamlit as st

from certamen.adapters.dead_letter_store import dead_letter_counts
from certamen.adapters.mongo_store import recount_votes
from certamen.results.audit import AUDIT_TIMEOUT_S, AuditReport, TotalCheck, compare
from certamen.results.tally import read_standings
from streamlit_app import components, reader, resources

settings = resources.settings()
catalog = resources.catalog()
me = reader.current()
texts, formats = me.texts.audit, me.formats

st.title(texts.title)
st.caption(texts.caption)

if st.button(texts.run, type="primary", key="audit_run"):
    with components.reaching(me, "Redis", settings.redis_url_redacted):
        standings = read_standings(resources.redis_client(), catalog)
        with components.reaching(me, "MongoDB", settings.mongodb_uri_redacted):
            db = resources.mongo_database()
            db.command("ping")  # fail fast when MongoDB is away; the long timeout is for the work
            bar = st.progress(0.0)

            def show_recount(read: int) -> None:
                """A million votes take minutes to read: say how far the recount got."""
                total = max(read, standings.total, 1)
                text = texts.recounting.format(
                    read=formats.count(read), total=formats.count(standings.total)
                )
                bar.progress(read / total, text=text)

            with pymongo.timeout(AUDIT_TIMEOUT_S):  # a big log takes FerretDB a while to read
                groups = recount_votes(db, show_recount)
                report = compare(standings, groups, dead_letters=dead_letter_counts(db))
            bar.empty()
            st.session_state["audit_report"] = (datetime.now(UTC), report)


def _counter(check: TotalCheck) -> tuple[str, str]:
    """The kind of counter and its name, in the reader's language (bands are names, not
    words; the dead letters' rows are named by ``certamen.results.audit``)."""
    kinds = {
        "band": texts.counter_band,
        "channel": texts.counter_channel,
        "total": texts.counter_total,
        "dead letters": texts.counter_dead_letters,
    }
    kind = kinds.get(check.counter, check.counter)
    if check.counter == "total":
        return kind, texts.all_votes
    if check.counter == "channel":
        return kind, me.texts.channels.of(check.label)
    if check.counter != "dead letters":
        return kind, check.label
    rows = {
        "not put right": texts.dead_open,
        "put right by a replay": texts.dead_replayed,
        "put right: their votes logged": texts.dead_replayed_logged,
    }
    if check.label.startswith("rule "):
        rule = me.texts.rules.of(check.label.removeprefix("rule "))
        return kind, texts.dead_rule.format(rule=rule)
    return kind, rows.get(check.label, check.label)


def show(when: datetime, report: AuditReport) -> None:
    """The verdict, then every counter with its two values."""
    stamp = formats.moment(when)
    if report.ok:
        st.success(texts.agree.format(when=stamp))
    else:
        st.error(texts.differ.format(count=formats.count(report.differences), when=stamp))
    total = next(t for t in report.totals if t.counter == "total")
    first, second, third = st.columns(3)
    first.metric(texts.votes_in_redis, formats.count(total.redis))
    second.metric(texts.votes_in_mongodb, formats.count(total.mongodb))
    third.metric(texts.differences, formats.count(report.differences))
    st.subheader(texts.albums)
    st.dataframe(
        [
            {
                "band": c.band,
                "album": c.album,
                "votes_redis": formats.count(c.redis_votes),
                "votes_mongodb": formats.count(c.mongodb_votes),
                "rank_sum_redis": formats.decimal(c.redis_rank_sum),
                "rank_sum_mongodb": formats.decimal(c.mongodb_rank_sum),
                "agree": c.ok,
            }
            for c in report.albums
        ],
        column_config={
            "band": texts.band,
            "album": texts.album,
            "votes_redis": texts.votes_redis,
            "votes_mongodb": texts.votes_mongodb,
            "rank_sum_redis": texts.rank_sum_redis,
            "rank_sum_mongodb": texts.rank_sum_mongodb,
            "agree": texts.agrees,
        },
        hide_index=True,
    )
    st.subheader(texts.totals)
    st.dataframe(
        [
            {
                "counter": kind,
                "name": name,
                "redis": formats.count(c.redis),
                "mongodb": formats.count(c.mongodb),
                "agree": c.ok,
            }
            for c in report.totals
            for kind, name in [_counter(c)]
        ],
        column_config={
            "counter": texts.counter,
            "name": texts.name,
            "redis": texts.redis,
            "mongodb": texts.mongodb,
            "agree": texts.agrees,
        },
        hide_index=True,
    )


if "audit_report" in st.session_state:
    show(*st.session_state["audit_report"])
else:
    st.info(texts.press_run.format(run=texts.run))

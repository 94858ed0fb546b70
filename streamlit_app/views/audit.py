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
from certamen.results.audit import AUDIT_TIMEOUT_S, AuditReport, compare
from certamen.results.tally import read_standings
from streamlit_app import components, resources

settings = resources.settings()
catalog = resources.catalog()

st.title("Audit")
st.caption(
    "Recounts the vote log in MongoDB and sets every Redis counter beside it. "
    "Run it when votes are quiet: MongoDB is written first, so in-flight votes may show."
)

if st.button("Run the audit", type="primary", key="audit_run"):
    with components.reaching("Redis", settings.redis_url_redacted):
        standings = read_standings(resources.redis_client(), catalog)
        with components.reaching("MongoDB", settings.mongodb_uri_redacted):
            db = resources.mongo_database()
            db.command("ping")  # fail fast when MongoDB is away; the long timeout is for the work
            with pymongo.timeout(AUDIT_TIMEOUT_S):  # a big log takes FerretDB a while to group
                report = compare(standings, recount_votes(db), dead_letters=dead_letter_counts(db))
            st.session_state["audit_report"] = (datetime.now(UTC), report)


def show(when: datetime, report: AuditReport) -> None:
    """The verdict, then every counter with its two values."""
    stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    if report.ok:
        st.success(f"**Redis and MongoDB agree** on every counter (audit of {stamp}).")
    else:
        st.error(f"**{report.differences} counter(s) differ** between Redis and MongoDB ({stamp}).")
    total = next(t for t in report.totals if t.counter == "total")
    first, second, third = st.columns(3)
    first.metric("Votes in Redis", total.redis)
    second.metric("Votes in MongoDB", total.mongodb)
    third.metric("Differences", report.differences)
    st.subheader("Albums")
    st.dataframe(
        [
            {
                "band": c.band,
                "album": c.album,
                "votes (Redis)": c.redis_votes,
                "votes (MongoDB)": c.mongodb_votes,
                "rank sum (Redis)": c.redis_rank_sum,
                "rank sum (MongoDB)": c.mongodb_rank_sum,
                "agree": c.ok,
            }
            for c in report.albums
        ],
        hide_index=True,
    )
    st.subheader("Bands, channels, total, dead letters")
    st.dataframe(
        [
            {
                "counter": c.counter,
                "name": c.label,
                "Redis": c.redis,
                "MongoDB": c.mongodb,
                "agree": c.ok,
            }
            for c in report.totals
        ],
        hide_index=True,
    )


if "audit_report" in st.session_state:
    show(*st.session_state["audit_report"])
else:
    st.info("Press **Run the audit** to compare the two stores now.")

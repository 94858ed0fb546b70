"""The audit's recount of the vote log, against a real MongoDB-protocol server.

The recount reads the log in batches (``RECOUNT_BATCH`` votes at a time), so a log
longer than two batches shows that every batch is read, that progress is told as it
goes, and that rank sums come out exact to the cent however many votes add up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from certamen.adapters.mongo_store import (
    RECOUNT_BATCH,
    VOTES,
    make_mongo,
    recount_votes,
    vote_database,
)
from certamen.consumer.documents import vote_document
from certamen.settings import Settings
from tests.support.tally_fill import example_catalog, sample_votes

pytestmark = pytest.mark.integration

# Ranks whose float sums drift: ten thousand 0.1s add up to 1000.0000000001588.
RANKS = (0.1, 0.2, 9.95, 72.25, 100, 0)


def test_the_recount_reads_every_batch_tells_progress_and_sums_ranks_to_the_cent(
    store_contest: Settings,
) -> None:
    size = 2 * RECOUNT_BATCH + 500
    votes = [
        replace(vote, rank=RANKS[i % len(RANKS)])
        for i, vote in enumerate(sample_votes(example_catalog(), size))
    ]
    expected_votes: Counter[tuple[str, str, str]] = Counter()
    expected_hundredths: Counter[tuple[str, str, str]] = Counter()
    for vote in votes:
        key = (vote.name, vote.album, vote.channel)
        expected_votes[key] += 1
        expected_hundredths[key] += round(vote.rank * 100)
    mongo = make_mongo(store_contest)
    try:
        db = vote_database(mongo, store_contest)
        now = datetime.now(UTC)
        db[VOTES].insert_many([vote_document(v, processed_at=now) for v in votes])
        told: list[int] = []
        groups = recount_votes(db, told.append)
    finally:
        mongo.close()

    assert told == [RECOUNT_BATCH, 2 * RECOUNT_BATCH, size]
    assert {(g.band, g.album, g.channel): g.votes for g in groups} == dict(expected_votes)
    assert {(g.band, g.album, g.channel): g.rank_sum for g in groups} == {
        key: hundredths / 100 for key, hundredths in expected_hundredths.items()
    }


def test_the_recount_of_an_empty_log_is_empty_and_says_so(store_contest: Settings) -> None:
    mongo = make_mongo(store_contest)
    try:
        told: list[int] = []
        groups = recount_votes(vote_database(mongo, store_contest), told.append)
    finally:
        mongo.close()
    assert (groups, told) == ([], [0])

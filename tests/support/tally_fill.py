"""Votes counted into a test's Redis and MongoDB with the consumer's own write code.

The read side (tally, Streamlit, Grafana queries) is checked against what the
write side really stores, so these helpers go through the consumer's adapters
(``TallyWriter`` for the counters, ``VoteLog`` for the documents), never around them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo.database import Database

from certamen.adapters.mongo_store import VoteLog, ensure_indexes, make_mongo, vote_database
from certamen.adapters.redis_store import TallyWriter, make_redis
from certamen.contract import CHANNELS, Catalog, Vote, load_catalog, new_vote_id
from certamen.settings import Settings

CATALOG_PATH = Path(__file__).resolve().parents[2] / "load" / "data" / "catalog.yaml"


@pytest.fixture
def store_contest(infra: Settings) -> Iterator[Settings]:
    """Like ``contest`` without Kafka topics: a new MongoDB database and an empty Redis db.

    The read side needs only Redis and MongoDB; creating no topics keeps these tests fast.
    """
    isolated = replace(infra, mongodb_database=f"certamen_read_{uuid.uuid4().hex[:10]}")
    client = redis.Redis.from_url(isolated.redis_url)
    client.flushdb()
    yield isolated
    client.flushdb()
    client.close()
    mongo = make_mongo(isolated)
    mongo.drop_database(isolated.mongodb_database)
    mongo.close()


def example_catalog() -> Catalog:
    """The catalog under load/data, the one the demo uses."""
    return load_catalog(CATALOG_PATH, year_now=datetime.now(UTC).year)


def sample_votes(
    catalog: Catalog, count: int, *, seed: int = 7, start: datetime | None = None
) -> list[Vote]:
    """``count`` votes for a few of the catalog's candidates (not all: zero rows must show)."""
    chooser = random.Random(seed)
    voted = catalog.candidates[: max(1, len(catalog.candidates) - 3)]
    first = start or datetime.now(UTC) - timedelta(minutes=30)
    votes = []
    for i in range(count):
        candidate = chooser.choice(voted)
        votes.append(
            Vote(
                vote_id=new_vote_id(),
                name=candidate.band,
                album=candidate.album,
                year=candidate.year,
                rank=chooser.choice([1, 9.5, 50, 72.25, 100]),
                channel=CHANNELS[i % len(CHANNELS)],
                received_at=(first + timedelta(seconds=7 * i)).strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{i % 1000:03d}Z",
            )
        )
    return votes


@dataclass
class Pipeline:
    """The consumer's writers bound to one test contest."""

    redis: redis.Redis
    db: Database[dict[str, Any]]
    tally: TallyWriter
    log: VoteLog

    def count(self, votes: Sequence[Vote]) -> None:
        """Store and count each vote the way the consumer does: log first, then the tally."""
        for offset, vote in enumerate(votes):
            document = {
                "_id": vote.vote_id,
                **vote.to_dict(),
                "processed_at": datetime.now(UTC),
                "partition": offset % 6,
                "offset": offset,
            }
            stored = self.log.insert_vote(document)
            self.tally.count_vote(vote if stored is None else Vote.from_mapping(_canonical(stored)))

    def dead_letter(self, letter_id: str, field: str, rule: str, raw: object) -> None:
        """Record one poison event the way the consumer does."""
        self.log.insert_dead_letter(
            {
                "_id": letter_id,
                "reason": {"field": field, "rule": rule, "message": f"{field} broke {rule}"},
                "raw": raw,
                "failed_at": datetime.now(UTC),
            }
        )
        self.tally.count_dead_letter(letter_id, rule)


@contextmanager
def pipeline(settings: Settings, catalog: Catalog | None = None) -> Iterator[Pipeline]:
    """The writers for ``settings``' Redis and MongoDB; a catalog seeds its zero counters."""
    client = make_redis(settings)
    mongo = make_mongo(settings)
    db = vote_database(mongo, settings)
    ensure_indexes(db)
    tally = TallyWriter(client)
    if catalog is not None:
        tally.seed_candidates(catalog)
    try:
        yield Pipeline(redis=client, db=db, tally=tally, log=VoteLog(db))
    finally:
        client.close()
        mongo.close()


def _canonical(document: dict[str, Any]) -> dict[str, Any]:
    return {key: document[key] for key in Vote.__slots__}

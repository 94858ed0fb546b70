"""Votes counted into a test's Redis and MongoDB by the consumer's own code.

The read side (tally, Streamlit, Grafana queries) is checked against what the
write side really stores, so these helpers hand CloudEvents to the consumer's
``Handler`` (opened by ``open_stores``, as the function does), never around it.
"""

from __future__ import annotations

import asyncio
import random
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from cloudevents.http import CloudEvent
from pymongo.database import Database

from certamen.adapters.mongo_store import make_mongo, vote_database
from certamen.consumer.startup import Stores, open_stores
from certamen.contract import CHANNELS, Catalog, Vote, load_catalog, new_vote_id, vote_event
from certamen.operations.votefiles import EXAMPLE_CATALOG
from certamen.settings import Settings
from tests.support.own_stores import empty_redis

CATALOG_PATH = EXAMPLE_CATALOG


@pytest.fixture
def store_contest(infra: Settings) -> Iterator[Settings]:
    """Like ``contest`` without Kafka topics: a new MongoDB database and an empty Redis db.

    The read side needs only Redis and MongoDB; creating no topics keeps these tests fast.
    """
    isolated = replace(infra, mongodb_database=f"certamen_read_{uuid.uuid4().hex[:10]}")
    client = redis.Redis.from_url(isolated.redis_url)
    empty_redis(client)
    yield isolated
    empty_redis(client)
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
    """The consumer's handler and stores, bound to one test contest."""

    redis: redis.Redis
    db: Database[dict[str, Any]]
    stores: Stores

    def count(self, votes: Sequence[Vote]) -> None:
        """Deliver each vote's CloudEvent to the consumer's handler, as the function does."""
        for vote in votes:
            self._deliver(vote_event(vote).get_attributes(), vote.to_dict())

    def poison(self, event_id: str, **overrides: object) -> None:
        """Deliver a vote event whose vote breaks a rule (``rank=101``, ``name="Nadie"``)."""
        vote = sample_votes(example_catalog(), 1, seed=zlib.crc32(event_id.encode()))[0]
        event = vote_event(replace(vote, vote_id=event_id))
        self._deliver(event.get_attributes(), {**vote.to_dict(), "vote_id": event_id, **overrides})

    def _deliver(self, attributes: Mapping[str, Any], data: dict[str, Any]) -> None:
        """As functions-framework hands it over: the SDK's event with the JSON data decoded."""
        event = CloudEvent(dict(attributes), data)
        asyncio.run(self.stores.handler.handle(event))


@contextmanager
def pipeline(settings: Settings, *, closed_contest: bool = True) -> Iterator[Pipeline]:
    """The consumer's stores for ``settings``; a closed contest uses the example catalog.

    As at the consumer's start: indexes are made and the catalog's zero counters seeded.
    """
    if closed_contest:
        settings = replace(settings, catalog_path=CATALOG_PATH)
    stores = open_stores(settings, prepare=True)
    try:
        yield Pipeline(
            redis=stores.redis,
            db=vote_database(stores.mongo, settings),
            stores=stores,
        )
    finally:
        stores.close()

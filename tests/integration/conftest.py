"""Fixtures several integration test modules share (servers and ``contest``: tests/conftest.py).

- ``pipeline``: a contest with its own consumer group for the local source (a module
  that needs other source options defines its own ``pipeline``).
- ``store``: a Redis client on that contest's database.
- ``store_contest``: the read side's contest (Redis and MongoDB, no topics), from
  :mod:`tests.support.tally_fill`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from certamen.settings import Settings
from tests.support.pipeline import isolated
from tests.support.tally_fill import store_contest

__all__ = ["store_contest"]  # the fixture, imported for pytest


@pytest.fixture
def pipeline(contest: Settings) -> Settings:
    return isolated(contest)


@pytest.fixture
def store(pipeline: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(pipeline.redis_url)
    yield client
    client.close()

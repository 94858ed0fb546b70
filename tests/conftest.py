"""Shared fixtures: real servers, started once per session, and an isolated contest per test.

Integration tests talk to real Kafka, Redis and a MongoDB-protocol server. The
``infra`` fixture makes sure they run (starting them with the same code as
``certamen up`` when they do not); ``contest`` gives a test its own topics,
MongoDB database and an empty Redis database, so tests never see each other's votes.

Redis: the tests use database 15 (:data:`TEST_REDIS_DB`) unless ``REDIS_URL`` names
another one than 0. Database 0 holds the live tally of ``certamen up`` (the demo,
Streamlit), which ``contest`` would otherwise flush while MongoDB's ``certamen``
database keeps its votes: ``certamen audit`` would then report every vote missing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from certamen.settings import Settings, load, redis_db, with_redis_db

TEST_REDIS_DB = 15
_moved: list[Path] = []  # the state folder of a session moved off another checkout's stack


def pytest_configure(config: pytest.Config) -> None:
    """Beside another checkout's stack, the session runs servers of its own elsewhere."""
    try:
        from tests.support import beside
    except ImportError:  # the ballot tests' own venv of another Python: it runs no servers
        return
    if beside.foreign_ports(os.environ):
        _moved.append(beside.move_off(os.environ))
        print(f"\nthe default ports are another checkout's: this session's stack is in {_moved[0]}")


def pytest_unconfigure(config: pytest.Config) -> None:
    for state in _moved:
        from tests.support import beside

        beside.stop_moved(state)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The settings of the test session, from the environment like any process, with
    a Redis database of the tests' own (never the live stack's database 0)."""
    loaded = load()
    if redis_db(loaded.redis_url) != 0:
        return loaded
    return replace(loaded, redis_url=with_redis_db(loaded.redis_url, TEST_REDIS_DB))


@pytest.fixture(scope="session")
def infra(settings: Settings) -> Settings:
    """Kafka, Redis and the MongoDB-protocol server, running and reachable.

    External servers (their variable set) are only checked; the others are started
    with the same code as ``certamen up`` when they are not running yet.
    """
    from certamen.operations.stack import runner
    from certamen.operations.stack.console import make_console
    from certamen.operations.stack.parts import SERVERS

    runner.start(settings, SERVERS, make_console(stderr=True))
    return settings


@pytest.fixture
def contest(infra: Settings) -> Iterator[Settings]:
    """Settings for a fresh contest: new topics, a new MongoDB database, an empty Redis db."""
    import redis
    from pymongo import MongoClient

    from certamen.adapters.kafka import contest_topics, ensure_topics, make_admin

    suffix = uuid.uuid4().hex[:10]
    isolated = replace(
        infra,
        votes_topic=f"votes-{suffix}",
        dlq_topic=f"votes-dlq-{suffix}",
        mongodb_database=f"certamen_{suffix}",
    )
    admin = make_admin(isolated)
    try:
        ensure_topics(admin, contest_topics(isolated))
    finally:
        admin.close()
    store = redis.Redis.from_url(isolated.redis_url)
    store.flushdb()
    yield isolated
    store.flushdb()
    store.close()
    mongo: MongoClient[dict[str, object]] = MongoClient(isolated.mongodb_uri)
    mongo.drop_database(isolated.mongodb_database)
    mongo.close()

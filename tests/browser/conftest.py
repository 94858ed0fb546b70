"""The browser tests' Chromium and contest: one of each per module, closed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from selenium import webdriver

from certamen.adapters.mongo_store import make_mongo
from certamen.settings import Settings
from tests.browser.chromium import headless_chromium
from tests.support.own_stores import empty_redis
from tests.support.tally_fill import Pipeline, example_catalog, pipeline, sample_votes


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium, shared by a module's tests."""
    with headless_chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser_contest(infra: Settings) -> Iterator[Pipeline]:
    """A contest with 45 votes and a dead letter, for the whole module."""
    isolated = replace(infra, mongodb_database=f"certamen_browser_{uuid.uuid4().hex[:10]}")
    store = redis.Redis.from_url(isolated.redis_url)
    empty_redis(store)
    catalog = example_catalog()
    try:
        with pipeline(isolated) as pipe:
            pipe.count(sample_votes(catalog, 45))
            pipe.poison("letter-1", rank=101)
            yield pipe
    finally:
        empty_redis(store)
        store.close()
        mongo = make_mongo(isolated)
        mongo.drop_database(isolated.mongodb_database)
        mongo.close()

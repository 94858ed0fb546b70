"""Which Redis database a URL names, and the same URL with another: the tests' own
database (tests/conftest.py) and the benchmarks' are chosen with these."""

from __future__ import annotations

import pytest

from certamen.settings import Settings, redis_db, with_redis_db


@pytest.mark.parametrize(
    ("url", "db"),
    [
        ("redis://127.0.0.1:6379/0", 0),
        ("redis://127.0.0.1:6379/7", 7),
        ("redis://127.0.0.1:6379", 0),
        ("redis://127.0.0.1:6379/", 0),
        ("rediss://:s3cret@cache.example:6380/12", 12),
        ("unix:///run/redis.sock?db=4", 4),
        ("unix:///run/redis.sock", 0),
    ],
)
def test_the_database_a_url_names(url: str, db: int) -> None:
    assert redis_db(url) == db


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/15"),
        ("rediss://:s3cret@cache.example:6380/3", "rediss://:s3cret@cache.example:6380/15"),
        (
            "redis://127.0.0.1:6379/0?socket_timeout=2",
            "redis://127.0.0.1:6379/15?socket_timeout=2",
        ),
        ("unix:///run/redis.sock", "unix:///run/redis.sock?db=15"),
        ("unix:///run/redis.sock?db=0&password=x", "unix:///run/redis.sock?password=x&db=15"),
    ],
)
def test_another_database_on_the_same_server(url: str, expected: str) -> None:
    assert with_redis_db(url, 15) == expected


def test_the_tests_never_use_the_live_tallys_database(settings: Settings) -> None:
    """Database 0 is ``certamen up``'s: the ``contest`` fixture flushes the tests' database."""
    assert redis_db(settings.redis_url) != 0

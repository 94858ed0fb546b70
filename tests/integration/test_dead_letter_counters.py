"""The dead-letter counters in Redis, letter by letter: each change once, whatever the order.

Real Redis: the consumer's count, a replay that puts a letter right, one that
finds it breaking another rule, each run twice; a letter the consumer stored but
had not counted yet (it stopped between MongoDB and Redis); a letter counted
under the marker used before the state hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import redis

from certamen.adapters import redis_keys as keys
from certamen.adapters.redis_store import TallyWriter
from certamen.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def client(contest: Settings) -> Iterator[redis.Redis]:
    store = redis.Redis.from_url(contest.redis_url, decode_responses=True)
    yield store
    store.close()


def _counters(client: redis.Redis) -> tuple[int, dict[str, int], int]:
    reasons = {rule: int(n) for rule, n in client.hgetall(keys.DEAD_LETTERS_BY_REASON).items()}
    open_letters = int(client.get(keys.DEAD_LETTERS) or 0)
    return open_letters, reasons, int(client.get(keys.DEAD_LETTERS_REPLAYED) or 0)


def test_count_move_and_resolve_each_happen_once(client: redis.Redis) -> None:
    tally = TallyWriter(client)
    assert [tally.count_dead_letter("a", "not_in_catalog") for _ in range(2)] == [True, False]
    assert [tally.count_dead_letter("b", "json") for _ in range(2)] == [True, False]
    assert _counters(client) == (2, {"not_in_catalog": 1, "json": 1}, 0)

    assert tally.reclassify_dead_letter("a", "not_in_catalog", "not_in_catalog") is False
    assert [tally.reclassify_dead_letter("a", "not_in_catalog", "year") for _ in range(2)] == [
        True,
        False,
    ]
    assert _counters(client) == (2, {"not_in_catalog": 0, "json": 1, "year": 1}, 0)

    assert [tally.resolve_dead_letter("a", "year") for _ in range(2)] == [True, False]
    assert _counters(client) == (1, {"not_in_catalog": 0, "json": 1, "year": 0}, 1)
    # A redelivery of the letter's event after it was put right changes nothing.
    assert tally.count_dead_letter("a", "not_in_catalog") is False
    assert tally.reclassify_dead_letter("a", "year", "range") is False
    assert _counters(client) == (1, {"not_in_catalog": 0, "json": 1, "year": 0}, 1)


def test_a_letter_the_consumer_had_not_counted_yet(client: redis.Redis) -> None:
    tally = TallyWriter(client)
    assert tally.resolve_dead_letter("never-counted", "json") is True
    assert _counters(client) == (0, {}, 1)  # nothing to take back
    assert tally.count_dead_letter("never-counted", "json") is False  # the late count
    assert _counters(client) == (0, {}, 1)

    assert tally.reclassify_dead_letter("stored-only", "unknown_type", "format") is True
    assert _counters(client) == (1, {"format": 1}, 1)  # counted now, under its new rule
    assert tally.count_dead_letter("stored-only", "unknown_type") is False
    assert _counters(client) == (1, {"format": 1}, 1)


def test_a_letter_counted_under_the_old_marker(client: redis.Redis) -> None:
    old = keys.DEAD_LETTER_MARKER_PREFIX + hashlib.sha1(b"old").hexdigest()
    client.set(old, "1", ex=3600)  # as the consumer counted letters before the state hash
    client.incr(keys.DEAD_LETTERS)
    client.hincrby(keys.DEAD_LETTERS_BY_REASON, "range", 1)
    tally = TallyWriter(client)
    assert tally.count_dead_letter("old", "range") is False  # redelivered: not counted twice
    assert _counters(client) == (1, {"range": 1}, 0)
    assert tally.resolve_dead_letter("old", "range") is True
    assert _counters(client) == (0, {"range": 0}, 1)

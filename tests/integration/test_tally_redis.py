"""The tally read back from the counters the consumer's code wrote, against MongoDB's log."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
import redis

from certamen.adapters import redis_keys as keys
from certamen.contract import CHANNELS, album_key
from certamen.results.tally import read_rate, read_standings
from certamen.settings import Settings
from tests.support.tally_fill import example_catalog, pipeline, sample_votes

pytestmark = pytest.mark.integration


def test_standings_equal_the_vote_log(store_contest: Settings) -> None:
    catalog = example_catalog()
    votes = sample_votes(catalog, 60)
    with pipeline(store_contest) as pipe:
        pipe.count(votes)
        pipe.count(votes[:5])  # redelivered: counted once
        pipe.poison("letter-1", rank=101)
        standings = read_standings(pipe.redis, catalog)
        logged = list(pipe.db["votes"].find())

    assert standings.total == len(logged) == 60
    per_band = {band: 0 for band in catalog.bands} | Counter(d["name"] for d in logged)
    assert standings.by_band == per_band  # every catalog band, voted or not
    assert list(standings.by_band.values()) == sorted(per_band.values(), reverse=True)
    sums: dict[str, float] = defaultdict(float)
    for d in logged:
        sums[album_key(d["name"], d["album"])] += d["rank"]
    per_album = Counter(album_key(d["name"], d["album"]) for d in logged)
    assert len(standings.by_album) == len(catalog.candidates)  # every candidate, voted or not
    for row in standings.by_album:
        assert row.votes == per_album.get(row.key, 0)
        assert row.rank_sum == pytest.approx(sums.get(row.key, 0.0))
    assert [r.votes for r in standings.by_album] == sorted(
        (r.votes for r in standings.by_album), reverse=True
    )
    assert standings.by_channel == {c: sum(d["channel"] == c for d in logged) for c in CHANNELS}
    assert standings.dead_letters == 1
    assert standings.dead_letters_by_reason == {"range": 1}


def test_an_empty_open_contest_reads_as_zeros(store_contest: Settings) -> None:
    client = redis.Redis.from_url(store_contest.redis_url)
    standings = read_standings(client)
    assert standings.total == 0
    assert standings.by_band == {}
    assert standings.by_album == []
    assert standings.by_channel == {"grpc": 0, "wasm": 0, "legacy": 0}


def test_rate_lists_every_second_of_the_window(store_contest: Settings) -> None:
    client = redis.Redis.from_url(store_contest.redis_url)
    now = int(datetime.now(UTC).timestamp())
    client.hset(keys.PER_SECOND, mapping={str(now - 2): 7, str(now): 3, str(now - 100): 9})
    assert read_rate(client, seconds=5, now=now) == [
        (now - 4, 0),
        (now - 3, 0),
        (now - 2, 7),
        (now - 1, 0),
        (now, 3),
    ]
    with pytest.raises(ValueError):
        read_rate(client, seconds=0)

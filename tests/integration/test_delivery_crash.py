"""SIGKILL of the consumer, then of the source, in the middle of a 20,000-vote stream.

Each is restarted; the killed consumer's requests are retried by the source, the
killed source's uncommitted records are delivered again by its successor. The
totals come out exact and the audit passes.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from pathlib import Path

import pytest
import redis

from certamen.contract import album_key
from certamen.results.audit import audit
from certamen.results.tally import read_standings
from certamen.settings import Settings
from tests.support.pipeline import (
    consumer,
    counted,
    free_port,
    isolated,
    make_votes,
    produce,
    source,
    vote_documents,
    wait_counted,
)

pytestmark = pytest.mark.integration

VOTES = 20_000


def test_killing_consumer_then_source_mid_stream_loses_and_doubles_nothing(
    contest: Settings, tmp_path: Path
) -> None:
    settings = isolated(contest)
    store = redis.Redis.from_url(settings.redis_url)
    votes = make_votes(VOTES, seed=11)
    consumer_port, status_port = free_port(), free_port()
    the_consumer = consumer(settings, consumer_port, tmp_path)
    sink = f"http://127.0.0.1:{consumer_port}"
    sources = [source(settings, sink, status_port, tmp_path)]
    producing = threading.Thread(target=produce, args=(settings, votes))
    try:
        the_consumer.start()
        sources[0].start()
        producing.start()

        wait_counted(store, 3_000, timeout_s=120)
        assert the_consumer.kill(signal.SIGKILL) == -signal.SIGKILL
        killed_at = counted(store)
        the_consumer.start()

        wait_counted(store, killed_at + 5_000, timeout_s=120)
        assert sources[0].kill(signal.SIGKILL) == -signal.SIGKILL
        sources.append(source(settings, sink, status_port, tmp_path).start())

        producing.join(timeout=120)
        wait_counted(store, VOTES, timeout_s=240)
        standings = read_standings(store)
    finally:
        producing.join(timeout=120)
        for service in (*reversed(sources), the_consumer):
            service.stop()
        store.close()

    assert standings.total == VOTES
    assert vote_documents(settings) == VOTES
    expected = Counter(album_key(v.name, v.album) for v in votes)
    assert {s.key: s.votes for s in standings.by_album} == expected
    assert standings.dead_letters == 0
    report = audit(settings)
    assert report.ok, report.to_dict()

"""Kafka going away and coming back under the local source: it keeps running, then
delivers what was written meanwhile and commits again; nothing lost, nothing sent twice.

This test runs its own Kafka (the stack's code, ``certamen up kafka``'s path) on free
ports of 17700-17799, and stops it: the shared development Kafka is never touched.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from certamen.adapters.kafka import contest_topics, ensure_topics, make_admin
from certamen.settings import Settings
from tests.support.own_kafka import running_kafka, start_kafka, stop_kafka
from tests.support.pipeline import free_port, isolated, source, source_status, wait_until
from tests.support.source_harness import SinkDouble, committed_offsets, produce_events

pytestmark = pytest.mark.integration

PORTS = range(17700, 17800)


@pytest.fixture
def own_kafka(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A Kafka of this test's own with the contest's topics, and the source's own group."""
    with running_kafka(settings, tmp_path / "state", PORTS) as own:
        admin = make_admin(own)
        try:
            ensure_topics(admin, contest_topics(own))
        finally:
            admin.close()
        yield isolated(own)


@pytest.fixture
def sink() -> Iterator[SinkDouble]:
    double = SinkDouble()
    yield double
    double.close()


def test_the_source_rides_out_kafka_going_away_and_coming_back(
    own_kafka: Settings, sink: SinkDouble, tmp_path: Path
) -> None:
    before = [f"ok-before-{n}" for n in range(100)]
    after = [f"ok-after-{n}" for n in range(100)]
    produce_events(own_kafka, before)
    port = free_port()
    service = source(own_kafka, sink.url, port, tmp_path).start()
    try:
        wait_until(lambda: source_status(port)["delivered"] == 100, 60, "the first 100 records")
        wait_until(lambda: sum(committed_offsets(own_kafka).values()) == 100, 30, "commit 100")

        stop_kafka(own_kafka)
        time.sleep(5)
        assert service.process is not None and service.process.poll() is None  # still running
        assert source_status(port)["delivered"] == 100

        start_kafka(own_kafka)
        produce_events(own_kafka, after)
        wait_until(lambda: source_status(port)["delivered"] == 200, 120, "the 100 written after")
        wait_until(lambda: sum(committed_offsets(own_kafka).values()) == 200, 60, "commit 200")
        wait_until(lambda: source_status(port)["lag"] == 0, 30, "the lag to be 0")
        assert service.kill(signal.SIGTERM) == 0
    finally:
        service.stop()
    assert sink.attempts == dict.fromkeys(before + after, 1)

    # The outage is said, not shouted: each kind of warning (offsets, commits, fetching,
    # librdkafka's reconnects) at most once in these few seconds, however often it failed.
    lines = [json.loads(line) for line in service.log.read_text(encoding="utf-8").splitlines()]
    warned = Counter(
        line["message"].split(" (")[0] for line in lines if line["level"] in ("warning", "error")
    )
    assert all(times == 1 for times in warned.values()), warned

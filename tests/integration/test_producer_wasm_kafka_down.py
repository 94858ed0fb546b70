"""Kafka going away and coming back, with producer-wasm running: never 2xx, then recovery.

This test runs its own Kafka (the stack's code, ``certamen up kafka``'s path) on
free ports of 15000-15499, and stops it: the shared development Kafka is never touched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from certamen.settings import Settings
from tests.integration.producer_wasm_harness import PORTS, read_topic, wasm_server
from tests.support.own_kafka import running_kafka, start_kafka, stop_kafka

pytestmark = pytest.mark.integration

GOOD = {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}
KAFKA_TIMEOUT_S = 3.0  # CERTAMEN_KAFKA_TIMEOUT of the server under test


@pytest.fixture
def own_kafka(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A Kafka of this test's own, on ports of this suite's range."""
    with running_kafka(settings, tmp_path / "state", PORTS) as own:
        yield own


def test_kafka_stopped_means_503_and_not_ready_then_recovery(
    own_kafka: Settings, tmp_path: Path
) -> None:
    with wasm_server(own_kafka, tmp_path) as server:
        before = server.vote(GOOD)
        assert before.status == 202

        stop_kafka(own_kafka)

        # A burst right after: never 2xx. Until the probe notices, a vote handed to Kafka's
        # client ends when the client gives up on it (504, outcome unknown); once Kafka is
        # known to be away, 503 at once (not taken). None waits past the Kafka timeout.
        def timed(key: str) -> tuple[int, float, Any]:
            started = time.monotonic()
            answer = server.vote(GOOD, key=key)
            return answer.status, time.monotonic() - started, answer.json()

        keys = [f"burst-{n:04d}" for n in range(32)]
        with ThreadPoolExecutor(len(keys)) as pool:
            burst = list(pool.map(timed, keys))
        assert {status for status, _, _ in burst} <= {503, 504}
        assert [document["vote_id"] for _, _, document in burst] == keys
        rules = {503: "unavailable", 504: "unknown_outcome"}
        assert all(document["error"]["rule"] == rules[status] for status, _, document in burst)
        assert max(seconds for _, seconds, _ in burst) < KAFKA_TIMEOUT_S + 2.5

        # Then every answer is 503 with Retry-After and the id to retry with, at once.
        server.wait_ready(False, within_s=10.0)
        for attempt in range(4):
            key = f"while-down-{attempt:04d}"
            started = time.monotonic()
            answer = server.vote(GOOD, key=key)
            seconds = time.monotonic() - started
            assert answer.status == 503, answer.body
            assert answer.headers["retry-after"] == "1"
            assert answer.json()["vote_id"] == key
            assert answer.json()["error"]["rule"] == "unavailable"
            assert seconds < 0.5
        started = time.monotonic()
        assert server.vote(GOOD).status == 503
        assert time.monotonic() - started < 0.5  # known down: no waiting
        assert server.request("GET", "/healthz").status == 200  # alive all along

        start_kafka(own_kafka)

        server.wait_ready(True, within_s=60.0)
        retried = server.vote(GOOD, key="while-down-0000")
        assert (retried.status, retried.json()["vote_id"]) == (202, "while-down-0000")
        assert server.process.poll() is None  # recovered without a restart

    on_topic = {r.headers["ce_id"].decode() for r in read_topic(own_kafka)}
    assert {before.json()["vote_id"], "while-down-0000"} <= on_topic

    # The outage is said, not shouted: the change of readiness once each way, and
    # librdkafka's reconnect failures (2-3 a second per client) once per client and kind.
    lines = [json.loads(line) for line in server.log.read_text(encoding="utf-8").splitlines()]
    messages = [line["message"] for line in lines]
    assert messages.count("kafka unreachable") == 1
    assert messages.count("kafka reachable") == 2  # at start, and after the outage
    librdkafka = [line["message"] for line in lines if line["logger"] == "kafka.librdkafka"]
    kinds = {tuple(message.split(" ", 2)[:2]) for message in librdkafka}
    assert len(librdkafka) <= 2 * len(kinds), "\n".join(librdkafka)

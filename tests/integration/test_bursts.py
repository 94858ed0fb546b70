"""Bursts at the ingress, each route, real Kafka, Redis and FerretDB (issue 13).

- A burst of clients that open a new connection for every vote, more of them at once
  than grpcio's old limit of 512 calls, than the 3,000 calls gRPC's core holds for its
  handlers by default, and than producer-wasm's listen backlog, is taken whole and
  counted once. The burst arrives while the producer gets no CPU (SIGSTOP, then SIGCONT
  once the kernel holds all the connections it can for it): that is what a busy machine
  does to it, and it puts the burst in the producer at the same moment, whatever the
  machine's speed.
- A vote whose deadline cannot be met is refused with UNAVAILABLE / 503 and Retry-After
  before it is handed to Kafka, so it is never counted. Kafka is made slow by stopping
  its process (SIGSTOP) for a moment: votes wait for it, and a call with a deadline
  shorter than that wait is refused.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from certamen.producers.wasm import server as wasm_server
from certamen.settings import Settings
from load import newconn
from tests.integration.burst_harness import (
    ROUTES,
    counted_ids,
    established,
    producer,
    redis_markers,
    signal_kafka,
)
from tests.integration.producer_wasm_harness import PORTS, read_topic
from tests.support.own_kafka import running_kafka
from tests.support.pipeline import counted, counting, wait_counted, wait_until

pytestmark = pytest.mark.integration

# Votes at once, well over grpcio's old 512-call limit and over the 3,000 calls past which
# gRPC's core, left to its defaults, cancels every call no handler has taken yet
# (grpc.aio takes them one at a time, so a burst that arrives at a stopped or busy
# producer waits there), and over producer-wasm's listen backlog before it was 4,096.
BURST = 3200
# Connections a stopped producer's kernel holds (grpcio listens with the machine's
# somaxconn); a burst past them waits in the handshake until the producer runs again.
QUEUED = {"grpc": BURST, "http": min(BURST, wasm_server.BACKLOG)}


@pytest.mark.parametrize("route", ROUTES)
def test_a_connection_per_vote_burst_over_512_calls_is_taken_whole_and_counted_once(
    route: str, pipeline: Settings, store: redis.Redis, tmp_path: Path
) -> None:
    settings = pipeline
    run_id = f"burst-{route}"
    with counting(settings, tmp_path), producer(route, settings, tmp_path) as running:
        plan = running.plan(run_id, votes=BURST, in_flight=BURST, processes=2)
        ledgers: list[newconn.Ledger] = []
        running.process.send_signal(signal.SIGSTOP)
        try:
            sender = threading.Thread(target=lambda: ledgers.append(newconn.run(plan)))
            sender.start()
            wait_until(
                lambda: established(running.port) >= QUEUED[route],
                60,
                f"{QUEUED[route]} connections queued at the stopped producer",
            )
        finally:
            running.process.send_signal(signal.SIGCONT)
        sender.join(timeout=120)
        assert ledgers, "the burst did not finish"
        (ledger,) = ledgers
        answers = {vote.detail for vote in ledger.votes if vote.outcome != "accepted"}
        assert ledger.counts()["accepted"] == BURST, answers

        wait_counted(store, BURST, timeout_s=120)
        time.sleep(1.0)  # a late duplicate would show by now
        ids = counted_ids(settings, f"{run_id}.")
        assert sorted(ids) == sorted(vote.key for vote in ledger.votes)
        assert counted(store) == BURST


@pytest.fixture
def own_kafka(pipeline: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A Kafka of this test's own (its process is stopped and continued)."""
    with running_kafka(pipeline, tmp_path / "state", PORTS) as own:
        yield own


@pytest.mark.parametrize("route", ROUTES)
def test_a_deadline_that_cannot_be_met_is_refused_before_kafka_and_never_counted(
    route: str, own_kafka: Settings, store: redis.Redis, tmp_path: Path
) -> None:
    with producer(route, own_kafka, tmp_path) as running:
        warm = newconn.run(running.plan("warm", votes=1, processes=1))
        assert warm.counts()["accepted"] == 1

        waiting: list[newconn.Ledger] = []
        signal_kafka(own_kafka, signal.SIGSTOP)
        try:
            # Votes without a deadline of their own wait for the stopped broker ...
            stalled = running.plan("stalled", votes=4, processes=1)
            sender = threading.Thread(target=lambda: waiting.append(newconn.run(stalled)))
            sender.start()
            time.sleep(1.5)
            # ... so a vote that must be answered within 0.5 s cannot be queued in time;
            # over HTTP (no deadline of its own: CERTAMEN_KAFKA_TIMEOUT, 3 s here) it is
            # refused once Kafka is known to be away.
            if route == "http":
                time.sleep(3.0)
            refused = newconn.run(running.plan("unmeetable", votes=1, processes=1,
                                               deadline_s=0.5))  # fmt: skip
        finally:
            signal_kafka(own_kafka, signal.SIGCONT)
        sender.join(timeout=60)
        (vote,) = refused.votes
        assert (vote.outcome, vote.detail.split()[0]) == (
            "refused",
            "UNAVAILABLE" if route == "grpc" else "503",
        ), vote
        assert vote.retry_after is not None and float(vote.retry_after) > 0

    on_topic = {record.headers["ce_id"].decode() for record in read_topic(own_kafka)}
    assert vote.key not in on_topic
    assert {v.key for v in warm.votes} <= on_topic
    assert not redis_markers(store, [vote.key])

"""The Kafka broker SIGKILLed while votes are in flight (issue 14, item 1): every answer true.

Sixteen clients vote with keys of their own, a new connection per vote, through one
producer; the broker (this test's own) is SIGKILLed in the middle and started again.
Then every vote whose outcome was unknown is sent again with its key, and the whole
topic is counted by a real source and consumer into Redis and FerretDB:

- a vote answered "not taken" (503 / UNAVAILABLE from the producer) is never counted;
- a vote answered 2xx / OK is counted once;
- a vote whose outcome was unknown (504 / DEADLINE_EXCEEDED, said so by the producer)
  counts exactly once after its retries (the retry may meet the first try on Kafka).

Before the fix the producer answered 503 after its own 5 s wait while librdkafka kept
the record for 120 s and delivered it once the broker was back: votes answered "not
taken" were counted.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
import redis

from certamen.settings import Settings
from load import newconn
from tests.integration.burst_harness import (
    ROUTES,
    counted_ids,
    producer,
    redis_markers,
    signal_kafka,
)
from tests.integration.producer_wasm_harness import PORTS
from tests.support.own_kafka import running_kafka, start_kafka
from tests.support.pipeline import counted, counting, source_status, wait_until

pytestmark = pytest.mark.integration

BEFORE_KILL_S = 2.0
OUTAGE_S = 6.0  # longer than the producers' CERTAMEN_KAFKA_TIMEOUT (3 s in the harness)
RETRIES = 5


@pytest.mark.parametrize("route", ROUTES)
def test_no_vote_answered_not_taken_is_counted_when_the_broker_is_killed(
    route: str, pipeline: Settings, store: redis.Redis, tmp_path: Path
) -> None:
    run_id = f"killed-{route}"
    with running_kafka(pipeline, tmp_path / "state", PORTS) as own:
        with producer(route, own, tmp_path) as running:
            ledgers: list[newconn.Ledger] = []
            plan = running.plan(run_id, seconds=BEFORE_KILL_S + OUTAGE_S, in_flight=8,
                                processes=2)  # fmt: skip
            sender = threading.Thread(target=lambda: ledgers.append(newconn.run(plan)))
            sender.start()
            time.sleep(BEFORE_KILL_S)
            signal_kafka(own, signal.SIGKILL)
            sender.join(timeout=120)
            start_kafka(own)
            (first,) = ledgers
            answers = first.by_outcome()
            assert answers["accepted"] and answers["refused"], first.counts()
            assert not answers["failed"] and not answers["rejected"], first.counts()

            # Each unknown outcome is sent again with its key until the producer takes it.
            unknown = {vote.key: vote.ballot for vote in answers["unknown"]}
            accepted = {vote.key for vote in answers["accepted"]}
            for _ in range(RETRIES):
                if not unknown:
                    break
                retry = running.plan(run_id, keyed=list(unknown.items()), processes=1)
                for vote in newconn.run(retry).votes:
                    if vote.outcome == "accepted":
                        accepted.add(vote.key)
                        del unknown[vote.key]
                time.sleep(1.0)
            assert not unknown, f"still no answer for {sorted(unknown)[:5]}"

        # Count the whole topic with the real delivery path.
        with counting(own, tmp_path) as status_port:
            _wait_delivered(store, status_port)
            ids = set(counted_ids(own, f"{run_id}."))

    refused = {vote.key for vote in answers["refused"]} - accepted
    assert not refused & ids, f"answered 'not taken' yet counted: {sorted(refused & ids)[:5]}"
    assert not redis_markers(store, sorted(refused))
    assert accepted <= ids, f"accepted yet not counted: {sorted(accepted - ids)[:5]}"
    assert ids <= accepted, f"counted without an acknowledgement: {sorted(ids - accepted)[:5]}"
    assert counted(store) == len(ids)  # each once


def _wait_delivered(store: redis.Redis, status_port: int, quiet_s: float = 3.0) -> None:
    """Until the source has no lag and the count has stood still for ``quiet_s``."""
    last, still_since = -1, time.monotonic()

    def done() -> bool:
        nonlocal last, still_since
        now = counted(store)
        if now != last:
            last, still_since = now, time.monotonic()
        quiet = time.monotonic() - still_since >= quiet_s
        return now > 0 and quiet and source_status(status_port)["lag"] == 0

    wait_until(done, 120, "the whole topic to be delivered")

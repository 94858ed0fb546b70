"""Redis stopped for several seconds mid-stream, then MongoDB: the consumer answers 503, the
source retries, and after recovery every vote is counted exactly once with no dead letter.

The test runs its own redis-server and FerretDB (built by the stack's own code) on
ports of 18000-18999, never touching the shared servers.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from certamen.adapters.kafka import make_producer
from certamen.contract import Vote
from certamen.operations.stack import builds, tools
from certamen.operations.stack.console import make_console
from certamen.results.audit import audit
from certamen.settings import Settings
from tests.support.pipeline import (
    Service,
    consumer,
    counted,
    counted_once_answering,
    free_port,
    isolated,
    make_votes,
    produce,
    server,
    source,
    source_status,
    vote_documents,
    wait_counted,
)

pytestmark = pytest.mark.integration

VOTES = 4_000
VOTES_PER_S = 200  # 20 s of stream: both outages fall inside it
OUTAGE_S = 4.0


def _redis_server(port: int, tmp_path: Path) -> Service:
    data = tmp_path / "redis"
    data.mkdir(exist_ok=True)
    command = [
        str(tools.ensure(["redis-server"], make_console(stderr=True))["redis-server"]),
        "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
        "--appendonly", "yes", "--appendfsync", "always", "--save", "",
    ]  # fmt: skip
    return server("redis", command, port, tmp_path)


def _ferretdb(settings: Settings, port: int, tmp_path: Path) -> Service:
    out = make_console(stderr=True)
    binary = builds.ferretdb_binary(settings, tools.ensure(["go"], out)["go"], out)
    command = [str(binary), f"--listen-addr=127.0.0.1:{port}", f"--data-dir={tmp_path / 'ferret'}"]
    return server("ferretdb", command, port, tmp_path)


def _failures(metrics_port: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    pattern = r'certamen_consumer_failures_total\{cause="(\w+)"\} ([0-9.e+]+)'
    return {cause: float(n) for cause, n in re.findall(pattern, text)}


def _retried_503(status_port: int) -> float:
    """Attempts the source saw answered 503 and retried (its ``/metrics``)."""
    url = f"http://127.0.0.1:{status_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    found = re.search(r'certamen_source_retries_total\{status="503"\} ([0-9.e+]+)', text)
    return float(found[1]) if found else 0.0


def _outage(service: Service, seconds: float) -> None:
    service.kill(signal.SIGTERM)
    time.sleep(seconds)
    service.start()


def _paced(settings: Settings, votes: list[Vote], per_second: int) -> None:
    """Votes keep arriving through both outages, as in a real stream."""
    producer = make_producer(settings)
    try:
        for start in range(0, len(votes), per_second // 10):
            began = time.monotonic()
            produce(settings, votes[start : start + per_second // 10], producer)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - began)))
    finally:
        producer.close()


def test_redis_then_mongodb_away_for_seconds_loses_nothing(
    contest: Settings, tmp_path: Path
) -> None:
    redis_port, mongo_port = free_port(), free_port()
    settings = replace(
        isolated(contest),
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        mongodb_uri=f"mongodb://127.0.0.1:{mongo_port}/",
    )
    redis_server = _redis_server(redis_port, tmp_path)
    ferretdb = _ferretdb(settings, mongo_port, tmp_path)
    consumer_port, status_port, metrics_port = free_port(), free_port(), free_port()
    the_consumer = consumer(settings, consumer_port, tmp_path, metrics_port)
    the_source = source(settings, f"http://127.0.0.1:{consumer_port}", status_port, tmp_path)
    votes = make_votes(VOTES, seed=13)
    producing = threading.Thread(target=_paced, args=(settings, votes, VOTES_PER_S))
    services = [redis_server, ferretdb, the_consumer, the_source]
    store = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        for service in services:
            service.start()
        producing.start()

        wait_counted(store, 500, timeout_s=120)
        _outage(redis_server, OUTAGE_S)
        assert _failures(metrics_port).get("redis", 0) > 0

        wait_counted(store, counted_once_answering(store) + 500, timeout_s=120)
        assert producing.is_alive(), "the stream ended before the MongoDB outage"
        _outage(ferretdb, OUTAGE_S)
        assert _failures(metrics_port).get("mongodb", 0) > 0

        producing.join(timeout=120)
        wait_counted(store, VOTES, timeout_s=240)
        status = source_status(status_port)
        assert _retried_503(status_port) > 0  # a store away is answered 503: retried
        assert counted(store) == VOTES
        assert vote_documents(settings) == VOTES
        report = audit(settings)
    finally:
        producing.join(timeout=120)
        store.close()
        for service in reversed(services):
            service.stop()

    assert report.ok, report.to_dict()
    dead_letters = next(t for t in report.totals if t.counter == "dead letters")
    assert (dead_letters.redis, dead_letters.mongodb) == (0, 0)
    assert status["dead_lettered"] == 0  # nothing went to votes-dlq either

"""The local source against a sink double answering 400 / 404 / 429 / 500: retried or
dead-lettered exactly as KafkaSource does, and offsets committed only behind finished records."""

from __future__ import annotations

import base64
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloudevents.kafka import KafkaMessage
from kafka import KafkaConsumer, TopicPartition

from certamen.adapters.kafka import make_producer, send_message
from certamen.settings import Settings
from tests.support.pipeline import free_port, isolated, source, source_status, wait_until
from tests.support.source_harness import SinkDouble, committed_offsets, produce_events

pytestmark = pytest.mark.integration


@pytest.fixture
def sink() -> Iterator[SinkDouble]:
    double = SinkDouble()
    yield double
    double.close()


def _dead_letters(settings: Settings, count: int) -> dict[str, dict[str, bytes]]:
    reader = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    tp = TopicPartition(settings.dlq_topic, 0)
    reader.assign([tp])
    reader.seek_to_beginning(tp)
    found: dict[str, dict[str, bytes]] = {}
    try:
        for _ in range(100):
            for records in reader.poll(timeout_ms=200).values():
                for record in records:
                    headers = dict(record.headers)
                    found[headers["ce_id"].decode()] = {**headers, "value": record.value}
            if len(found) >= count:
                break
    finally:
        reader.close()
    return found


def test_statuses_are_retried_or_dead_lettered_as_kafkasource_does(
    contest: Settings, sink: SinkDouble, tmp_path: Path
) -> None:
    settings = isolated(contest, retry=3, backoff_policy="linear", backoff_delay_s=0.05)
    ids = ["ok-1", "bad-1", "gone-1", "busy-1", "down-1", "fail-1", "ok-2"]
    produce_events(settings, ids)
    port = free_port()
    service = source(settings, sink.url, port, tmp_path).start()
    try:
        wait_until(
            lambda: source_status(port)["delivered"] + source_status(port)["dead_lettered"] == 7,
            60,
            "7 records finished",
        )
        wait_until(lambda: sum(committed_offsets(settings).values()) == 7, 10, "offsets committed")
        status = source_status(port)
    finally:
        service.stop()

    assert dict(sink.attempts) == {
        "ok-1": 1,
        "bad-1": 1,  # other 4xx: straight to the dead-letter sink
        "gone-1": 4,  # 404 is retried: the first attempt and 3 retries
        "busy-1": 3,  # 429, 429, then 200
        "down-1": 3,  # 500, 500, then 200
        "fail-1": 4,  # 500 until the retries run out
        "ok-2": 1,
    }
    assert (status["delivered"], status["dead_lettered"]) == (4, 3)
    assert sink.headers["ok-1"]["ce-type"] == "test.event"
    assert sink.headers["ok-1"]["Content-Type"] == "application/json"

    letters = _dead_letters(settings, 3)
    assert set(letters) == {"bad-1", "gone-1", "fail-1"}
    for event_id, code in (("bad-1", b"400"), ("gone-1", b"404"), ("fail-1", b"500")):
        letter = letters[event_id]
        assert letter["ce_knativeerrorcode"] == code
        assert letter["ce_knativeerrordest"] == sink.url.encode()
        answer = f"answer {code.decode()} to {event_id}".encode()
        assert base64.b64decode(letter["ce_knativeerrordata"]) == answer
        assert (letter["ce_type"], letter["value"]) == (b"test.event", b'{"n":1}')


def test_an_offset_is_committed_only_behind_finished_records(
    contest: Settings, sink: SinkDouble, tmp_path: Path
) -> None:
    settings = isolated(contest, retry=200, backoff_policy="linear", backoff_delay_s=0.02)
    sink.hold.set()
    ids = ["ok-a", "hold-1", *(f"ok-{n}" for n in range(8))]
    produce_events(settings, ids)
    port = free_port()
    service = source(settings, sink.url, port, tmp_path).start()
    try:
        wait_until(lambda: source_status(port)["delivered"] == 9, 60, "the 9 other records")
        wait_until(lambda: sink.attempts["hold-1"] >= 5, 30, "retries of the held record")
        partition = _partition(settings)
        assert committed_offsets(settings) == {partition: 1}  # offset 1 is still retrying
        sink.hold.clear()
        wait_until(lambda: source_status(port)["delivered"] == 10, 30, "the held record")
        wait_until(lambda: committed_offsets(settings) == {partition: 10}, 60, "commit 10")
    finally:
        service.stop()


def _partition(settings: Settings) -> int:
    reader = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    try:
        for partition in reader.partitions_for_topic(settings.votes_topic) or ():
            tp = TopicPartition(settings.votes_topic, partition)
            if reader.end_offsets([tp])[tp] > 0:
                return partition
    finally:
        reader.close()
    raise AssertionError("no partition holds the records")


def test_sigterm_ends_the_retries_commits_the_finished_prefix_and_exits(
    contest: Settings, sink: SinkDouble, tmp_path: Path
) -> None:
    settings = isolated(contest, retry=200, backoff_policy="linear", backoff_delay_s=0.5)
    sink.hold.set()
    produce_events(settings, ["ok-a", "ok-b", "hold-1", "ok-c"])
    port = free_port()
    service = source(settings, sink.url, port, tmp_path).start()
    try:
        wait_until(lambda: source_status(port)["delivered"] == 3, 60, "the 3 other records")
        wait_until(lambda: sink.attempts["hold-1"] >= 2, 30, "the held record in backoff")
        started = time.monotonic()
        assert service.kill(signal.SIGTERM) == 0
        assert time.monotonic() - started < 10  # the backoff wait ended at once
    finally:
        service.stop()
    partition = _partition(settings)
    assert committed_offsets(settings) == {partition: 2}  # behind the held record

    sink.hold.clear()
    service = source(settings, sink.url, port, tmp_path).start()
    try:
        wait_until(lambda: committed_offsets(settings) == {partition: 4}, 60, "commit 4")
    finally:
        service.stop()
    assert sink.attempts["ok-c"] == 2  # after the held record: delivered again, at least once
    assert sink.attempts["ok-a"] == sink.attempts["ok-b"] == 1


def test_lag_before_the_first_commit_counts_every_record_still_to_deliver(
    contest: Settings, sink: SinkDouble, tmp_path: Path
) -> None:
    """A fresh group with a backlog and a sink that answers nothing but 503: nothing is
    committed yet, and /status and /metrics must show the whole backlog as lag, not 0."""
    settings = isolated(contest, retry=1_000, backoff_policy="linear", backoff_delay_s=0.05)
    sink.hold.set()
    produce_events(settings, [f"hold-{n}" for n in range(5)])
    port = free_port()
    service = source(settings, sink.url, port, tmp_path).start()
    try:
        wait_until(lambda: sum(sink.attempts.values()) >= 10, 30, "503s retried")
        wait_until(lambda: source_status(port)["partitions"] != [], 10, "the lag to be read")
        time.sleep(1.5)  # a lag refresh (every second) after the first attempts
        status = source_status(port)
        metrics = _lag_metrics(port)
    finally:
        service.stop()

    assert committed_offsets(settings) == {}  # nothing delivered, nothing committed
    partition = _partition(settings)
    lags = {p["partition"]: p["lag"] for p in status["partitions"]}
    assert lags[partition] == 5
    assert status["lag"] == 5
    assert metrics[partition] == 5
    assert sum(metrics.values()) == 5


def _lag_metrics(port: int) -> dict[int, float]:
    """``certamen_source_lag`` per partition, from the source's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = r'^certamen_source_lag\{[^}]*partition="(\d+)"[^}]*\} ([0-9.e+]+)$'
    return {int(p): float(n) for p, n in re.findall(pattern, text, re.MULTILINE)}


def _lag_metrics(port: int) -> dict[int, float]:
    """``certamen_source_lag`` per partition, from the source's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = r'^certamen_source_lag\{[^}]*partition="(\d+)"[^}]*\} ([0-9.e+]+)$'
    return {int(p): float(n) for p, n in re.findall(pattern, text, re.MULTILINE)}


def test_an_unexpected_failure_is_retried_by_the_policy_then_dead_lettered(
    contest: Settings, sink: SinkDouble, tmp_path: Path
) -> None:
    """A record the source itself trips over (a structured-mode event nested too deeply
    for the JSON reader: RecursionError) is tried as often as a failed delivery, then
    goes to the dead-letter topic, with one stack trace in the log; the records behind it
    are delivered and committed."""
    settings = isolated(contest, retry=2, backoff_policy="linear", backoff_delay_s=0.05)
    producer = make_producer(settings)
    try:
        nested = KafkaMessage(
            headers={"content-type": b"application/cloudevents+json"},
            key=b"same-partition",
            value=b"[" * 100_000,
        )
        send_message(producer, settings.votes_topic, nested).get(timeout=30)
    finally:
        producer.close()
    produce_events(settings, ["ok-after"])
    port = free_port()
    service = source(settings, sink.url, port, tmp_path).start()
    try:
        wait_until(
            lambda: source_status(port)["dead_lettered"] == 1, 30, "the record dead-lettered"
        )
        wait_until(lambda: sum(committed_offsets(settings).values()) == 2, 10, "both committed")
        status = source_status(port)
    finally:
        service.stop()

    assert (status["delivered"], status["dead_lettered"]) == (1, 1)
    assert sink.attempts == {"ok-after": 1}
    log = (tmp_path / "source.log").read_text()
    assert log.count("Traceback") == 1, log[-3000:]
    (letter,) = _dead_letters(settings, 1).values()
    assert letter["value"] == b"[" * 100_000
    assert b"RecursionError" in base64.b64decode(letter["ce_knativeerrordata"])

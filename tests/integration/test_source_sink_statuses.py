"""The local source against a sink double answering 400 / 404 / 429 / 500: retried or
dead-lettered exactly as KafkaSource does, and offsets committed only behind finished records."""

from __future__ import annotations

import base64
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cloudevents.kafka import KafkaMessage
from kafka import KafkaConsumer, TopicPartition

from certamen.adapters.kafka import make_admin, make_producer, send_message
from certamen.settings import Settings
from tests.support.pipeline import free_port, isolated, source, source_status, wait_until

pytestmark = pytest.mark.integration


class SinkDouble:
    """Answers by the event id's prefix; records every attempt."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.headers: dict[str, dict[str, str]] = {}
        self.hold = threading.Event()
        double = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event_id = self.headers["ce-id"]
                double.attempts[event_id] += 1
                double.headers.setdefault(event_id, dict(self.headers.items()))
                status = double.status(event_id, double.attempts[event_id])
                body = f"answer {status} to {event_id}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def status(self, event_id: str, attempt: int) -> int:
        kind = event_id.split("-")[0]
        if kind == "hold":
            return 503 if self.hold.is_set() else 200
        always = {"ok": 200, "bad": 400, "gone": 404, "fail": 500}
        if kind in always:
            return always[kind]
        then_ok = {"busy": 429, "down": 500}
        return then_ok[kind] if attempt <= 2 else 200

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[SinkDouble]:
    double = SinkDouble()
    yield double
    double.close()


def _produce(settings: Settings, ids: list[str]) -> None:
    producer = make_producer(settings)
    try:
        for event_id in ids:
            headers = {
                "ce_specversion": b"1.0",
                "ce_id": event_id.encode(),
                "ce_type": b"test.event",
                "ce_source": b"/tests",
                "content-type": b"application/json",
            }
            message = KafkaMessage(headers=headers, key=b"same-partition", value=b'{"n":1}')
            send_message(producer, settings.votes_topic, message).get(timeout=30)
    finally:
        producer.close()


def _committed(settings: Settings) -> dict[int, int]:
    admin = make_admin(settings)
    try:
        group = settings.source.consumer_group
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


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
    _produce(settings, ids)
    port = free_port()
    service = source(settings, sink.url, port, tmp_path).start()
    try:
        wait_until(
            lambda: source_status(port)["delivered"] + source_status(port)["dead_lettered"] == 7,
            60,
            "7 records finished",
        )
        wait_until(lambda: sum(_committed(settings).values()) == 7, 10, "offsets committed")
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
    _produce(settings, ids)
    port = free_port()
    service = source(settings, sink.url, port, tmp_path).start()
    try:
        wait_until(lambda: source_status(port)["delivered"] == 9, 60, "the 9 other records")
        wait_until(lambda: sink.attempts["hold-1"] >= 5, 30, "retries of the held record")
        assert _committed(settings) == {_partition(settings): 1}  # offset 1 is still retrying
        sink.hold.clear()
        wait_until(lambda: source_status(port)["delivered"] == 10, 30, "the held record")
        wait_until(lambda: _committed(settings) == {_partition(settings): 10}, 60, "commit 10")
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

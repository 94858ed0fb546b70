"""For the local source's tests: a sink double, CloudEvents written by id, the committed offsets.

The sink double answers by the event id's prefix and records every attempt:

``ok-*`` 200, ``bad-*`` 400, ``gone-*`` 404, ``fail-*`` 500, ``busy-*`` 429 twice then
200, ``down-*`` 500 twice then 200, ``hold-*`` 503 while :attr:`SinkDouble.hold` is set.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloudevents.kafka import KafkaMessage

from certamen.adapters.kafka import make_admin, make_producer, send_message
from certamen.settings import Settings
from tests.support.pipeline import free_port


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


def produce_events(settings: Settings, ids: list[str]) -> None:
    """One binary-mode CloudEvent per id, all with the same key (so one partition)."""
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


def committed_offsets(settings: Settings) -> dict[int, int]:
    """The source's consumer group's committed offset per partition of the topic."""
    admin = make_admin(settings)
    try:
        group = settings.source.consumer_group
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

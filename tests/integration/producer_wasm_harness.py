"""Helpers for producer-wasm's integration tests: a real server process, an HTTP client, a reader.

The server runs as ``certamen producer-wasm`` in its own process, as in
production, so start-up and SIGTERM are the real ones. Ports come from 15000-15499.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from certamen.adapters.kafka import make_consumer
from certamen.settings import Settings

PORTS = range(15000, 15500)
JSON = {"Content-Type": "application/json"}


def free_port() -> int:
    """A port of our range that nothing listens on right now."""
    for _ in range(200):
        port = random.choice(PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 15000-15499")


@dataclass
class Answer:
    """An HTTP response, read completely."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WasmServer:
    """A running ``certamen producer-wasm``."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> Answer:
        """One request on a fresh connection (the server may close one after an error)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            if chunked:
                connection.putrequest(method, path)
                for name, value in (headers or {}).items():
                    connection.putheader(name, value)
                connection.putheader("Transfer-Encoding", "chunked")
                connection.endheaders()
                for start in range(0, len(body or b""), 1000):
                    chunk = (body or b"")[start : start + 1000]
                    connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                connection.send(b"0\r\n\r\n")
            else:
                connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            connection.close()

    def vote(self, ballot: Mapping[str, Any] | bytes, key: str | None = None) -> Answer:
        """POST /votes with a JSON ballot (a mapping is encoded, bytes are sent as they are)."""
        body = ballot if isinstance(ballot, bytes) else json.dumps(ballot).encode()
        headers = dict(JSON)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.request("POST", "/votes", body, headers)

    def ready(self) -> bool:
        try:
            return self.request("GET", "/readyz").status == 200
        except OSError:
            return False

    def wait_ready(self, expected: bool = True, *, within_s: float) -> float:
        """Wait until /readyz says ``expected``; return the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < within_s:
            assert self.process.poll() is None, f"server exited:\n{self.log.read_text()}"
            if self.ready() == expected:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"/readyz not {expected} within {within_s} s:\n{self.log.read_text()}")

    def terminate(self, *, within_s: float = 20.0) -> int:
        """SIGTERM; wait for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=within_s)


@contextmanager
def wasm_server(
    settings: Settings, log_dir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[WasmServer]:
    """Start producer-wasm for ``settings``' Kafka and topic; stop it afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "CERTAMEN_TOPIC": settings.votes_topic,
        "PORT": str(port),
        "CERTAMEN_KAFKA_TIMEOUT": "3",
        **(extra_env or {}),
    }
    log = log_dir / f"producer-wasm-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "certamen.cli", "producer-wasm"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = WasmServer(process, port, log)
    try:
        server.wait_ready(within_s=30.0)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Record:
    """A record read back from the votes topic."""

    key: bytes
    headers: dict[str, bytes]
    value: bytes


def read_topic(settings: Settings) -> list[Record]:
    """Every record on the votes topic right now, all partitions, from the beginning."""
    topic = settings.votes_topic
    consumer = make_consumer(settings, group_id=None, client_id="test-reader")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            assert time.monotonic() < deadline, "could not read the topic to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return [
        Record(r.key, {k: bytes(v) for k, v in r.headers or []}, r.value or b"") for r in records
    ]

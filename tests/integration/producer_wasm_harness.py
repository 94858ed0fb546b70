"""Helpers for producer-wasm's integration tests: a real server process, an HTTP client, a reader.

The server runs as ``certamen producer-wasm`` in its own process, as in
production, so start-up and SIGTERM are the real ones. Ports come from 15000-15499.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certamen.settings import Settings
from tests.support import processes
from tests.support.topics import read_records

PORTS = range(15000, 15500)
JSON = {"Content-Type": "application/json"}


def free_port() -> int:
    """A port of producer-wasm's test range that nothing listens on right now."""
    return processes.free_port(PORTS)


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
    metrics_port: int
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

    def metrics(self) -> str:
        """GET /metrics on the metrics port (the vote port does not serve it)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=30)
        try:
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            assert response.status == 200, response.status
            assert response.getheader("content-type", "").startswith("text/plain")
            return response.read().decode()
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
        return processes.wait_for(
            lambda: self.ready() == expected,
            self.process,
            self.log,
            within_s=within_s,
            what=f"/readyz not {expected}",
        )

    def terminate(self, *, within_s: float = 20.0) -> int:
        """SIGTERM; wait for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=within_s)


@contextmanager
def wasm_server(
    settings: Settings, log_dir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[WasmServer]:
    """Start producer-wasm for ``settings``' Kafka and topic; stop it afterwards."""
    port, metrics_port = processes.take_free_ports(PORTS, 2)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "CERTAMEN_TOPIC": settings.votes_topic,
        "PORT": str(port),
        "CERTAMEN_PRODUCER_WASM_METRICS_PORT": str(metrics_port),
        "CERTAMEN_KAFKA_TIMEOUT": "3",
        **(extra_env or {}),
    }
    log = log_dir / f"producer-wasm-{port}.log"
    process = processes.launch(
        [sys.executable, "-m", "certamen.operations.cli", "producer-wasm"], env, log
    )
    server = WasmServer(process, port, metrics_port, log)
    try:
        server.wait_ready(within_s=30.0)
        yield server
    finally:
        processes.stop(process, grace_s=20)


@dataclass(frozen=True)
class Record:
    """A record read back from the votes topic."""

    key: bytes
    headers: dict[str, bytes]
    value: bytes


def read_topic(settings: Settings) -> list[Record]:
    """Every record on the votes topic right now, all partitions, from the beginning."""
    records = read_records(settings, settings.votes_topic, within_s=30)
    return [
        Record(r.key, {k: bytes(v) for k, v in r.headers or []}, r.value or b"") for r in records
    ]

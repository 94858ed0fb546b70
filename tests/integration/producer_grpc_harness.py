"""Helpers for producer-grpc's integration tests: a real server process, a topic reader.

The server runs as ``certamen producer-grpc`` in its own process, as in
production, so SIGTERM and start-up are the real ones. Ports come from 15500-15999.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certamen.contract import event_from_kafka
from certamen.settings import Settings
from tests.support import processes
from tests.support.topics import message_from_record, read_records

PORTS = range(15500, 16000)


def free_port() -> int:
    """A port of producer-grpc's test range that nothing listens on right now."""
    return processes.free_port(PORTS)


@dataclass
class ServerProcess:
    """A running ``certamen producer-grpc`` and a channel to it."""

    process: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    channel: grpc.Channel
    log: Path

    def health(self, service: str = "", timeout: float = 2.0) -> int:
        """The health status of ``service`` (``""``: the whole server)."""
        stub = health_pb2_grpc.HealthStub(self.channel)
        request = health_pb2.HealthCheckRequest(service=service)
        response = stub.Check(request, timeout=timeout)
        return int(response.status)

    def wait_health(self, status: int, *, within_s: float) -> float:
        """Wait until health is ``status``; return the seconds it took."""

        def is_status() -> bool:
            try:
                return self.health() == status
            except grpc.RpcError:
                return False

        return processes.wait_for(
            is_status, self.process, self.log, within_s=within_s, what=f"health not {status}"
        )

    def terminate(self, *, within_s: float = 15.0) -> int:
        """SIGTERM; wait for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=within_s)


@contextmanager
def grpc_server(
    settings: Settings, log_dir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    """Start producer-grpc for ``settings``' Kafka and topic; stop it afterwards."""
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "CERTAMEN_TOPIC": settings.votes_topic,
        "PORT": str(port),
        "CERTAMEN_PRODUCER_GRPC_METRICS_PORT": str(metrics_port),
        "CERTAMEN_KAFKA_TIMEOUT": "3",
        **(extra_env or {}),
    }
    log = log_dir / f"producer-grpc-{port}.log"
    process = processes.launch(
        [sys.executable, "-m", "certamen.operations.cli", "producer-grpc"], env, log
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    server = ServerProcess(process, port, metrics_port, channel, log)
    try:
        server.wait_health(health_pb2.HealthCheckResponse.SERVING, within_s=20.0)
        yield server
    finally:
        channel.close()
        processes.stop(process, grace_s=15)


@dataclass(frozen=True)
class Record:
    """A record read back from the votes topic."""

    key: bytes
    headers: dict[str, bytes]
    value: bytes
    event: object


def read_topic(settings: Settings, topic: str | None = None) -> list[Record]:
    """Every record on the topic right now, all partitions, from the beginning."""
    records = read_records(settings, topic or settings.votes_topic, within_s=20)
    return [
        Record(
            key=r.key,
            headers={k: bytes(v) for k, v in r.headers or []},
            value=r.value,
            event=event_from_kafka(message_from_record(r)),
        )
        for r in records
    ]

"""Helpers for producer-grpc's integration tests: a real server process, a topic reader.

The server runs as ``certamen producer-grpc`` in its own process, as in
production, so SIGTERM and start-up are the real ones. Ports come from 15500-15999.
"""

from __future__ import annotations

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

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import TopicPartition

from certamen.adapters.kafka import make_consumer, message_from_record
from certamen.contract import event_from_kafka
from certamen.settings import Settings

PORTS = range(15500, 16000)


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
    raise RuntimeError("no free port in 15500-15999")


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
        started = time.monotonic()
        while time.monotonic() - started < within_s:
            assert self.process.poll() is None, f"server exited:\n{self.log.read_text()}"
            try:
                if self.health() == status:
                    return time.monotonic() - started
            except grpc.RpcError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"health not {status} within {within_s} s:\n{self.log.read_text()}")

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
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "certamen.cli", "producer-grpc"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    server = ServerProcess(process, port, metrics_port, channel, log)
    try:
        server.wait_health(health_pb2.HealthCheckResponse.SERVING, within_s=20.0)
        yield server
    finally:
        channel.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Record:
    """A record read back from the votes topic."""

    key: bytes
    headers: dict[str, bytes]
    value: bytes
    event: object


def read_topic(settings: Settings, topic: str | None = None) -> list[Record]:
    """Every record on the topic right now, all partitions, from the beginning."""
    topic = topic or settings.votes_topic
    consumer = make_consumer(settings, group_id=None, client_id="test-reader")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records = []
        deadline = time.monotonic() + 20
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            assert time.monotonic() < deadline, "could not read the topic to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return [
        Record(
            key=r.key,
            headers={k: bytes(v) for k, v in r.headers or []},
            value=r.value,
            event=event_from_kafka(message_from_record(r)),
        )
        for r in records
    ]

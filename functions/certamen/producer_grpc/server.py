"""``certamen producer-grpc``: the process around the handlers.

Start-up: one Kafka producer, the Intake, the gRPC server (votes, confproto, health,
reflection), a background Kafka probe driving health, a small HTTP server for
Prometheus. SIGTERM (Knative scaling down): health goes NOT_SERVING, the server
stops accepting, in-flight calls finish within a grace period, the producer flushes.
Every vote answered OK was acknowledged by Kafka before the answer, so none is lost.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry, start_http_server

from certamen.contract import CatalogError, load_catalog
from certamen.intake import (
    Intake,
    IntakeMetrics,
    KafkaReadiness,
    kafka_check,
    make_intake_producer,
)
from certamen.logs import configure_json_logging
from certamen.producer_grpc.protos import CONFPROTO_SERVICE, VOTE_SERVICE
from certamen.producer_grpc.service import VoteHandlers, register
from certamen.settings import Settings

log = logging.getLogger("certamen.producer_grpc")

# Each Cast holds a worker while it waits for Kafka (~5-10 ms: linger plus the
# broker's ack), so the pool is sized for the in-flight votes at full speed; past
# MAX_CONCURRENT_RPCS a call is refused at once with RESOURCE_EXHAUSTED (retryable)
# rather than queued without bound.
WORKERS = 64
MAX_CONCURRENT_RPCS = 512
SERVER_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.so_reuseport", 0),  # a second server on a busy port must fail, not share it
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),  # a full CastBatch fits
)
PROBE_INTERVAL_S = 1.0


def new_grpc_server() -> grpc.Server:
    """A grpcio server with the producer's settings (the benchmark's no-op server uses it too)."""
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="rpc"),
        options=SERVER_OPTIONS,
        maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
    )


@dataclass
class ProducerServer:
    """A running producer-grpc: what :meth:`stop` must shut down, in order."""

    server: grpc.Server
    port: int
    producer: KafkaProducer
    readiness: KafkaReadiness
    health: health.HealthServicer
    metrics_http: Any
    grace_s: float

    def stop(self) -> None:
        """Stop accepting, let in-flight calls finish, flush the producer."""
        started = time.monotonic()
        self.health.enter_graceful_shutdown()
        self.server.stop(self.grace_s).wait()
        self.readiness.stop()
        self.producer.flush(timeout=self.grace_s)
        self.producer.close(timeout=self.grace_s)
        self.metrics_http.shutdown()
        log.info(
            "stopped",
            extra={"event": "stopped", "seconds": round(time.monotonic() - started, 3)},
        )


def start(settings: Settings) -> ProducerServer:
    """Start serving; return once the port is open (Kafka may still be unreachable)."""
    started = time.monotonic()
    registry = CollectorRegistry()
    metrics = IntakeMetrics(registry)
    catalog = (
        load_catalog(settings.catalog_path, year_now=time.gmtime().tm_year)
        if settings.catalog_path
        else None
    )
    producer = make_intake_producer(settings)
    health_servicer = health.HealthServicer()
    server = new_grpc_server()

    def report(ready: bool) -> None:
        status = _SERVING if ready else _NOT_SERVING
        for name in ("", VOTE_SERVICE, CONFPROTO_SERVICE):  # "": the server as a whole
            health_servicer.set(name, status)
        metrics.kafka_ready.labels("grpc").set(1 if ready else 0)

    readiness = KafkaReadiness(
        kafka_check(settings, settings.votes_topic),
        interval_s=PROBE_INTERVAL_S,
        on_change=report,
    )
    intake = Intake(
        producer,
        topic=settings.votes_topic,
        channel="grpc",
        catalog=catalog,
        timeout_s=settings.kafka_timeout_s,
        metrics=metrics,
        readiness=readiness,
    )
    services = register(server, VoteHandlers(intake))
    report(False)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*services, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = settings.port or settings.ports.producer_grpc
    address = f"{settings.bind_host}:{port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError as e:
        raise OSError(f"cannot listen on {address}: is the port in use?") from e
    server.start()
    metrics_http, _ = start_http_server(
        settings.ports.producer_grpc_metrics, addr=settings.bind_host, registry=registry
    )
    ready = readiness.start()
    log.info(
        "serving",
        extra={
            "event": "serving",
            "address": address,
            "metrics_port": settings.ports.producer_grpc_metrics,
            "topic": settings.votes_topic,
            "kafka_ready": ready,
            "catalog": str(settings.catalog_path) if settings.catalog_path else None,
            "startup_seconds": round(time.monotonic() - started, 3),
        },
    )
    return ProducerServer(
        server=server,
        port=port,
        producer=producer,
        readiness=readiness,
        health=health_servicer,
        metrics_http=metrics_http,
        grace_s=settings.kafka_timeout_s + 1.0,
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    configure_json_logging()
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info(
            "shutting down", extra={"event": "shutdown", "signal": signal.Signals(signum).name}
        )
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        running = start(settings)
    except (OSError, CatalogError) as e:
        log.error("cannot start", extra={"event": "start_failed", "problem": str(e)})
        return 1
    stop_requested.wait()
    running.stop()
    return 0


_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

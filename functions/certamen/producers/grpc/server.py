"""``certamen producer-grpc``: the process around the handlers.

Start-up: one Kafka producer, the Intake, the grpc.aio server (votes, confproto,
health, reflection), a background Kafka probe driving health, a small HTTP server
for Prometheus. The loop is uvloop's: grpc.aio hands every completion from its
polling thread to the loop, and uvloop's cheaper wake-ups and callbacks took about
a tenth off the producer's CPU per ``Cast`` (load/results/cost-per-vote.md).

SIGTERM (Knative scaling down): health goes NOT_SERVING, the server stops accepting,
in-flight calls finish within a grace period, the producer flushes.
Every vote answered OK was acknowledged by Kafka before the answer, so none is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from certamen.adapters.kafka_producer import KafkaRecordProducer
from certamen.contract import CatalogError, load_catalog
from certamen.logs import configure_json_logging
from certamen.producers.grpc.protos import CONFPROTO_SERVICE, VOTE_SERVICE
from certamen.producers.grpc.service import VoteHandlers, register
from certamen.producers.intake import (
    IntakeMetrics,
    build_intake,
    make_intake_producer,
)
from certamen.producers.readiness import KafkaReadiness
from certamen.serving import tune_gc_for_serving
from certamen.settings import Settings

log = logging.getLogger("certamen.producer_grpc")

HEALTH_NAMES = ("", VOTE_SERVICE, CONFPROTO_SERVICE)  # "": the server as a whole
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# grpcio-health-checking's asyncio servicer (``health.aio``) is missing from its typing
_AioHealthServicer: Any = health.aio.HealthServicer  # type: ignore[attr-defined]


def server_options(max_waiting_calls: int) -> tuple[tuple[str, Any], ...]:
    """The producer's grpc.aio options, with room for ``max_waiting_calls`` arrived calls.

    grpc.aio takes calls from gRPC's core one at a time, so a burst that arrives while
    the loop is busy waits in the core's queue of calls no handler has taken yet. Past
    1,000 such calls the core drops calls at random (up to all of them past 3,000) and
    answers them ``CANCELLED``, unseen by the Intake and by ``/metrics`` (docs/grpc.md,
    "The same limit for calls not yet taken"). With the queue as deep as the Intake's
    own limit (soft and hard alike: no random drop), the Intake decides every call, and
    a refusal is its ``UNAVAILABLE`` with ``Retry-After``.
    """
    return (
        ("grpc.so_reuseport", 0),  # a second server on a busy port must fail, not share it
        ("grpc.max_receive_message_length", 8 * 1024 * 1024),  # a full CastBatch fits
        ("grpc.server.max_pending_requests", max_waiting_calls),
        ("grpc.server.max_pending_requests_hard_limit", max_waiting_calls),
    )


def new_grpc_server(max_waiting_calls: int) -> grpc.aio.Server:
    """A grpc.aio server with the producer's settings (the benchmark's no-op uses it too).

    No ``maximum_concurrent_rpcs``: grpcio answers the calls past it RESOURCE_EXHAUSTED;
    the Intake bounds the calls in flight itself and refuses with UNAVAILABLE
    (``CERTAMEN_PRODUCER_MAX_IN_FLIGHT``), so a refusal is always the same answer.
    """
    return grpc.aio.server(options=server_options(max_waiting_calls))


@dataclass
class ProducerServer:
    """A running producer-grpc: what :meth:`stop` must shut down, in order."""

    server: grpc.aio.Server
    port: int
    producer: KafkaRecordProducer
    readiness: KafkaReadiness
    health: Any  # health.aio.HealthServicer
    metrics_http: Any
    grace_s: float

    async def stop(self) -> None:
        """Stop accepting, let in-flight calls finish, flush the producer."""
        started = time.monotonic()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.grace_s)
        self.readiness.stop()
        self.producer.flush(timeout=self.grace_s)
        self.producer.close(timeout=self.grace_s)
        self.metrics_http.shutdown()
        log.info(
            "stopped",
            extra={"event": "stopped", "seconds": round(time.monotonic() - started, 3)},
        )


async def start(settings: Settings) -> ProducerServer:
    """Start serving; return once the port is open (Kafka may still be unreachable)."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    registry = CollectorRegistry()
    metrics = IntakeMetrics(registry)
    catalog = (
        load_catalog(settings.catalog_path, year_now=time.gmtime().tm_year)
        if settings.catalog_path
        else None
    )
    producer = make_intake_producer(settings)
    producer.serve_reports_on(loop)
    health_servicer = _AioHealthServicer()

    async def report(ready: bool) -> None:
        for name in HEALTH_NAMES:
            await health_servicer.set(name, _SERVING if ready else _NOT_SERVING)
        metrics.kafka_ready.labels("grpc").set(1 if ready else 0)
        log.info("health", extra={"event": "health", "serving": ready})

    def on_change(ready: bool) -> None:  # called in the probe's thread
        asyncio.run_coroutine_threadsafe(report(ready), loop)

    intake, readiness = build_intake(
        settings,
        channel="grpc",
        producer=producer,
        catalog=catalog,
        metrics=metrics,
        on_change=on_change,
    )
    server = new_grpc_server(settings.producer_max_in_flight)
    services = register(server, VoteHandlers(intake))
    await report(False)
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
    await server.start()
    metrics_http, _ = start_http_server(
        settings.ports.producer_grpc_metrics, addr=settings.bind_host, registry=registry
    )
    readiness.start()
    tune_gc_for_serving()
    log.info(
        "serving",
        extra={
            "event": "serving",
            "address": address,
            "metrics_port": settings.ports.producer_grpc_metrics,
            "topic": settings.votes_topic,
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
    return uvloop.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum, stop_requested)
    try:
        running = await start(settings)
    except (OSError, CatalogError) as e:
        log.error("cannot start", extra={"event": "start_failed", "problem": str(e)})
        return 1
    await stop_requested.wait()
    await running.stop()
    return 0


def _on_signal(signum: int, stop_requested: asyncio.Event) -> None:
    log.info("shutting down", extra={"event": "shutdown", "signal": signal.Signals(signum).name})
    stop_requested.set()

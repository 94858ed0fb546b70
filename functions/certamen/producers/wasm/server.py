"""``certamen producer-wasm``: the process around the ASGI app, served by uvicorn.

Start-up: the kernel (compiled once), one Kafka producer (librdkafka), the
Intake and a background Kafka probe behind ``/readyz``; the port opens at once,
readiness follows the first successful probe. Prometheus metrics are served on a
port of their own (``Ports.producer_wasm_metrics``), like the other workloads':
on the cluster, what may scrape them (namespace ``monitoring``) is let through
to that port only, never to the one that takes votes.

SIGTERM (Knative scaling down): uvicorn stops accepting and waits for the
requests in flight, each of which ends after Kafka's answer (or the Kafka
timeout); then the producer flushes and closes. A 202 is only sent after Kafka
acknowledged the vote, so no acknowledged vote is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry, start_http_server

from certamen.adapters.kafka_producer import KafkaRecordProducer
from certamen.contract import CatalogError, load_catalog
from certamen.logs import configure_json_logging
from certamen.producers.intake import (
    IntakeMetrics,
    build_intake,
    make_intake_producer,
)
from certamen.producers.wasm.app import ProducerApp
from certamen.producers.wasm.kernel import BallotKernel, KernelFault
from certamen.serving import tune_gc_for_serving
from certamen.settings import Settings

log = logging.getLogger("certamen.producer_wasm")
# Connections the kernel holds for the loop while it is busy: as many as the Intake lets
# wait for Kafka (CERTAMEN_PRODUCER_MAX_IN_FLIGHT's default) and as grpcio asks for (the
# kernel caps both at somaxconn). A burst past it waits in the handshake, its SYNs retried
# after 1, 3, 7 s...: not lost, but answered seconds later (docs/wasm-kernel.md).
BACKLOG = 4096


class _PlainUvicornRecords(logging.Filter):
    """Drops uvicorn's ANSI-coloured copy of each message from the JSON lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def _after_shutdown(signum: int, _frame: object) -> None:
    log.info("signal", extra={"event": "signal", "signal": signal.Signals(signum).name})


async def _serve(server: uvicorn.Server, producer: KafkaRecordProducer) -> None:
    """uvicorn's ``Server.run`` with the delivery reports served on its event loop."""
    producer.serve_reports_on(asyncio.get_running_loop())
    tune_gc_for_serving()
    await server.serve()


def uvicorn_config(app: Any, *, host: str, port: int, graceful_s: float) -> uvicorn.Config:
    """The HTTP stack's settings: uvloop + httptools, no access log (the benchmark's no-op
    endpoint is served with the same function)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,  # no X-Forwarded-* rewriting: nothing here reads the client address
        date_header=False,
        backlog=BACKLOG,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=int(graceful_s) + 1,
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    configure_json_logging()
    logging.getLogger("uvicorn.error").addFilter(_PlainUvicornRecords())
    started = time.monotonic()
    try:
        catalog = (
            load_catalog(settings.catalog_path, year_now=time.gmtime().tm_year)
            if settings.catalog_path
            else None
        )
    except CatalogError as e:
        log.error("cannot start", extra={"event": "start_failed", "problem": str(e)})
        return 1
    try:
        kernel = BallotKernel()
    except KernelFault as e:  # a module of another ABI or other Unicode tables
        log.error("cannot start", extra={"event": "start_failed", "problem": str(e)})
        return 1
    registry = CollectorRegistry()
    metrics = IntakeMetrics(registry)
    producer = make_intake_producer(settings)
    ready_gauge = metrics.kafka_ready.labels("wasm")
    ready_gauge.set(0)

    def on_change(ready: bool) -> None:
        ready_gauge.set(1 if ready else 0)
        if ready:
            log.info(
                "ready",
                extra={"event": "ready", "seconds": round(time.monotonic() - started, 3)},
            )

    intake, readiness = build_intake(
        settings,
        channel="wasm",
        producer=producer,
        catalog=catalog,
        metrics=metrics,
        on_change=on_change,
    )
    app = ProducerApp(kernel=kernel, intake=intake, readiness=readiness)
    port = settings.port or settings.ports.producer_wasm
    grace_s = settings.kafka_timeout_s + 1.0
    server = uvicorn.Server(
        uvicorn_config(app, host=settings.bind_host, port=port, graceful_s=grace_s)
    )
    # uvicorn handles SIGTERM/SIGINT while serving, then re-raises the signal to the handler
    # found before it: this one, so that the producer is flushed and closed below.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _after_shutdown)
    metrics_port = settings.ports.producer_wasm_metrics
    try:
        metrics_http, _ = start_http_server(
            metrics_port, addr=settings.bind_host, registry=registry
        )
    except OSError as e:
        problem = f"cannot serve metrics on port {metrics_port}: {e.strerror}"
        log.error("cannot start", extra={"event": "start_failed", "problem": problem})
        producer.close(timeout=grace_s)
        return 1
    readiness.start()  # probes in its own thread: the port opens without waiting for Kafka
    log.info(
        "serving",
        extra={
            "event": "serving",
            "address": f"http://{settings.bind_host}:{port}",
            "metrics_port": metrics_port,
            "topic": settings.votes_topic,
            "catalog": str(settings.catalog_path) if settings.catalog_path else None,
            "unidata_version": kernel.unidata_version,
        },
    )
    config = server.config
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve(server, producer))
    stopping = time.monotonic()
    readiness.stop()
    producer.flush(timeout=grace_s)
    producer.close(timeout=grace_s)
    metrics_http.shutdown()
    log.info(
        "stopped",
        extra={"event": "stopped", "seconds": round(time.monotonic() - stopping, 3)},
    )
    return 0 if server.started else 1

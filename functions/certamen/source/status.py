"""What the source shows: Prometheus metrics (``GET /metrics``) and a JSON status (``GET /status``).

``certamen up`` waits for ``/metrics`` to answer 200; ``certamen status`` shows
``/status``: per partition the committed offset, the end of the log and the lag.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class SourceMetrics:
    """Deliveries by outcome, retries by status, lag and committed offset per partition."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.deliveries = Counter(
            "certamen_source_deliveries",
            "Records finished, by outcome (delivered, dead_lettered).",
            ["outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "certamen_source_retries",
            "Failed attempts that were retried, by status (none = no answer, "
            "unexpected = a failure of the source itself).",
            ["status"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "certamen_source_in_flight", "Records being delivered now.", registry=registry
        )
        self.latency = Histogram(
            "certamen_source_delivery_seconds",
            "From fetching a record to its outcome, retries included.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.lag = Gauge(
            "certamen_source_lag",
            "Records the group has still to deliver: after its committed offset, or, before "
            "its first commit, after where delivery began (the consumer group's lag).",
            ["topic", "partition"],
            registry=registry,
        )
        self.committed = Gauge(
            "certamen_source_committed_offset",
            "The offset committed for the partition (the next record to deliver after a restart).",
            ["topic", "partition"],
            registry=registry,
        )


class StatusServer:
    """A small HTTP server on its own thread: ``/metrics`` and ``/status``."""

    def __init__(self, host: str, port: int, metrics: SourceMetrics, status: Callable[[], Any]):
        registry = metrics.registry

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._answer(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif self.path == "/status":
                    body = json.dumps(status(), indent=2).encode()
                    self._answer(200, "application/json", body)
                else:
                    self._answer(404, "text/plain", b"try /metrics or /status\n")

            def _answer(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Scrapes are not news: no access log."""

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="status", daemon=True
        )

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

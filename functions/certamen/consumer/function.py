"""The consumer function's work and everything it needs, built once per worker process.

``main.py`` is the module functions-framework imports; it only holds one
:class:`CountVote` per process, built the first time the worker needs it (after
gunicorn's fork, never in the master that imported the module). Everything the
function uses is made in :meth:`CountVote.__init__` or passed in: the settings,
and how the stores are opened.

Outcomes become HTTP statuses here and only here, through the framework:
returning is 200 ``OK`` (counted, duplicate and dead-lettered events alike); a
store away raises ``HTTPException(503)``, which Starlette's ExceptionMiddleware
answers 503 with the message as plain text (the source retries); anything
unexpected is logged once here and raised as ``HTTPException(500)``, so that
functions-framework's ExceptionHandlerMiddleware does not log a second stack
trace.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry, start_http_server
from starlette.exceptions import HTTPException

from certamen.adapters.errors import StoreUnavailable
from certamen.consumer.metrics import ConsumerMetrics
from certamen.consumer.startup import Stores, open_stores
from certamen.logs import Sparing
from certamen.settings import Settings

WARN_EVERY_S = 5.0

log = logging.getLogger("certamen.consumer")


class StoreOpener(Protocol):
    """How a worker opens its stores (``startup.open_stores``; a fake in unit tests)."""

    def __call__(
        self, settings: Settings, *, prepare: bool, on_batch: Callable[[int], object]
    ) -> Stores: ...


class CountVote:
    """Logs and counts the vote an event carries, exactly once; poison becomes a dead letter."""

    def __init__(self, settings: Settings, open_stores: StoreOpener = open_stores) -> None:
        self._settings = settings
        self._open_stores = open_stores
        self._registry = CollectorRegistry()
        self._metrics = ConsumerMetrics(self._registry)
        self._opening = asyncio.Lock()  # bound to the worker's loop on first contended use
        self._stores: Stores | None = None
        self._store_warnings = Sparing(WARN_EVERY_S)

    async def __call__(self, event: CloudEvent) -> None:
        """Handle one event; a failure becomes the HTTP status the source acts on."""
        started = time.perf_counter()
        try:
            handler = (await self._stores_of_worker()).handler
            outcome = await handler.handle(event)
        except StoreUnavailable as e:
            self._metrics.failures.labels(cause=e.store).inc()
            self._warn_now_and_then(e.store, f"{e}; answering 503 so that the event is retried")
            raise HTTPException(503, detail=f"unavailable: {e}") from None
        except Exception:
            self._metrics.failures.labels(cause="unexpected").inc()
            log.exception(
                "unexpected failure handling event id=%s type=%s source=%s; answering 500",
                event.get("id"),
                event.get("type"),
                event.get("source"),
            )
            raise HTTPException(500, detail="unexpected failure; see the consumer's log") from None
        self._metrics.latency.observe(time.perf_counter() - started)
        self._metrics.outcome[outcome].inc()

    def serve_metrics(self) -> None:
        """Serve this process's registry on ``Ports.consumer_metrics`` (call once).

        Each gunicorn worker serves its own metrics (the master serves nothing). A port
        in use is logged, not fatal: votes come first.
        """
        port = self._settings.ports.consumer_metrics
        try:
            start_http_server(port, addr=self._settings.bind_host, registry=self._registry)
        except OSError as e:
            log.warning("cannot serve metrics on port %d: %s", port, e)

    async def _stores_of_worker(self) -> Stores:
        """This worker's stores, opened on first use (after gunicorn's fork, never before).

        Opening pings both stores: done on a thread, so the loop keeps serving meanwhile.
        """
        if self._stores is not None:
            return self._stores
        async with self._opening:
            if self._stores is None:
                self._stores = await asyncio.to_thread(
                    self._open_stores,
                    self._settings,
                    prepare=False,
                    on_batch=self._metrics.batch_size.observe,
                )
                log.info("worker: Redis and MongoDB clients open")
            return self._stores

    def _warn_now_and_then(self, key: str, message: str) -> None:
        """A store that is away fails every event: say so once every few seconds, no trace."""
        held = self._store_warnings.due(key)
        if held is not None:
            log.warning(message + (f" ({held} more like it held back)" if held else ""))

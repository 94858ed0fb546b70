"""The consumer function: a functions-framework CloudEvent function, served in ASGI mode.

``functions-framework --asgi --target=count_vote --signature-type=cloudevent
--source=<this file>`` (``serve.py``) runs it on gunicorn with uvicorn's worker
(uvloop, httptools): one event loop per worker (serve.py says why). The framework
reads the request into a CloudEvent (the SDK's ``from_http``) and calls
``count_vote(event)``; the function sees the event only, never the request. What
follows from that signature (docs/exactly-once.md, "The consumer's signature"):

- The data is as the SDK decoded it: a JSON body becomes a dict (or list,
  number...), anything else stays bytes. ``certamen.contract.vote_from_event``
  checks either; a dead letter stores the data as the SDK gave it, JSON written
  compactly (``documents.data_bytes``).
- The SDK fills in a ``time`` when an event came without one, and leaves ``ce-``
  header values percent-encoded: a dead letter's attributes are decoded
  (``documents.arrived_attributes``) and show that invented ``time``.
- Partition and offset: only a record KafkaSource wrapped (``dev.knative.kafka.event``)
  says where it was, in its id and source; a vote passes through unchanged and
  says nothing, so its document's ``partition``/``offset`` are ``None``, as on
  Knative. HTTP headers beside the event are not seen.
- ``/metrics``: the CloudEvent app routes POST only, so the Prometheus registry is
  served on a port of its own (``Ports.consumer_metrics``, 9466), by a thread
  that each worker starts right after gunicorn forks it (``_serve_metrics``).

Outcomes become HTTP statuses here and only here, through the framework:
returning is 200 ``OK`` (counted, duplicate and dead-lettered events alike); a
store away raises ``HTTPException(503)``, which Starlette's ExceptionMiddleware
answers 503 with the message as plain text (the source retries); anything
unexpected is logged once here and raised as ``HTTPException(500)``, so that
functions-framework's ExceptionHandlerMiddleware does not log a second stack
trace; a request that is no CloudEvent is answered 400 by the framework, before
the function runs ("Bad Request: Got CloudEvent exception: ...").

gunicorn's master imports this module and never serves a request; each worker
opens its own Redis and MongoDB clients on its first event (``_stores``), after
the fork, and keeps them for its life. ``certamen consumer`` (serve.py) has
already checked both stores, created the indexes and seeded the counters.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

import functions_framework.aio
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry, start_http_server
from starlette.exceptions import HTTPException

from certamen.adapters.errors import StoreUnavailable
from certamen.consumer.metrics import ConsumerMetrics
from certamen.consumer.startup import Stores, open_stores
from certamen.logs import Sparing, configure_json_logging
from certamen.settings import Settings, load

TARGET = "count_vote"
_WARN_EVERY_S = 5.0

log = logging.getLogger("certamen.consumer")
# Read once, where functions-framework imports the function (in gunicorn's master; each
# worker inherits it through the fork): the worker's stores and metrics port both use it.
_settings: Settings = load()
_registry = CollectorRegistry()
_metrics = ConsumerMetrics(_registry)
_opening = asyncio.Lock()  # bound to the worker's loop on first use, never in the master
_opened: Stores | None = None
_store_warnings = Sparing(_WARN_EVERY_S)
_metrics_served = threading.Event()


@functions_framework.aio.cloud_event
async def count_vote(event: CloudEvent) -> None:
    """Log and count the vote the event carries, exactly once; poison becomes a dead letter."""
    started = time.perf_counter()
    try:
        handler = (await _stores()).handler
        outcome = await handler.handle(event)
    except StoreUnavailable as e:
        _metrics.failures.labels(cause=e.store).inc()
        _warn_now_and_then(e.store, f"{e}; answering 503 so that the event is retried")
        raise HTTPException(503, detail=f"unavailable: {e}") from None
    except Exception:
        _metrics.failures.labels(cause="unexpected").inc()
        log.exception(
            "unexpected failure handling event id=%s type=%s source=%s; answering 500",
            event.get("id"),
            event.get("type"),
            event.get("source"),
        )
        raise HTTPException(500, detail="unexpected failure; see the consumer's log") from None
    _metrics.latency.observe(time.perf_counter() - started)
    _metrics.outcome[outcome].inc()


async def _stores() -> Stores:
    """This worker's stores, opened on first use (after gunicorn's fork, never before).

    Opening pings both stores: done on a thread, so the loop keeps serving meanwhile.
    """
    global _opened
    if _opened is not None:
        return _opened
    async with _opening:
        if _opened is None:
            configure_json_logging()
            _serve_metrics()  # served without a fork too (functions-framework --debug)
            _opened = await asyncio.to_thread(
                open_stores, _settings, prepare=False, on_batch=_metrics.batch_size.observe
            )
            log.info("worker: Redis and MongoDB clients open")
        return _opened


def _serve_metrics() -> None:
    """Serve this process's registry on ``Ports.consumer_metrics``, once.

    Called in each gunicorn worker right after the fork (``os.register_at_fork``
    below): the metrics are the worker's, and the master, which imported this
    module, serves nothing. A port in use is logged, not fatal: votes come first.
    """
    if _metrics_served.is_set():
        return
    _metrics_served.set()
    port = _settings.ports.consumer_metrics
    try:
        start_http_server(port, addr=_settings.bind_host, registry=_registry)
    except OSError as e:
        log.warning("cannot serve metrics on port %d: %s", port, e)


os.register_at_fork(after_in_child=_serve_metrics)


def _warn_now_and_then(key: str, message: str) -> None:
    """A store that is away fails every event: say so once every few seconds, without a trace."""
    held = _store_warnings.due(key)
    if held is not None:
        log.warning(message + (f" ({held} more like it held back)" if held else ""))

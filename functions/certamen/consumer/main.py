"""The consumer function, as functions-framework serves it in ASGI mode (locally and on Knative).

``functions-framework --asgi --target=count_vote --signature-type=http --source=<this file>``
(``serve.py``) runs it on gunicorn with uvicorn's worker (uvloop, httptools): one
event loop per worker (serve.py says why). It is a ``functions_framework.aio.http``
function that reads the CloudEvent itself, because the ``aio.cloud_event``
signature hands a function the parsed event only, and the consumer needs the
request as it came:

- the ``ce-`` headers as they arrived (the SDK invents a ``time`` when none came,
  which a dead letter must not show) and the body's bytes (kept in dead letters);
- the ``Kafka-Topic/-Partition/-Offset`` headers of the local source (the vote
  document's ``partition`` and ``offset``);
- ``GET /metrics`` on the same port: the ``cloud_event`` app routes POST only,
  and functions-framework gives a function no way to add a route.

A request without CloudEvent attributes is answered 400, as functions-framework's
CloudEvent functions answer it.

gunicorn's master imports this module and never serves a request; each worker
opens its own Redis and MongoDB clients on its first event (``_stores``), after
the fork, and keeps them for its life. ``certamen consumer`` (serve.py) has
already checked both stores, created the indexes and seeded the catalog.

This is also the one place where outcomes become HTTP statuses:
2xx for counted, duplicate and dead-lettered events; 503 when a store is away
(the source retries); 500 for anything unexpected (logged once, retried);
400 for a request that is not a CloudEvent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import unquote

import functions_framework.aio
from cloudevents.exceptions import GenericException
from cloudevents.http import from_http
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from certamen.adapters.errors import StoreUnavailable
from certamen.consumer.documents import Origin
from certamen.consumer.handler import NotACloudEvent
from certamen.consumer.metrics import ConsumerMetrics
from certamen.consumer.startup import Stores, open_stores
from certamen.logs import configure_json_logging
from certamen.settings import load
from certamen.source.events import OFFSET_HEADER, PARTITION_HEADER, TOPIC_HEADER

TARGET = "count_vote"
_WARN_EVERY_S = 5.0
_TOPIC = TOPIC_HEADER.lower().encode()
_PARTITION = PARTITION_HEADER.lower().encode()
_OFFSET = OFFSET_HEADER.lower().encode()

log = logging.getLogger("certamen.consumer")
_registry = CollectorRegistry()
_metrics = ConsumerMetrics(_registry)
_opening = asyncio.Lock()  # bound to the worker's loop on first use, never in the master
_opened: Stores | None = None
_last_warning: dict[str, float] = {}


@functions_framework.aio.http
async def count_vote(request: Request) -> Response:
    """POST: log and count the vote a CloudEvent carries, exactly once. GET /metrics."""
    scope = request.scope
    if scope["method"] != "POST":
        if scope["method"] == "GET" and scope["path"] == "/metrics":
            return Response(generate_latest(_registry), media_type=CONTENT_TYPE_LATEST)
        return Response(status_code=405, headers={"Allow": "POST"})
    body = await request.body()
    started = time.perf_counter()
    attributes: dict[str, Any] = {}
    try:
        attributes, data, origin = _arrival(scope["headers"], body)
        handler = (await _stores()).handler
        outcome = await handler.handle(attributes, data, origin)
    except NotACloudEvent as e:
        return JSONResponse({"error": "not_a_cloudevent", "message": str(e)}, 400)
    except StoreUnavailable as e:
        _metrics.failures.labels(cause=e.store).inc()
        _warn_now_and_then(e.store, f"{e}; answering 503 so that the event is retried")
        answer = {"error": "unavailable", "store": e.store, "message": str(e)}
        return JSONResponse(answer, 503)
    except Exception:
        _metrics.failures.labels(cause="unexpected").inc()
        log.exception(
            "unexpected failure handling event id=%s type=%s source=%s; answering 500",
            attributes.get("id"),
            attributes.get("type"),
            attributes.get("source"),
        )
        answer = {"error": "internal", "message": "unexpected failure; see the consumer's log"}
        return JSONResponse(answer, 500)
    _metrics.latency.observe(time.perf_counter() - started)
    _metrics.outcome[outcome].inc()
    return Response(b"OK")


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
            _opened = await asyncio.to_thread(
                open_stores, load(), prepare=False, on_batch=_metrics.batch_size.observe
            )
            log.info("worker: Redis and MongoDB clients open")
        return _opened


def _arrival(
    headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[dict[str, Any], bytes, Origin]:
    """The event's attributes as they arrived, its data, and where in Kafka it came from.

    Binary mode: the ``ce-`` headers, percent-decoded (the CloudEvents HTTP binding
    encodes header values; the SDK leaves them so), the content type, and the body
    as the data. Structured mode (no ``ce-specversion``): the SDK reads the
    attributes and the data from the body; the data is handed on as JSON bytes.
    """
    arrived: dict[str, Any] = {}
    content_type: str | None = None
    topic = partition = offset = None
    for name, raw in headers:
        if name.startswith(b"ce-"):
            value = raw.decode("latin-1")
            arrived[name[3:].decode("latin-1")] = unquote(value) if "%" in value else value
        elif name == b"content-type":
            content_type = raw.decode("latin-1")
        elif name == _TOPIC:
            topic = raw.decode("latin-1")
        elif name == _PARTITION:
            partition = _whole(raw)
        elif name == _OFFSET:
            offset = _whole(raw)
    if "specversion" not in arrived:
        try:
            event = from_http({"content-type": content_type or ""}, body)
        except GenericException as e:
            raise NotACloudEvent(str(e)) from e
        arrived = dict(event.get_attributes())
        body = _data_bytes(event.get_data())
    elif content_type:
        arrived["datacontenttype"] = content_type
    return arrived, body, Origin(topic=topic, partition=partition, offset=offset)


def _data_bytes(data: Any) -> bytes:
    """A structured event's data as the bytes a binary-mode body would carry."""
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data, ensure_ascii=False).encode()


def _whole(raw: bytes) -> int | None:
    return int(raw) if raw.isdigit() else None


def _warn_now_and_then(key: str, message: str) -> None:
    """A store that is away fails every event: say so once every few seconds, without a trace."""
    now = time.monotonic()
    if now - _last_warning.get(key, -_WARN_EVERY_S) >= _WARN_EVERY_S:
        _last_warning[key] = now
        log.warning(message)

"""The consumer function, as functions-framework serves it (locally and on Knative).

``functions-framework --target=count_vote --source=<this file>`` imports this
module inside the Flask app's context, in gunicorn's master process, before the
worker is forked. So nothing here connects at import: each worker opens its own
Redis and MongoDB clients on its first event (``_stores``), after the fork, and
keeps them for its life. ``certamen consumer`` (serve.py) has already checked both
stores, created the indexes and seeded the catalog before starting the server.

This is also the one place where outcomes become HTTP statuses:
2xx for counted, duplicate and dead-lettered events; 503 when a store is away
(the source retries); 500 for anything unexpected (logged once, retried).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any
from urllib.parse import unquote

import flask
import functions_framework
from cloudevents.http import CloudEvent
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from certamen.adapters.errors import StoreUnavailable
from certamen.consumer.documents import Origin
from certamen.consumer.metrics import ConsumerMetrics
from certamen.consumer.startup import Stores, open_stores
from certamen.logs import configure_json_logging
from certamen.settings import load
from certamen.source.events import OFFSET_HEADER, PARTITION_HEADER, TOPIC_HEADER

TARGET = "count_vote"
_WARN_EVERY_S = 5.0

log = logging.getLogger("certamen.consumer")
_registry = CollectorRegistry()
_metrics = ConsumerMetrics(_registry)
_lock = threading.Lock()
_opened: tuple[int, Stores] | None = None
_last_warning: dict[str, float] = {}


class UnexpectedFailure(Exception):
    """An error we did not foresee, already logged with its context; answered 500."""


@functions_framework.cloud_event
def count_vote(event: CloudEvent) -> None:
    """Log and count the vote an event carries, exactly once; dead-letter poison."""
    attributes = _attributes(event)
    started = time.perf_counter()
    try:
        handler = _stores().handler
        outcome = handler.handle(attributes, flask.request.get_data(), _origin())
    except StoreUnavailable as e:
        _metrics.failures.labels(cause=e.store).inc()
        _warn_now_and_then(e.store, f"{e}; answering 503 so that the event is retried")
        raise
    except Exception as e:
        _metrics.failures.labels(cause="unexpected").inc()
        log.exception(
            "unexpected failure handling event id=%s type=%s source=%s; answering 500",
            attributes.get("id"),
            attributes.get("type"),
            attributes.get("source"),
        )
        raise UnexpectedFailure(str(e)) from e
    _metrics.latency.observe(time.perf_counter() - started)
    _metrics.outcome[outcome].inc()


def _store_unavailable(error: StoreUnavailable) -> tuple[dict[str, str], int]:
    return {"error": "unavailable", "store": error.store, "message": str(error)}, 503


def _unexpected(error: UnexpectedFailure) -> tuple[dict[str, str], int]:
    return {"error": "internal", "message": "unexpected failure; see the consumer's log"}, 500


def _metrics_view() -> flask.Response:
    return flask.Response(generate_latest(_registry), mimetype=CONTENT_TYPE_LATEST)


def _stores() -> Stores:
    """This worker's stores, opened on first use (after gunicorn's fork, never before)."""
    global _opened
    opened = _opened
    if opened is not None and opened[0] == os.getpid():
        return opened[1]
    with _lock:
        if _opened is None or _opened[0] != os.getpid():
            configure_json_logging()
            _opened = (
                os.getpid(),
                open_stores(load(), prepare=False, on_batch=_metrics.batch_size.observe),
            )
            log.info("worker %d: Redis and MongoDB clients open", os.getpid())
        return _opened[1]


def _attributes(event: CloudEvent) -> dict[str, Any]:
    """The event's attributes as they arrived (binary mode: the ``ce-`` headers, decoded).

    The CloudEvents HTTP binding percent-encodes header values and the SDK leaves
    them so; the SDK also invents a ``time`` when none came, which a dead letter must
    not show. Read from the WSGI environ (``HTTP_CE_*``): attribute names are
    lower-case letters and digits, so nothing is lost in WSGI's spelling.
    """
    environ = flask.request.environ
    arrived = {
        key[8:].lower(): unquote(value) if "%" in value else value
        for key, value in environ.items()
        if key.startswith("HTTP_CE_")
    }
    if not arrived:  # structured mode: the attributes were in the body
        return dict(event.get_attributes())
    if environ.get("CONTENT_TYPE"):
        arrived["datacontenttype"] = environ["CONTENT_TYPE"]
    return arrived


def _origin() -> Origin:
    headers = flask.request.headers
    return Origin(
        topic=headers.get(TOPIC_HEADER),
        partition=_whole(headers.get(PARTITION_HEADER)),
        offset=_whole(headers.get(OFFSET_HEADER)),
    )


def _whole(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _warn_now_and_then(key: str, message: str) -> None:
    """A store that is away fails every event: say so once every few seconds, without a trace."""
    now = time.monotonic()
    if now - _last_warning.get(key, -_WARN_EVERY_S) >= _WARN_EVERY_S:
        _last_warning[key] = now
        log.warning(message)


def _configure(app: flask.Flask) -> None:
    """Our additions to functions-framework's app: the status of each error, and /metrics."""
    app.register_error_handler(StoreUnavailable, _store_unavailable)
    app.register_error_handler(UnexpectedFailure, _unexpected)
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])


# functions-framework executes this module inside its Flask app's context: configure
# that app (an import elsewhere, e.g. by a test or mypy, has no app and adds nothing).
if flask.has_app_context():
    _configure(flask.current_app)

"""The statuses the consumer answers, through functions-framework's own ASGI app for it.

The app is the one ``functions-framework --asgi --signature-type=cloudevent`` serves,
built from ``certamen.consumer.main``; the worker's function is built with stores
whose handler answers as told (real stores: tests/integration/test_consumer_exactly_once.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from cloudevents.abstract import AnyCloudEvent
from functions_framework.aio import create_asgi_app_from_module
from prometheus_client import CollectorRegistry

import certamen.consumer.main as main
from certamen.adapters.errors import StoreUnavailable
from certamen.consumer import Outcome
from certamen.consumer.function import CountVote
from certamen.consumer.serve import FUNCTION_SOURCE, TARGET
from certamen.logs import Sparing
from certamen.settings import Settings, load

HEADERS = [
    (b"ce-specversion", b"1.0"),
    (b"ce-id", b"vote-0000001"),
    (b"ce-type", b"gt.certamen.vote.cast.v1"),
    (b"ce-source", b"/producers/grpc"),
    (b"content-type", b"application/json"),
]


class _Answering:
    """A handler that returns an outcome or raises, and keeps the events it got."""

    def __init__(self, answer: Outcome | BaseException) -> None:
        self.answer = answer
        self.events: list[AnyCloudEvent] = []

    async def handle(self, event: AnyCloudEvent) -> Outcome:
        self.events.append(event)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def _post(headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, bytes]:
    """One POST / through the app, as uvicorn would call it: the status and the body."""
    app = create_asgi_app_from_module(TARGET, str(FUNCTION_SOURCE), "cloudevent", main, None)
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8081),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> _Answering:
    handler = _Answering(Outcome.COUNTED)
    stores: Any = type("FakeStores", (), {"handler": handler})()
    monkeypatch.setattr(main, "_worker", CountVote(load(), lambda *_, **__: stores))
    return handler


def test_importing_the_function_module_builds_nothing() -> None:
    """gunicorn's master imports it: no settings, clients or metrics before a worker exists."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fresh_consumer_main", FUNCTION_SOURCE)
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    built = (Settings, CollectorRegistry, asyncio.Lock, CountVote)
    assert [name for name, value in vars(fresh).items() if isinstance(value, built)] == []


def test_count_vote_is_registered_as_a_cloudevent_function() -> None:
    from functions_framework import _function_registry

    assert _function_registry.REGISTRY_MAP[TARGET] == "cloudevent"


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_is_200(answering: _Answering, outcome: Outcome) -> None:
    answering.answer = outcome
    assert _post(HEADERS, b'{"vote_id":"vote-0000001"}') == (200, b"OK")
    (event,) = answering.events
    assert event["id"] == "vote-0000001"
    assert event.get_data() == {"vote_id": "vote-0000001"}  # JSON data arrives decoded


def test_a_store_away_is_503_so_that_the_source_retries(answering: _Answering) -> None:
    answering.answer = StoreUnavailable("redis", "connection refused")
    status, body = _post(HEADERS, b"{}")
    assert status == 503
    assert body.startswith(b"unavailable: ") and b"redis" in body


def test_a_store_away_is_said_once_not_for_every_event(
    answering: _Answering, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(main.worker_function(), "_store_warnings", Sparing(every_s=60.0))
    answering.answer = StoreUnavailable("mongodb", "connection refused")
    with caplog.at_level(logging.INFO):
        statuses = [_post(HEADERS, b"{}")[0] for _ in range(5)]
    assert statuses == [503] * 5
    warnings = [
        r for r in caplog.records if r.name == "certamen.consumer" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1 and "mongodb" in warnings[0].getMessage()
    assert not warnings[0].exc_info


def test_an_unexpected_failure_is_500_with_one_stack_trace(
    answering: _Answering, caplog: pytest.LogCaptureFixture
) -> None:
    answering.answer = RuntimeError("boom")
    with caplog.at_level(logging.INFO):
        status, body = _post(HEADERS, b"{}")
    assert (status, body) == (500, b"unexpected failure; see the consumer's log")
    traces = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert len(traces) == 1 and traces[0].name == "certamen.consumer"
    assert "id=vote-0000001" in traces[0].getMessage()


def test_a_request_that_is_no_cloudevent_is_400_and_never_reaches_the_handler(
    answering: _Answering,
) -> None:
    status, body = _post([(b"content-type", b"text/plain")], b"hello")
    assert status == 400 and body.startswith(b"Bad Request: Got CloudEvent exception")
    assert answering.events == []

"""The HTTP face of producer-wasm: a plain ASGI application, kept lean for the hot path.

``POST /votes`` (and ``/insert``, the original contest's path) takes a JSON
ballot and answers ``202 {"vote_id", "received_at"}`` once Kafka acknowledged
the vote; ``503`` (with ``Retry-After``) when it was not taken, ``504`` when its
outcome is unknown, ``409`` when its key names another ballot. The kernel judges
the body, Intake checks the catalog, chooses the vote id and queues the vote;
this module only maps HTTP to them and back.
``GET /healthz`` (alive), ``/readyz`` (Kafka reachable, from the background
probe). Prometheus metrics are served on a port of their own (server.py), so
that whoever may scrape them cannot reach the path that takes votes.

Errors become statuses in one place, :func:`_error_response`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from certamen.contract import MAX_BODY_BYTES, InvalidVote, Vote
from certamen.producers.intake import (
    Intake,
    KafkaReadiness,
    KeyConflict,
    OutcomeUnknown,
    Refused,
)
from certamen.producers.wasm.kernel import (
    BallotKernel,
    KernelFault,
    ballot_from_canonical,
    too_large,
)

log = logging.getLogger("certamen.producer_wasm")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

VOTE_PATHS: Final = frozenset({"/votes", "/insert"})
_UTF8: Final = frozenset({b"utf-8", b"utf8"})
_METHOD_NOT_ALLOWED: Final = (
    b'{"error":{"field":"method","rule":"method_not_allowed","message":"use POST"}}'
)
_NOT_FOUND: Final = (
    b'{"error":{"field":"path","rule":"not_found","message":'
    b'"POST /votes or /insert; GET /healthz, /readyz"}}'
)


class UnsupportedMediaType(InvalidVote):
    """The request's Content-Type is not JSON (415)."""

    def __init__(self, content_type: str) -> None:
        super().__init__(
            "content-type",
            "unsupported_media_type",
            f"send the ballot as application/json (UTF-8), not {content_type!r}",
        )


class _ClientGone(Exception):
    """The client disconnected before the body arrived: nobody to answer."""


class ProducerApp:
    """The ASGI application; every collaborator is created once by the server and passed in."""

    def __init__(
        self,
        *,
        kernel: BallotKernel,
        intake: Intake,
        readiness: KafkaReadiness,
    ) -> None:
        self._kernel = kernel
        self._intake = intake
        self._readiness = readiness

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route a request."""
        if scope["type"] == "http":
            path = scope["path"]
            if path in VOTE_PATHS:
                if scope["method"] == "POST":
                    await self._vote(scope, receive, send)
                else:
                    await _respond(send, 405, _METHOD_NOT_ALLOWED, ((b"allow", b"POST"),))
            elif path == "/healthz":
                await _respond(send, 200, b'{"alive":true}')
            elif path == "/readyz":
                ready = self._readiness.ready
                body = b'{"ready":true}' if ready else b'{"ready":false,"kafka":"unreachable"}'
                await _respond(send, 200 if ready else 503, body)
            else:
                await _respond(send, 404, _NOT_FOUND)

    async def _vote(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            vote = await self._accept(scope, receive)
        except _ClientGone:
            return
        except Exception as e:
            status, document, headers = _error_response(e)
            await _respond(send, status, json.dumps(document).encode(), headers)
            return
        await _respond(
            send,
            202,
            b'{"vote_id":"%s","received_at":"%s"}'
            % (vote.vote_id.encode(), vote.received_at.encode()),
        )

    async def _accept(self, scope: Scope, receive: Receive) -> Vote:
        """Judge the request and cast its vote; the vote once Kafka acknowledged it."""
        try:
            key = _check_headers(scope["headers"])
            body = await _read_body(receive)
            canonical = self._kernel.canonical(body, self._intake.year_now())
        except InvalidVote as e:
            self._intake.reject(e)  # what Intake rejects later, it counts itself
            raise
        return await self._intake.cast(ballot_from_canonical(canonical), key)


_Headers = tuple[tuple[bytes, bytes], ...]


def _error_response(error: Exception) -> tuple[int, dict[str, Any], _Headers]:
    """The one place where an exception becomes an HTTP status and a JSON error body."""
    if isinstance(error, InvalidVote):
        if isinstance(error, KeyConflict):
            return 409, {"error": error.as_dict(), "vote_id": error.vote_id}, ()
        if isinstance(error, UnsupportedMediaType):
            status = 415
        elif error.rule == "too_large":
            status = 413
        else:
            status = 400
        return status, {"error": error.as_dict()}, ()
    if isinstance(error, Refused):
        document = {
            "error": {
                "field": "kafka",
                "rule": "unavailable",
                "reason": error.reason,
                "message": f"{error}; retry with this vote_id as Idempotency-Key",
            },
            "vote_id": error.vote_id,
        }
        return 503, document, ((b"retry-after", str(error.retry_after_s).encode()),)
    if isinstance(error, OutcomeUnknown):
        document = {
            "error": {
                "field": "kafka",
                "rule": "unknown_outcome",
                "message": f"{error}; retry with this Idempotency-Key: it counts at most once",
            },
            "vote_id": error.vote_id,
        }
        return 504, document, ()
    if isinstance(error, KernelFault):
        log.error("kernel fault", extra={"event": "kernel_fault", "problem": str(error)})
        return 500, {"error": {"field": "body", "rule": "internal", "message": str(error)}}, ()
    log.exception("unexpected error", extra={"event": "internal_error"})
    return 500, {"error": {"field": "", "rule": "internal", "message": "internal error"}}, ()


def _check_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Check Content-Type and Content-Length; return the Idempotency-Key, if any."""
    key = None
    for name, value in headers:
        if name == b"content-type":
            if value != b"application/json" and not _is_json(value):
                raise UnsupportedMediaType(value.decode("latin-1"))
        elif name == b"content-length":
            if value.isdigit() and int(value) > MAX_BODY_BYTES:
                raise too_large()
        elif name == b"idempotency-key":
            key = value.decode("latin-1")
    return key


def _is_json(content_type: bytes) -> bool:
    """``application/json`` with any parameters, where a charset must be UTF-8."""
    media, *parameters = content_type.split(b";")
    if media.strip().lower() != b"application/json":
        return False
    for parameter in parameters:
        name, _, value = parameter.partition(b"=")
        if name.strip().lower() == b"charset" and value.strip().strip(b'"').lower() not in _UTF8:
            return False
    return True


async def _read_body(receive: Receive) -> bytes:
    """The request body, reading no more than one byte past the limit."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > MAX_BODY_BYTES:
            raise too_large()
        return body
    chunks = [body]
    size = len(body)
    while True:
        if size > MAX_BODY_BYTES:
            raise too_large()
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    if size > MAX_BODY_BYTES:
        raise too_large()
    return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

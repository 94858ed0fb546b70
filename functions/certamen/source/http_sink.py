"""The sink (``K_SINK``): one POST per event over kept-alive HTTP/1.1 connections, on asyncio.

Why not a general client: each vote is one small POST, and urllib3 spent more CPU
per request than everything else the source does (pool look-ups, header objects,
``http.client``'s parsing); here a request is one ``write`` of bytes built in one
go, and the answer is parsed by httptools (llhttp, in C). A connection serves one
request at a time; idle ones are kept for the next request, at most as many as
deliveries run at once (the window).

A failure without an answer (refused, reset, timeout, a malformed answer) is an
:class:`Answer` without a status, which KafkaSource retries.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import cast
from urllib.parse import urlsplit

import httptools

from certamen.source.events import OutgoingEvent
from certamen.source.sink import Answer

CONNECT_TIMEOUT_S = 2.0
# The KafkaSource's delivery.timeout (the consumer's own timeoutSeconds): an attempt
# without an answer by then is given up and retried, as Knative's dispatcher does.
READ_TIMEOUT_S = 30.0


class HttpSink:
    """POSTs events to ``url`` over a pool of kept-alive connections (see the module)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the sink must be an http(s) URL, not {url!r}")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._start = f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        self._idle: list[_Connection] = []

    async def post(self, event: OutgoingEvent) -> Answer:
        """One attempt; a connection failure or timeout is an answer without a status."""
        request = self._request(event)
        connection = self._idle_connection()
        try:
            if connection is None:
                connection = await self._connect()
            answer = await connection.exchange(request)
        except (OSError, TimeoutError, httptools.HttpParserError) as e:
            if connection is not None:
                connection.close()
            return Answer(None, f"dispatch error: {type(e).__name__}: {e}".encode())
        if connection.reusable:
            self._idle.append(connection)
        return answer

    def close(self) -> None:
        """Close the idle connections."""
        while self._idle:
            self._idle.pop().close()

    def _request(self, event: OutgoingEvent) -> bytes:
        lines = [self._start]
        for name, value in event.http_headers().items():
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {len(event.data)}\r\n\r\n")
        return "".join(lines).encode("latin-1") + event.data

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable:
                return connection
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(
            loop.create_connection(_Connection, self._host, self._port, ssl=self._ssl),
            CONNECT_TIMEOUT_S,
        )
        return connection


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: a request written, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._body: list[bytes] = []
        self._status: int | None = None
        self.reusable = False

    async def exchange(self, request: bytes) -> Answer:
        """Write ``request`` and wait for the whole answer (or a failure)."""
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        self.reusable = False
        self._body = []
        self._status = None
        self._waiter = loop.create_future()
        self._timer = loop.call_later(READ_TIMEOUT_S, self._timed_out)
        self._transport.write(request)
        try:
            return await self._waiter
        finally:
            self._timer.cancel()
            self._waiter = None

    def close(self) -> None:
        """Drop the connection."""
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self.reusable = True

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(e)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._status is not None:  # an answer delimited by the end of the connection
            self._answer(Answer(self._status, b"".join(self._body)))
        self._fail(exc or ConnectionResetError("the sink closed the connection"))

    # -- httptools callbacks ------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        keep_alive = self._parser.should_keep_alive()
        self._answer(Answer(self._parser.get_status_code(), b"".join(self._body)))
        self._status = None
        if not keep_alive:
            self.close()
        else:
            self.reusable = True

    # -- outcomes -------------------------------------------------------------------------------

    def _answer(self, answer: Answer) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(answer)

    def _fail(self, error: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    def _timed_out(self) -> None:
        self._fail(TimeoutError(f"no answer within {READ_TIMEOUT_S:.0f} s"))
        self.close()

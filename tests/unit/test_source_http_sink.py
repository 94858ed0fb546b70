"""The source's HTTP client against a scripted server on loopback: the request it writes,
kept-alive connections, answers delimited by length or by close, and no answer at all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from certamen.source.events import OutgoingEvent
from certamen.source.http_sink import HttpSink
from certamen.source.sink import Answer

EVENT = OutgoingEvent(
    attributes={
        "specversion": "1.0",
        "id": "e 1",
        "source": "/s",
        "type": "t",
        "datacontenttype": "application/json",
    },
    data=b'{"n":1}',
    wrapped=False,
)
Reply = Callable[[bytes], bytes]  # the request (head and body) -> the raw answer


class _Server:
    """Reads one request at a time per connection and writes ``reply(request)``."""

    def __init__(self, reply: Reply, *, close_after: bool = False) -> None:
        self.reply = reply
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                writer.write(self.reply(request))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def _run(server: _Server, talk: Callable[[HttpSink], Awaitable[list[Answer]]]) -> list[Answer]:
    async def scenario() -> list[Answer]:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        sink = HttpSink(f"http://127.0.0.1:{port}/events?x=1")
        try:
            return await talk(sink)
        finally:
            sink.close()
            listening.close()
            await listening.wait_closed()
            for writer in server.writers:
                writer.close()
            await asyncio.sleep(0.05)  # the handlers see the end of their connections

    return asyncio.run(scenario())


def _ok(request: bytes) -> bytes:
    return b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"


def test_the_request_is_a_binary_mode_cloudevent() -> None:
    server = _Server(_ok)
    answers = _run(server, lambda sink: _posts(sink, 1))
    assert answers == [Answer(202, b"ok")]
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /events?x=1 HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["ce-id"] == "e%201"  # percent-encoded, as the HTTP binding asks
    assert headers["Content-Type"] == "application/json"
    assert not any(name.startswith("Kafka-") for name in headers)  # as Knative: nothing else
    assert headers["Content-Length"] == "7" and body == b'{"n":1}'


def test_sequential_posts_share_one_kept_alive_connection() -> None:
    server = _Server(_ok)
    answers = _run(server, lambda sink: _posts(sink, 5))
    assert answers == [Answer(202, b"ok")] * 5
    assert server.connections == 1


def test_an_answer_ending_with_the_connection_and_a_new_connection_after_it() -> None:
    server = _Server(
        lambda _: b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nbusy", close_after=True
    )
    answers = _run(server, lambda sink: _posts(sink, 2))
    assert answers == [Answer(503, b"busy")] * 2
    assert server.connections == 2


def test_no_server_is_an_answer_without_status() -> None:
    async def talk(sink: HttpSink) -> list[Answer]:
        closed = HttpSink("http://127.0.0.1:1/")  # nothing listens on port 1
        return [await closed.post(EVENT)]

    (answer,) = _run(_Server(_ok), talk)
    assert answer.status is None and answer.body.startswith(b"dispatch error: ")


def test_a_malformed_answer_is_an_answer_without_status() -> None:
    (answer,) = _run(_Server(lambda _: b"NOT HTTP AT ALL\r\n\r\n"), lambda sink: _posts(sink, 1))
    assert answer.status is None and answer.body.startswith(b"dispatch error: ")


async def _posts(sink: HttpSink, count: int) -> list[Answer]:
    return [await sink.post(EVENT) for _ in range(count)]

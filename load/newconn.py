"""Voters that open a new connection for every vote, as the original contest's clients did.

- gRPC: a new channel per vote (its own subchannel, so really a new TCP connection and
  HTTP/2 handshake), one ``confproto.getInfo/returnInfo`` call, the channel closed; the
  original Go client did exactly this.
- HTTP: a new TCP connection per vote, ``POST /votes`` with ``Connection: close``.

A burst runs in several processes (asyncio and uvloop each, so the generator is not the
GIL's prisoner), every vote with an idempotency key of its own so that the ledger can
be checked against Redis and MongoDB: which keys were answered what, and how long it took.

Each vote's answer falls in one class (:data:`OUTCOMES`):

- ``accepted``: 2xx / OK, Kafka has it;
- ``refused``: 503 / UNAVAILABLE, the producer says the vote was not taken;
- ``unknown``: 504 / DEADLINE_EXCEEDED, or the connection broke after the vote was sent
  (gRPC: UNAVAILABLE without the producer's ``certamen-vote-id``): the vote may or may
  not count (at most once, by its key);
- ``rejected``: a 4xx / INVALID_ARGUMENT or ALREADY_EXISTS: the vote broke a rule;
- ``failed``: anything else (RESOURCE_EXHAUSTED, no connection, another status).

The classes are decided here only (:func:`grpc_answer`, :func:`http_answer`,
:func:`broken_answer`), for these voters and for the Go ones (``load/govoters.py``).
Used by ``load/bench_burst.py`` and the integration tests of bursts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

OUTCOMES: Final = ("accepted", "refused", "unknown", "failed", "rejected")
RETURN_INFO: Final = "/confproto.getInfo/returnInfo"
# A channel of its own subchannel pool: grpcio shares connections between channels with
# the same target and arguments, which would make "a new channel per vote" one connection.
NEW_CONNECTION: Final = (("grpc.use_local_subchannel_pool", 1),)


@dataclass(frozen=True, slots=True)
class Plan:
    """One burst of one route: where, how long, how fast, how many at once."""

    route: str  # "grpc" or "http"
    target: str  # host:port
    seconds: float  # how long new votes are started (at most)
    ballots: Sequence[dict[str, str]]  # cycled through
    run_id: str
    votes: int = 0  # votes in all (split between the processes); 0 = until ``seconds`` end
    keyed: Sequence[tuple[str, dict[str, str]]] = ()  # these exact votes instead (retries)
    rate: float = 0.0  # votes/s offered across all processes; 0 = as fast as they go
    in_flight: int = 1000  # votes in flight at once, per process
    processes: int = 2
    deadline_s: float | None = None  # gRPC deadline (None: none, as the Go client)
    new_connection: bool = True  # False: pooled (one gRPC channel; kept-alive HTTP)
    http_timeout_s: float = 30.0


@dataclass(slots=True)
class Vote:
    """One vote's key, answer class, detail (status) and the seconds from start to answer."""

    key: str
    ballot: dict[str, str]
    outcome: str
    detail: str
    started: float
    seconds: float
    retry_after: str | None = None


@dataclass(slots=True)
class Ledger:
    """Every vote of a burst, from every process."""

    votes: list[Vote] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    def by_outcome(self) -> dict[str, list[Vote]]:
        """The votes of each class (every class present, maybe empty)."""
        found: dict[str, list[Vote]] = {name: [] for name in OUTCOMES}
        for vote in self.votes:
            found[vote.outcome].append(vote)
        return found

    def counts(self) -> dict[str, int]:
        """How many votes of each class."""
        return {name: len(votes) for name, votes in self.by_outcome().items()}

    @property
    def span_s(self) -> float:
        """From the first vote sent to the last answer."""
        return self.ended - self.started


def run(plan: Plan) -> Ledger:
    """Run the burst in ``plan.processes`` processes; every vote's answer."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(plan.processes) as pool:
        parts = pool.starmap(_worker, [(plan, i) for i in range(plan.processes)])
    ledger = Ledger()
    for votes, started, ended in parts:
        ledger.votes.extend(votes)
        ledger.started = min(ledger.started or started, started)
        ledger.ended = max(ledger.ended, ended)
    return ledger


def _worker(plan: Plan, worker: int) -> tuple[list[Vote], float, float]:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    return asyncio.run(_burst(plan, worker))


async def _burst(plan: Plan, worker: int) -> tuple[list[Vote], float, float]:
    send = _GrpcVoter(plan) if plan.route == "grpc" else _HttpVoter(plan)
    votes: list[Vote] = []
    slots = asyncio.Semaphore(plan.in_flight)
    tasks: set[asyncio.Task[None]] = set()
    interval = plan.processes / plan.rate if plan.rate > 0 else 0.0
    started = time.time()
    clock = time.monotonic()
    end = clock + plan.seconds
    sequence = 0

    async def one(key: str, ballot: dict[str, str]) -> None:
        began = time.monotonic()
        try:
            outcome, detail, retry_after = await send(key, ballot)
        finally:
            slots.release()
        votes.append(
            Vote(key, ballot, outcome, detail, began - clock + started,
                 time.monotonic() - began, retry_after)
        )  # fmt: skip

    keyed = plan.keyed[worker :: plan.processes]
    share = len(keyed) if plan.keyed else -(-plan.votes // plan.processes)
    while (not share and not plan.keyed) or sequence < share:
        now = time.monotonic()
        if now >= end:
            break
        if interval:
            due = clock + sequence * interval
            if due > now:
                await asyncio.sleep(due - now)
        await slots.acquire()
        if plan.keyed:
            key, ballot = keyed[sequence]
        else:
            key = f"{plan.run_id}.{plan.route}{worker}.{sequence}"
            ballot = plan.ballots[(sequence * plan.processes + worker) % len(plan.ballots)]
        task = asyncio.create_task(one(key, ballot))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sequence += 1
    if tasks:
        await asyncio.wait(tasks)
    return votes, started, time.time()


Answer = tuple[str, str, str | None]  # outcome, detail, Retry-After


class _GrpcVoter:
    """One returnInfo call a vote, on a new channel each time (or one shared channel)."""

    def __init__(self, plan: Plan) -> None:
        import grpc

        from certamen._generated.confproto import confproto_pb2

        self._grpc: Any = grpc
        self._messages: Any = confproto_pb2
        self._target = plan.target
        self._deadline = plan.deadline_s
        self._shared: Any = None if plan.new_connection else self._channel()

    def _channel(self) -> Any:
        return self._grpc.aio.insecure_channel(self._target, options=NEW_CONNECTION)

    async def __call__(self, key: str, ballot: dict[str, str]) -> Answer:
        request = self._messages.requestId(**ballot).SerializeToString()
        if self._shared is not None:
            return await self._call(self._shared, key, request)
        async with self._channel() as channel:
            return await self._call(channel, key, request)

    async def _call(self, channel: Any, key: str, request: bytes) -> Answer:
        try:
            await channel.unary_unary(RETURN_INFO)(
                request, metadata=(("idempotency-key", key),), timeout=self._deadline
            )
        except self._grpc.aio.AioRpcError as e:
            # grpcio says so when it never reached the producer
            sent = "failed to connect" not in (e.details() or "")
            return grpc_answer(e.code(), e.details() or "", dict(e.trailing_metadata() or ()),
                               sent=sent)  # fmt: skip
        return "accepted", "OK", None


class _HttpVoter:
    """``POST /votes``, on a new TCP connection each time (``Connection: close``) or on
    kept-alive ones (one per vote in flight)."""

    def __init__(self, plan: Plan) -> None:
        host, _, port = plan.target.rpartition(":")
        self._host, self._port = host, int(port)
        self._timeout = plan.http_timeout_s
        self._new = plan.new_connection
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._head = (
            f"POST /votes HTTP/1.1\r\nHost: {plan.target}\r\nContent-Type: application/json\r\n"
            + ("Connection: close\r\n" if self._new else "")
        ).encode()

    async def __call__(self, key: str, ballot: dict[str, str]) -> Answer:
        body = json.dumps(ballot).encode()
        request = self._head + b"Idempotency-Key: %s\r\nContent-Length: %d\r\n\r\n%s" % (
            key.encode(), len(body), body
        )  # fmt: skip
        try:
            reader, writer = (
                self._idle.pop()
                if self._idle
                else await asyncio.open_connection(self._host, self._port)
            )
        except OSError as e:
            return broken_answer(f"connect: {type(e).__name__}", sent=False)
        kept = False
        try:
            writer.write(request)
            if self._new:
                answer = await asyncio.wait_for(reader.read(), self._timeout)
            else:
                answer = await asyncio.wait_for(_read_response(reader), self._timeout)
                self._idle.append((reader, writer))
                kept = True
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
            return broken_answer(f"after sending: {type(e).__name__}", sent=True)
        finally:
            if not kept:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        return http_answer(answer)


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    """One response with a Content-Length (the producer always sends one)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def grpc_answer(code: Any, details: str, trailers: Mapping[str, str], *, sent: bool) -> Answer:
    """The class of a gRPC answer (``code`` a ``grpc.StatusCode``): ``sent`` says whether
    the request left the client (else UNAVAILABLE is no connection, not a broken one)."""
    import grpc

    name = f"{code.name} {details}"
    if code == grpc.StatusCode.OK:
        return "accepted", "OK", None
    retry_after = trailers.get("retry-after")
    if code == grpc.StatusCode.UNAVAILABLE:
        if "certamen-vote-id" in trailers:  # the producer answered, not the gRPC library
            return "refused", name, retry_after
        # the library's: never sent (no connection), or the connection broke mid-call
        return ("unknown" if sent else "failed"), name, None
    if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return "unknown", name, None  # the call may have reached Kafka
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS):
        return "rejected", name, None
    return "failed", name, retry_after


def broken_answer(what: str, *, sent: bool) -> Answer:
    """No answer: the vote may count if it was sent before the connection broke."""
    return ("unknown" if sent else "failed"), what, None


def http_answer(answer: bytes) -> Answer:
    """The class of a whole HTTP response (head and body)."""
    head, _, _ = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return "unknown", f"no status: {answer[:60]!r}", None
    retry_after = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"retry-after":
            retry_after = value.strip().decode()
    if 200 <= status < 300:
        return "accepted", str(status), None
    if status == 503:  # ours says why in its body; a proxy's 503 tells nothing
        ours = b'"rule":"unavailable"' in answer or b'"rule": "unavailable"' in answer
        return ("refused" if ours else "unknown"), "503", retry_after
    if status == 504:
        return "unknown", "504", retry_after
    if 400 <= status < 500 and status not in (408, 429):
        return "rejected", str(status), None
    return "failed", str(status), retry_after

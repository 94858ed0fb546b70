"""From a valid ballot to a vote that Kafka has acknowledged: the one path both producers share.

A producer answers success only after :meth:`Intake.cast` returned, that is after
Kafka acknowledged the record with ``acks=all``. Anything else is an error.

Public API used by producer-grpc and producer-wasm (keep it stable; owner: the
producer-grpc maintainer):

- :func:`make_intake_producer` — the process's one Kafka producer (librdkafka, see
  :mod:`certamen.adapters.kafka_producer`), tuned for votes; ``flush(timeout=)``,
  ``close(timeout=)`` at shutdown.
- :class:`Intake` (``cast``/``cast_many`` blocking, ``cast_async``/``cast_many_async``
  for asyncio servers: no thread held while Kafka acknowledges; ``stamp``, ``reject``,
  ``year_now``) and :class:`Unavailable`; ``Intake(..., readiness=...)`` answers
  Unavailable at once while Kafka is known to be unreachable.
- :class:`IntakeMetrics`: ``certamen_producer_votes_total{channel,outcome}``,
  ``certamen_producer_rejected_total{channel,field,rule}``,
  ``certamen_producer_cast_seconds{channel}``, ``certamen_producer_kafka_ready{channel}``.
- :class:`KafkaReadiness` + :func:`kafka_check` (from :mod:`certamen.producers.readiness`): the
  background Kafka probe behind gRPC health and HTTP ``/readyz``; read
  ``readiness.ready``, never probe per request.
- :func:`build_intake` — a producer's Intake and its Kafka probe, wired the same way
  for both channels (the caller starts and stops the probe).
- :func:`settle_heap` — called by both servers once started: the garbage collector's
  cost off the per-vote path.

On an asyncio server the producer's delivery reports are served on the event loop
(``KafkaRecordProducer.serve_reports_on``, called by both servers), so a vote's report
settles its future directly, without waking the loop from another thread.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from certamen.adapters.kafka_producer import (
    Delivered,
    KafkaRecordProducer,
    SendFailed,
    loop_caller,
    producer_config,
    set_result_once,
)
from certamen.contract import (
    Ballot,
    Catalog,
    Channel,
    InvalidVote,
    Vote,
    resolve_vote_id,
)
from certamen.contract.event import vote_record
from certamen.producers.readiness import KafkaReadiness, kafka_check
from certamen.settings import Settings

__all__ = [
    "BatchItem",
    "Intake",
    "IntakeMetrics",
    "KafkaReadiness",
    "Unavailable",
    "build_intake",
    "kafka_check",
    "make_intake_producer",
    "settle_heap",
]

PROBE_INTERVAL_S: Final = 1.0
"""How often a producer's background probe asks Kafka whether it can take votes."""

BatchItem = tuple[Ballot, str | None] | InvalidVote
"""A ballot with its transport key, or the error a transport found parsing it."""


class Unavailable(Exception):
    """Kafka did not acknowledge the vote in time; the client may retry with ``vote_id``."""

    def __init__(self, vote_id: str, reason: str) -> None:
        super().__init__(f"the vote could not be queued: {reason}")
        self.vote_id = vote_id
        self.reason = reason


class IntakeMetrics:
    """Prometheus metrics of a producer: accepted, rejected by rule, failed, latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.votes = Counter(
            "certamen_producer_votes",
            "Votes handled by the producer, by outcome (accepted, rejected, failed).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            "certamen_producer_rejected",
            "Rejected ballots by the field and rule they broke.",
            ["channel", "field", "rule"],
            registry=registry,
        )
        self.latency = Histogram(
            "certamen_producer_cast_seconds",
            "Time from a valid ballot to Kafka's acknowledgement.",
            ["channel"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.kafka_ready = Gauge(
            "certamen_producer_kafka_ready",
            "1 while the background probe reaches Kafka and the votes topic, else 0.",
            ["channel"],
            registry=registry,
        )

    def reject(self, channel: Channel, error: InvalidVote) -> None:
        """Count a rejected ballot under its field and rule."""
        self.votes.labels(channel, "rejected").inc()
        self.rejected.labels(channel, error.field, error.rule).inc()


class Intake:
    """Stamps ballots into votes and puts them on Kafka, waiting for the acknowledgement."""

    def __init__(
        self,
        producer: KafkaRecordProducer,
        *,
        topic: str,
        channel: Channel,
        catalog: Catalog | None,
        timeout_s: float,
        metrics: IntakeMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        readiness: KafkaReadiness | None = None,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._channel = channel
        self._catalog = catalog
        self._timeout_s = timeout_s
        self.metrics = metrics
        self._clock = clock
        self._readiness = readiness
        # Bound once: ``labels()`` is a dict lookup under a lock on every call otherwise.
        self._accepted = metrics.votes.labels(channel, "accepted")
        self._failed = metrics.votes.labels(channel, "failed")
        self._latency = metrics.latency.labels(channel)
        self._deadlines = _Deadlines(timeout_s)

    def year_now(self) -> int:
        """The current year by the intake's clock: the upper bound of a ballot's year."""
        return self._clock().year

    def stamp(self, ballot: Ballot, transport_key: str | None = None) -> Vote:
        """Check the catalog, choose the vote id and stamp the ballot; raise InvalidVote."""
        try:
            if self._catalog is not None:
                ballot = self._catalog.check(ballot)
            vote_id = resolve_vote_id(transport_key, ballot.vote_id)
        except InvalidVote as e:
            self.reject(e)
            raise
        return Vote.from_ballot(
            ballot, vote_id=vote_id, channel=self._channel, received_at=self._clock()
        )

    def reject(self, error: InvalidVote) -> None:
        """Count a ballot rejected before or during stamping."""
        self.metrics.reject(self._channel, error)

    def cast(self, ballot: Ballot, transport_key: str | None = None) -> Vote:
        """Stamp and queue one vote; return it once Kafka acknowledged it.

        Raises :class:`InvalidVote` for a bad vote (counted) and :class:`Unavailable`
        when Kafka did not acknowledge it within the timeout or is known to be down.
        """
        (outcome,) = self._wait([self.stamp(ballot, transport_key)])
        if isinstance(outcome, Unavailable):
            raise outcome
        return outcome

    def cast_many(self, items: Sequence[BatchItem]) -> list[Vote | InvalidVote | Unavailable]:
        """Queue a batch in one go; each item gets its own vote, error or unavailability.

        An :class:`InvalidVote` item (a ballot the transport could not parse) is
        counted as rejected here, so callers must not count it themselves.
        """
        stamped = self._stamp_all(items)
        outcomes = iter(self._wait([v for v in stamped if isinstance(v, Vote)]))
        return [next(outcomes) if isinstance(v, Vote) else v for v in stamped]

    async def cast_async(self, ballot: Ballot, transport_key: str | None = None) -> Vote:
        """:meth:`cast` for asyncio servers: waits for Kafka without holding a thread.

        One vote, one future: the unary calls of both producers take this path, so it
        skips the batch bookkeeping of :meth:`cast_many_async`.
        """
        vote = self.stamp(ballot, transport_key)
        started = time.perf_counter()
        error = await self._delivered(vote)
        if error is not None:
            self._failed.inc()
            raise Unavailable(vote.vote_id, error)
        self._accepted.inc()
        self._latency.observe(time.perf_counter() - started)
        return vote

    async def cast_many_async(
        self, items: Sequence[BatchItem]
    ) -> list[Vote | InvalidVote | Unavailable]:
        """:meth:`cast_many` for asyncio servers."""
        stamped = self._stamp_all(items)
        outcomes = iter(await self._wait_async([v for v in stamped if isinstance(v, Vote)]))
        return [next(outcomes) if isinstance(v, Vote) else v for v in stamped]

    async def _delivered(self, vote: Vote) -> str | None:
        """Queue one vote; None once Kafka acknowledged it, else the error (or the timeout)."""
        if self._readiness is not None and not self._readiness.ready:
            return "KafkaUnreachable"
        loop = asyncio.get_running_loop()
        reported: asyncio.Future[str | None] = loop.create_future()
        call = loop_caller(loop)
        try:
            self._producer.send(
                self._topic, vote_record(vote), lambda error: call(set_result_once, reported, error)
            )
        except SendFailed as e:
            return str(e)
        self._deadlines.watch(loop, reported)
        return await reported

    def _stamp_all(self, items: Sequence[BatchItem]) -> list[Vote | InvalidVote]:
        stamped: list[Vote | InvalidVote] = []
        for item in items:
            if isinstance(item, InvalidVote):
                self.reject(item)
                stamped.append(item)
                continue
            try:
                stamped.append(self.stamp(*item))
            except InvalidVote as e:
                stamped.append(e)
        return stamped

    def _wait(self, votes: Sequence[Vote]) -> list[Vote | Unavailable]:
        all_reported = threading.Event()
        deliveries = self._send(votes, all_reported.set)
        all_reported.wait(self._timeout_s)
        return self._settle(deliveries)

    async def _wait_async(self, votes: Sequence[Vote]) -> list[Vote | Unavailable]:
        loop = asyncio.get_running_loop()
        all_reported: asyncio.Future[None] = loop.create_future()
        call = loop_caller(loop)
        deliveries = self._send(votes, lambda: call(set_result_once, all_reported, None))
        # A timer on the same future, cheaper than asyncio.wait_for's wrapper per call.
        deadline = loop.call_later(self._timeout_s, set_result_once, all_reported, None)
        await all_reported
        deadline.cancel()
        return self._settle(deliveries)

    def _send(self, votes: Sequence[Vote], on_all_reported: Callable[[], None]) -> _Deliveries:
        deliveries = _Deliveries(votes, on_all_reported)
        if self._readiness is not None and not self._readiness.ready:
            for index in range(len(votes)):
                deliveries.report(index, "KafkaUnreachable")
            return deliveries
        for index, vote in enumerate(votes):
            try:
                self._producer.send(self._topic, vote_record(vote), deliveries.reporter(index))
            except SendFailed as e:
                deliveries.report(index, str(e))
        return deliveries

    def _settle(self, deliveries: _Deliveries) -> list[Vote | Unavailable]:
        """Each vote, or Unavailable with its error (no report by now: the timeout)."""
        outcomes: list[Vote | Unavailable] = []
        seconds = time.perf_counter() - deliveries.started
        for vote, error in deliveries.reports():
            if error is None:
                self._accepted.inc()
                self._latency.observe(seconds)
                outcomes.append(vote)
            else:
                self._failed.inc()
                outcomes.append(Unavailable(vote.vote_id, error))
        return outcomes


_PENDING: Final = "KafkaTimeoutError"  # what a vote without a delivery report by the deadline gets


class _Deliveries:
    """The delivery reports of one call's votes, counted down as the delivery thread files them.

    ``on_all_reported`` runs once, when the last report is in: one wake-up per call,
    not per vote, whatever the batch size.
    """

    def __init__(self, votes: Sequence[Vote], on_all_reported: Callable[[], None]) -> None:
        self._votes = votes
        self._errors: list[str | None] = [_PENDING] * len(votes)
        self._remaining = len(votes)
        self._lock = threading.Lock()
        self._on_all_reported = on_all_reported
        self.started = time.perf_counter()
        if not votes:
            on_all_reported()

    def reporter(self, index: int) -> Delivered:
        """The delivery callback of vote ``index``."""
        return lambda error: self.report(index, error)

    def report(self, index: int, error: str | None) -> None:
        """File vote ``index``'s report: None when Kafka acknowledged it, else the error."""
        self._errors[index] = error
        with self._lock:
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self._on_all_reported()

    def reports(self) -> list[tuple[Vote, str | None]]:
        """Each vote with its report as of now; reports arriving later come too late."""
        return list(zip(self._votes, list(self._errors), strict=True))


class _Deadlines:
    """Ends the wait of every unary vote not reported by its deadline, with one timer per loop.

    All waits have the same timeout, so deadlines come in the order the votes were
    sent: a queue, checked every :data:`_SWEEP_S`, replaces a timer per call (asyncio
    keeps timers in a heap ordered by Python comparisons; at thousands of votes a
    second that showed in profiles). A vote may wait up to ``_SWEEP_S`` past its deadline.
    """

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: deque[tuple[float, asyncio.Future[str | None]]] = deque()
        self._sweeping = False

    def watch(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[str | None]) -> None:
        """Give ``future`` the Kafka timeout: past it, it gets the timeout error."""
        if loop is not self._loop:  # a new loop (tests run several): forget the old one
            self._loop, self._waiting, self._sweeping = loop, deque(), False
        self._waiting.append((loop.time() + self._timeout_s, future))
        if not self._sweeping:
            self._sweeping = True
            loop.call_later(_SWEEP_S, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            return
        now = loop.time()
        waiting = self._waiting
        while waiting:
            deadline, future = waiting[0]
            if not future.done():
                if deadline > now:
                    break
                future.set_result(_PENDING)
            waiting.popleft()
        self._sweeping = bool(waiting)
        if self._sweeping:
            loop.call_later(_SWEEP_S, self._sweep, loop)


_SWEEP_S: Final = 0.1


YOUNG_GC_THRESHOLD: Final = 10_000
"""Net allocations between two collections of the youngest generation (Python: 700)."""


def settle_heap() -> None:
    """Call once start-up is done: take the collector's cost off the per-vote path.

    - ``gc.freeze()``: the tens of thousands of objects of start-up (modules, the
      kernel, protobuf descriptors, metrics) are never garbage, yet every full
      collection walked them all.
    - A young-generation threshold of :data:`YOUNG_GC_THRESHOLD` instead of 700: the
      objects of the votes in flight (hundreds of requests, each with its coroutine,
      future, and vote) crossed 700 all the time, so a collection ran every few
      requests to find nothing; the garbage of a vote is freed by reference counting.
      Cycles are still collected, after 10,000 net allocations (a pause of ~2 ms).

    Measured on producer-wasm at saturation: collections took ~9 µs a vote (a third
    of it full collections walking the start-up objects), ~0 after
    (load/results/producer-intake.md).
    """
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, 10, 10)


def make_intake_producer(settings: Settings, **overrides: Any) -> KafkaRecordProducer:
    """The one producer of a producer process: acks=all, idempotent, tuned for votes.

    - librdkafka batches, checksums and sends in its own threads, so a vote costs the
      Python side one ``produce()`` and one delivery callback; ``produce()`` never
      waits for the network, so it is safe on an event loop.
    - Batching: ``linger.ms`` 5 (a unary vote waits at most that long for company).
    - Compression: ``settings.kafka_compression`` (default none): on one machine the
      broker is local and CPU is the limit; over a network, ``lz4``.
    - Partitions: librdkafka's default ``consistent_random`` (CRC-32 of the key, the
      vote_id): even spread, and a retried vote_id lands on the same partition.
    """
    config = producer_config(
        settings.kafka_bootstrap_servers,
        compression=settings.kafka_compression,
        role="intake",
        **overrides,
    )
    return KafkaRecordProducer(config)


def build_intake(
    settings: Settings,
    *,
    channel: Channel,
    producer: KafkaRecordProducer,
    catalog: Catalog | None,
    metrics: IntakeMetrics,
    on_change: Callable[[bool], None],
) -> tuple[Intake, KafkaReadiness]:
    """A producer's Intake on ``settings``' votes topic, behind a Kafka probe of that topic.

    Both producers wire these the same way, so they live here once. The probe is
    returned not yet started: the server starts it once its port is open (so start-up
    never waits for Kafka) and stops it at shutdown. ``on_change`` runs in the
    probe's thread on every change of readiness.
    """
    readiness = KafkaReadiness(
        kafka_check(settings, settings.votes_topic),
        interval_s=PROBE_INTERVAL_S,
        on_change=on_change,
    )
    intake = Intake(
        producer,
        topic=settings.votes_topic,
        channel=channel,
        catalog=catalog,
        timeout_s=settings.kafka_timeout_s,
        metrics=metrics,
        readiness=readiness,
    )
    return intake, readiness

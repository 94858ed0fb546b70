"""From a valid ballot to a vote that Kafka has acknowledged: the one path both producers share.

A producer answers success only once Kafka acknowledged the vote (``acks=all``).
Otherwise its answer says which of two things happened (docs/grpc.md, "Answers"):

- :class:`Refused`, "not taken": decided before the vote was handed to Kafka (Kafka is
  known to be away, too many calls are in flight, the caller's deadline cannot be met)
  or Kafka's client would not queue it. The vote is never counted; the client may
  send it again after ``retry_after_s``.
- :class:`OutcomeUnknown`: the vote was handed to Kafka and Kafka's client gave up on it
  without an acknowledgement. It may have been written just before, so it may be
  counted; sent again with its vote id it counts at most once.

One timeout: librdkafka's own delivery timeout (``message.timeout.ms`` =
``CERTAMEN_KAFKA_TIMEOUT``). Every vote handed to Kafka gets its delivery report within
it, so Intake waits for that report and keeps no timer of its own; an unknown outcome
is answered when Kafka's client has given up on the record, after which it can no
longer be written (but for a produce request the broker already held).

Public API used by producer-grpc and producer-wasm:

- :func:`make_intake_producer`: the process's one Kafka producer, tuned for votes.
- :class:`Intake`: ``cast`` (one vote), ``cast_many`` (a batch), ``stamp``, ``reject``,
  ``year_now``; :class:`Refused`, :class:`OutcomeUnknown`, :class:`KeyConflict`.
- :class:`IntakeMetrics`: ``certamen_producer_votes_total{channel,outcome}``,
  ``certamen_producer_refused_total{channel,reason}``,
  ``certamen_producer_rejected_total{channel,field,rule}``,
  ``certamen_producer_cast_seconds{channel}``, ``certamen_producer_kafka_ready{channel}``,
  ``certamen_producer_calls_in_flight{channel}``.
- :func:`build_intake`: a producer's Intake and its Kafka probe, wired the same way for
  both channels (the caller starts and stops the probe).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

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
    "KeyConflict",
    "OutcomeUnknown",
    "Refused",
    "build_intake",
    "kafka_check",
    "make_intake_producer",
]

PROBE_INTERVAL_S: Final = 1.0
"""How often a producer's background probe asks Kafka whether it can take votes."""

RETRY_AFTER_S: Final = 1
"""What a refusal tells the client to wait before sending the vote again."""

RECENT_KEYS: Final = 10_000
"""Idempotency keys a producer process remembers, with their ballot and answer."""

BatchItem = tuple[Ballot, str | None] | InvalidVote
"""A ballot with its transport key, or the error a transport found parsing it."""

RefusalReason = Literal["kafka_unreachable", "in_flight_limit", "deadline", "queue_full"]


class Refused(Exception):
    """Not taken: the vote was never handed to Kafka, so it is never counted."""

    def __init__(self, vote_id: str, reason: RefusalReason, detail: str) -> None:
        super().__init__(f"the vote was not taken: {detail}")
        self.vote_id = vote_id
        self.reason = reason
        self.detail = detail
        self.retry_after_s = RETRY_AFTER_S


class OutcomeUnknown(Exception):
    """Handed to Kafka, never acknowledged: it may count; its vote id makes a retry safe."""

    def __init__(self, vote_id: str, error: str) -> None:
        super().__init__(f"Kafka did not acknowledge the vote ({error}); it may still count")
        self.vote_id = vote_id
        self.error = error


class KeyConflict(InvalidVote):
    """The idempotency key already names a different ballot (409 / ALREADY_EXISTS)."""

    def __init__(self, vote_id: str) -> None:
        super().__init__(
            "vote_id",
            "conflict",
            f"the key {vote_id!r} was already used for a different ballot; "
            "a new vote needs a new key",
        )
        self.vote_id = vote_id


class IntakeMetrics:
    """Prometheus metrics of a producer: outcomes, refusals by reason, latency, calls."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.votes = Counter(
            "certamen_producer_votes",
            "Votes handled by the producer, by outcome (accepted, rejected, conflict, "
            "refused, unknown, replayed).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.refused = Counter(
            "certamen_producer_refused",
            "Votes refused before they were handed to Kafka, by reason.",
            ["channel", "reason"],
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
        self.in_flight = Gauge(
            "certamen_producer_calls_in_flight",
            "Calls waiting for Kafka's answer right now.",
            ["channel"],
            registry=registry,
        )

    def reject(self, channel: Channel, error: InvalidVote) -> None:
        """Count a rejected ballot under its field and rule (a key conflict apart)."""
        outcome = "conflict" if isinstance(error, KeyConflict) else "rejected"
        self.votes.labels(channel, outcome).inc()
        self.rejected.labels(channel, error.field, error.rule).inc()


class _Admission:
    """Decides, before a call's votes go to Kafka, whether they can be queued in time.

    A call is refused when Kafka is known to be away, when ``limit`` calls are already
    waiting, or when the expected wait exceeds its deadline. The expected wait is how
    long the oldest call still waiting has waited: Kafka's client sends in order, so a
    new vote waits at least as long as that (0 when nothing waits).
    """

    def __init__(self, limit: int, readiness: KafkaReadiness | None) -> None:
        self._limit = limit
        self._readiness = readiness
        self.calls = 0
        self._waiting: deque[tuple[float, asyncio.Future[Any]]] = deque()

    def admit(self, vote_id: str, budget_s: float) -> None:
        """Raise :class:`Refused` when the call cannot be queued within ``budget_s``."""
        if self._readiness is not None and not self._readiness.ready:
            raise Refused(vote_id, "kafka_unreachable", "Kafka is unreachable")
        if self.calls >= self._limit:
            raise Refused(vote_id, "in_flight_limit", f"{self._limit} calls are in flight")
        if budget_s <= 0:
            raise Refused(vote_id, "deadline", "the caller's deadline has passed")
        waited = self.expected_wait_s()
        if waited >= budget_s:
            raise Refused(
                vote_id,
                "deadline",
                f"votes wait {waited:.2f} s for Kafka, the deadline is {budget_s:.2f} s away",
            )

    def expected_wait_s(self) -> float:
        """How long the oldest call still waiting for Kafka has waited."""
        waiting = self._waiting
        while waiting and waiting[0][1].done():
            waiting.popleft()
        return time.monotonic() - waiting[0][0] if waiting else 0.0

    def waiting(self, future: asyncio.Future[Any]) -> None:
        """A call's votes were handed to Kafka; ``future`` is done when all are reported."""
        self._waiting.append((time.monotonic(), future))


class _RecentKeys:
    """The idempotency keys of recent votes, each with its ballot and, once taken, the vote.

    A retry with the same ballot is answered with the vote Kafka already took (nothing
    is sent again); the same key with another ballot is a :class:`KeyConflict`. Per
    process and bounded: a retry that misses it is sent again, and the consumer, which
    counts a vote id once, keeps it at one vote.
    """

    def __init__(self, capacity: int = RECENT_KEYS) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[tuple[object, ...], Vote | None]] = OrderedDict()

    def taken(self, vote: Vote) -> Vote | None:
        """The vote already taken under ``vote``'s key; raise KeyConflict for another ballot."""
        entry = self._entries.get(vote.vote_id)
        if entry is None:
            return None
        if entry[0] != _ballot_of(vote):
            raise KeyConflict(vote.vote_id)
        self._entries.move_to_end(vote.vote_id)
        return entry[1]

    def remember(self, vote: Vote, *, taken: bool) -> None:
        """Remember the key's ballot, and the vote itself once Kafka took it."""
        self._entries[vote.vote_id] = (_ballot_of(vote), vote if taken else None)
        self._entries.move_to_end(vote.vote_id)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


def _ballot_of(vote: Vote) -> tuple[object, ...]:
    return (vote.name, vote.album, vote.year, vote.rank)


@dataclass(frozen=True, slots=True)
class _Unsent:
    """A batch's vote still to be handed to Kafka, and whether its client chose the key."""

    vote: Vote
    keyed: bool


def _not_queued(error: str) -> str:
    return f"Kafka's client would not queue it ({error})"


class Intake:
    """Stamps ballots into votes and puts them on Kafka, waiting for its delivery report."""

    def __init__(
        self,
        producer: KafkaRecordProducer,
        *,
        topic: str,
        channel: Channel,
        catalog: Catalog | None,
        timeout_s: float,
        max_in_flight: int,
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
        self._admission = _Admission(max_in_flight, readiness)
        self._keys = _RecentKeys()
        # Bound once: ``labels()`` is a dict lookup under a lock on every call otherwise.
        self._accepted = metrics.votes.labels(channel, "accepted")
        self._refused = metrics.votes.labels(channel, "refused")
        self._unknown = metrics.votes.labels(channel, "unknown")
        self._replayed = metrics.votes.labels(channel, "replayed")
        self._latency = metrics.latency.labels(channel)
        metrics.in_flight.labels(channel).set_function(lambda: self._admission.calls)

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

    async def cast(
        self,
        ballot: Ballot,
        transport_key: str | None = None,
        *,
        deadline_s: float | None = None,
    ) -> Vote:
        """Stamp and queue one vote; return it once Kafka acknowledged it.

        ``deadline_s``: the seconds the caller still waits (a gRPC deadline), if it
        said; never more than the Kafka timeout counts. Raises :class:`InvalidVote`
        (counted; :class:`KeyConflict` among them), :class:`Refused` or
        :class:`OutcomeUnknown`.
        """
        vote = self.stamp(ballot, transport_key)
        keyed = transport_key is not None or ballot.vote_id is not None
        if keyed:
            earlier = self._known(vote)
            if earlier is not None:
                return earlier
        self._admit(vote.vote_id, deadline_s)
        if keyed:
            self._keys.remember(vote, taken=False)
        admission = self._admission
        admission.calls += 1
        try:
            started = time.perf_counter()
            error = await self._delivered(vote)
        finally:
            admission.calls -= 1
        if error is not None:
            self._unknown.inc()
            raise OutcomeUnknown(vote.vote_id, error)
        if keyed:
            self._keys.remember(vote, taken=True)
        self._accepted.inc()
        self._latency.observe(time.perf_counter() - started)
        return vote

    async def cast_many(
        self, items: Sequence[BatchItem], *, deadline_s: float | None = None
    ) -> list[Vote | InvalidVote | Refused | OutcomeUnknown]:
        """Queue a batch in one go; each item gets its own vote, error or refusal.

        An :class:`InvalidVote` item (a ballot the transport could not parse) is
        counted as rejected here, so callers must not count it themselves. The batch
        is admitted or refused as a whole: it is one call.
        """
        outcomes: list[Vote | InvalidVote | Refused | OutcomeUnknown] = []
        sending: list[tuple[int, _Unsent]] = []
        for item in items:
            judged = self._batch_vote(item)
            if isinstance(judged, _Unsent):
                sending.append((len(outcomes), judged))
                outcomes.append(judged.vote)  # replaced by its outcome below
            else:
                outcomes.append(judged)
        sent = await self._cast_votes([unsent.vote for _, unsent in sending], deadline_s)
        for (position, unsent), outcome in zip(sending, sent, strict=True):
            outcomes[position] = outcome
            if unsent.keyed and not isinstance(outcome, Refused):
                self._keys.remember(unsent.vote, taken=isinstance(outcome, Vote))
        return outcomes

    def _batch_vote(self, item: BatchItem) -> Vote | InvalidVote | _Unsent:
        """A batch item judged: an error, the vote taken earlier under its key, or to send."""
        if isinstance(item, InvalidVote):
            self.reject(item)
            return item
        ballot, transport_key = item
        try:
            vote = self.stamp(ballot, transport_key)
        except InvalidVote as e:
            return e
        keyed = transport_key is not None or ballot.vote_id is not None
        if keyed:
            try:
                earlier = self._known(vote)
            except KeyConflict as e:
                return e
            if earlier is not None:
                return earlier
        return _Unsent(vote, keyed)

    def _known(self, vote: Vote) -> Vote | None:
        """The vote Kafka took earlier under this key (a replay), or None; KeyConflict if
        the key names another ballot (counted)."""
        try:
            earlier = self._keys.taken(vote)
        except KeyConflict as e:
            self.reject(e)
            raise
        if earlier is not None:
            self._replayed.inc()
        return earlier

    async def _cast_votes(
        self, votes: Sequence[Vote], deadline_s: float | None
    ) -> list[Vote | Refused | OutcomeUnknown]:
        if not votes:
            return []
        try:
            self._admit(votes[0].vote_id, deadline_s, votes=len(votes))
        except Refused as refused:
            return [Refused(v.vote_id, refused.reason, refused.detail) for v in votes]
        admission = self._admission
        admission.calls += 1
        try:
            deliveries = _Deliveries(len(votes), asyncio.get_running_loop())
            for index, vote in enumerate(votes):
                try:
                    self._producer.send(self._topic, vote_record(vote), deliveries.reporter(index))
                except SendFailed as e:
                    deliveries.refuse(index, str(e))
            admission.waiting(deliveries.all_reported)
            await deliveries.all_reported
        finally:
            admission.calls -= 1
        return self._outcomes(votes, deliveries)

    def _admit(self, vote_id: str, deadline_s: float | None, *, votes: int = 1) -> None:
        """Refuse (and count) a call that cannot be queued within its deadline."""
        budget = self._timeout_s if deadline_s is None else min(deadline_s, self._timeout_s)
        try:
            self._admission.admit(vote_id, budget)
        except Refused as e:
            self._count_refused(e.reason, votes)
            raise

    async def _delivered(self, vote: Vote) -> str | None:
        """Hand one vote to Kafka; None once acknowledged, else the error of its report."""
        loop = asyncio.get_running_loop()
        reported: asyncio.Future[str | None] = loop.create_future()
        call = loop_caller(loop)
        try:
            self._producer.send(
                self._topic, vote_record(vote), lambda error: call(set_result_once, reported, error)
            )
        except SendFailed as e:
            self._count_refused("queue_full", 1)
            raise Refused(vote.vote_id, "queue_full", _not_queued(str(e))) from e
        self._admission.waiting(reported)
        return await reported

    def _count_refused(self, reason: RefusalReason, votes: int) -> None:
        self._refused.inc(votes)
        self.metrics.refused.labels(self._channel, reason).inc(votes)

    def _outcomes(
        self, votes: Sequence[Vote], deliveries: _Deliveries
    ) -> list[Vote | Refused | OutcomeUnknown]:
        """Each vote, or why it is not taken (never sent) or unknown (no acknowledgement)."""
        outcomes: list[Vote | Refused | OutcomeUnknown] = []
        seconds = time.perf_counter() - deliveries.started
        for vote, (sent, error) in zip(votes, deliveries.reports(), strict=True):
            if not sent:
                self._count_refused("queue_full", 1)
                outcomes.append(Refused(vote.vote_id, "queue_full", _not_queued(error or "")))
            elif error is None:
                self._accepted.inc()
                self._latency.observe(seconds)
                outcomes.append(vote)
            else:
                self._unknown.inc()
                outcomes.append(OutcomeUnknown(vote.vote_id, error))
        return outcomes


class _Deliveries:
    """The delivery reports of one batch's votes, counted down as they come.

    ``all_reported`` is done once the last report is in: one wake-up per call, not per
    vote, whatever the batch size. Reports come on the loop's thread or, before the
    loop serves them, the producer's thread (the countdown takes a lock).
    """

    def __init__(self, count: int, loop: asyncio.AbstractEventLoop) -> None:
        self._sent = [True] * count
        self._errors: list[str | None] = [None] * count
        self._remaining = count
        self._lock = threading.Lock()
        self._call = loop_caller(loop)
        self.all_reported: asyncio.Future[None] = loop.create_future()
        self.started = time.perf_counter()

    def reporter(self, index: int) -> Delivered:
        """The delivery callback of vote ``index``."""
        return lambda error: self._report(index, error)

    def refuse(self, index: int, error: str) -> None:
        """Vote ``index`` was never handed to Kafka."""
        self._sent[index] = False
        self._report(index, error)

    def _report(self, index: int, error: str | None) -> None:
        self._errors[index] = error
        with self._lock:
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self._call(set_result_once, self.all_reported, None)

    def reports(self) -> list[tuple[bool, str | None]]:
        """Each vote: whether it was handed to Kafka, and its error (None: acknowledged)."""
        return list(zip(self._sent, self._errors, strict=True))


def make_intake_producer(settings: Settings, **overrides: Any) -> KafkaRecordProducer:
    """The one producer of a producer process: acks=all, idempotent, tuned for votes.

    - librdkafka batches, checksums and sends in its own threads, so a vote costs the
      Python side one ``produce()`` and one delivery callback; ``produce()`` never
      waits for the network, so it is safe on an event loop.
    - Delivery timeout (``message.timeout.ms``): ``settings.kafka_timeout_s``, the one
      timeout of a vote. Every record gets its report within it (acknowledged, or given
      up), so a producer's answer never says "not taken" for a record librdkafka still
      holds and may deliver later.
    - Batching: ``linger.ms`` 5 (a unary vote waits at most that long for company).
    - Compression: ``settings.kafka_compression`` (default none): on one machine the
      broker is local and CPU is the limit; over a network, ``lz4``.
    - Partitions: records have no key, so librdkafka's sticky partitioner sends a
      linger window's votes to one partition: one batch per produce request
      (docs/vote-contract.md).
    """
    config = producer_config(
        settings.kafka_bootstrap_servers,
        compression=settings.kafka_compression,
        role="intake",
        delivery_timeout_s=settings.kafka_timeout_s,
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
        # Kafka counts as away when it does not answer within a vote's own timeout: a
        # slow answer on a busy machine is not a reason to refuse votes.
        kafka_check(settings, settings.votes_topic, timeout_s=settings.kafka_timeout_s),
        interval_s=PROBE_INTERVAL_S,
        on_change=on_change,
    )
    intake = Intake(
        producer,
        topic=settings.votes_topic,
        channel=channel,
        catalog=catalog,
        timeout_s=settings.kafka_timeout_s,
        max_in_flight=settings.producer_max_in_flight,
        metrics=metrics,
        readiness=readiness,
    )
    return intake, readiness

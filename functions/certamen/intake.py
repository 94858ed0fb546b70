"""From a valid ballot to a vote that Kafka has acknowledged: the one path both producers share.

A producer answers success only after :meth:`Intake.cast` returned, that is after
Kafka acknowledged the record with ``acks=all``. Anything else is an error.

Public API used by producer-grpc and producer-wasm (keep it stable; owner: the
producer-grpc maintainer):

- :func:`make_intake_producer` — the process's one KafkaProducer, tuned for votes.
- :class:`Intake` (``cast``, ``cast_many``, ``stamp``, ``reject``, ``year_now``) and
  :class:`Unavailable`; ``Intake(..., readiness=...)`` answers Unavailable at once
  while Kafka is known to be unreachable instead of holding a thread for the timeout.
- :class:`IntakeMetrics`: ``certamen_producer_votes_total{channel,outcome}``,
  ``certamen_producer_rejected_total{channel,field,rule}``,
  ``certamen_producer_cast_seconds{channel}``, ``certamen_producer_kafka_ready{channel}``.
- :class:`KafkaReadiness` + :func:`kafka_check`: the background Kafka probe behind
  gRPC health and HTTP ``/readyz``; read ``readiness.ready``, never probe per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError
from kafka.partitioner.abc import Partitioner
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from certamen.adapters.kafka import make_admin, make_producer, send_message
from certamen.contract import (
    Ballot,
    Catalog,
    Channel,
    InvalidVote,
    Vote,
    resolve_vote_id,
    vote_to_kafka,
)
from certamen.settings import Settings

log = logging.getLogger(__name__)

# The oldest broker we support. Fixed, so that kafka-python does not probe the broker
# in the producer's constructor: the producer can be created while Kafka is down, and
# start-up does not wait for a round trip. Request versions are still negotiated.
KAFKA_API_VERSION = (3, 0)


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
        producer: KafkaProducer,
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
        (outcome,) = self._wait([self._send(self.stamp(ballot, transport_key))])
        if isinstance(outcome, Unavailable):
            raise outcome
        return outcome

    def cast_many(self, items: Sequence[BatchItem]) -> list[Vote | InvalidVote | Unavailable]:
        """Queue a batch in one go; each item gets its own vote, error or unavailability.

        An :class:`InvalidVote` item (a ballot the transport could not parse) is
        counted as rejected here, so callers must not count it themselves.
        """
        pending = self._queue(items)
        outcomes = iter(self._wait([p for p in pending if isinstance(p, _Sent)]))
        return [next(outcomes) if isinstance(p, _Sent) else p for p in pending]

    async def cast_async(self, ballot: Ballot, transport_key: str | None = None) -> Vote:
        """:meth:`cast` for asyncio servers: waits for Kafka without holding a thread."""
        (outcome,) = await self._wait_async([self._send(self.stamp(ballot, transport_key))])
        if isinstance(outcome, Unavailable):
            raise outcome
        return outcome

    async def cast_many_async(
        self, items: Sequence[BatchItem]
    ) -> list[Vote | InvalidVote | Unavailable]:
        """:meth:`cast_many` for asyncio servers."""
        pending = self._queue(items)
        outcomes = iter(await self._wait_async([p for p in pending if isinstance(p, _Sent)]))
        return [next(outcomes) if isinstance(p, _Sent) else p for p in pending]

    def _queue(self, items: Sequence[BatchItem]) -> list[Vote | InvalidVote | _Sent]:
        pending: list[Vote | InvalidVote | _Sent] = []
        for item in items:
            if isinstance(item, InvalidVote):
                self.reject(item)
                pending.append(item)
                continue
            try:
                vote = self.stamp(*item)
            except InvalidVote as e:
                pending.append(e)
                continue
            pending.append(self._send(vote))
        return pending

    def _send(self, vote: Vote) -> _Sent:
        started = time.perf_counter()
        if self._readiness is not None and not self._readiness.ready:
            return _Sent(vote, KafkaUnreachable("the readiness probe cannot reach Kafka"), started)
        try:
            future = send_message(self._producer, self._topic, vote_to_kafka(vote))
        except KafkaError as e:
            future = e
        return _Sent(vote, future, started)

    def _wait(self, sent: Sequence[_Sent]) -> list[Vote | Unavailable]:
        deadline = time.monotonic() + self._timeout_s
        for one in sent:
            if not isinstance(one.future, Exception):
                with contextlib.suppress(KafkaError):  # _outcome reads it from the future
                    one.future.get(timeout=max(0.0, deadline - time.monotonic()))
        return [self._outcome(one) for one in sent]

    async def _wait_async(self, sent: Sequence[_Sent]) -> list[Vote | Unavailable]:
        futures = [one.future for one in sent if not isinstance(one.future, Exception)]
        if futures:
            all_done = _all_done(asyncio.get_running_loop(), futures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_done, self._timeout_s)
        return [self._outcome(one) for one in sent]

    def _outcome(self, sent: _Sent) -> Vote | Unavailable:
        """Accepted or Unavailable, from a future that is done, failed or still waiting."""
        future = sent.future
        if isinstance(future, Exception):
            problem = type(future).__name__
        elif not future.is_done:
            problem = "KafkaTimeoutError"  # no acknowledgement within the timeout
        elif future.failed():
            problem = type(future.exception).__name__
        else:
            self._accepted.inc()
            self._latency.observe(time.perf_counter() - sent.started)
            return sent.vote
        self._failed.inc()
        return Unavailable(sent.vote.vote_id, problem)


BatchItem = tuple[Ballot, str | None] | InvalidVote


@dataclass(frozen=True, slots=True)
class _Sent:
    """A vote handed to the producer: its kafka-python future, or why it was not sent."""

    vote: Vote
    future: Any
    started: float


def _all_done(loop: asyncio.AbstractEventLoop, futures: Sequence[Any]) -> asyncio.Future[None]:
    """An asyncio future resolved once every kafka-python future is done.

    kafka-python completes futures in its sender thread; one wake-up of the event
    loop per call (not per vote) keeps a 500-vote batch cheap.
    """
    done: asyncio.Future[None] = loop.create_future()
    remaining = [len(futures)]
    lock = threading.Lock()

    def resolve() -> None:
        if not done.done():
            done.set_result(None)

    def one_done(_: object) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last and not loop.is_closed():
            loop.call_soon_threadsafe(resolve)

    for future in futures:
        future.add_both(one_done)
    return done


class KafkaUnreachable(Exception):
    """The readiness probe says Kafka is down: the vote was not sent at all."""


class _VoteIdPartitioner(Partitioner):  # type: ignore[misc]  # kafka-python is untyped
    """Spreads records over partitions by a CRC-32 of the key (the vote_id).

    kafka-python's default murmur2 is pure Python and cost ~13% of a producer's CPU;
    zlib's CRC-32 is C and spreads UUIDs just as evenly. Nothing relies on Java's
    partition assignment: the consumer is idempotent by vote_id on any partition.
    """

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        """The partition for a record of ``topic``."""
        partitions = sorted(cluster.partitions_for_topic(topic))
        return int(partitions[zlib.crc32(serialized_key or b"") % len(partitions)])


def make_intake_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """The one producer of a producer process: acks=all, idempotent, tuned for votes.

    - ``api_version`` fixed (see :data:`KAFKA_API_VERSION`): no broker round trip at
      start-up, and the producer exists even while Kafka is down.
    - ``max_block_ms`` 250: ``send()`` may run on an event loop, so it must not block
      for long (it blocks only for missing metadata, which :func:`kafka_check` warms,
      or a full 32 MiB buffer, which readiness prevents by failing fast).
    - Batching: ``linger_ms`` 5 and 64 KiB batches (make_producer's defaults).
    - Compression: ``settings.kafka_compression`` (default none). On one machine the
      Python client is CPU-bound and lz4 cost ~25% of the batch throughput
      (load/results/); on a cluster over a network, ``lz4`` is the choice.
    """
    options: dict[str, Any] = {
        "api_version": KAFKA_API_VERSION,
        "max_block_ms": 250,
        "partitioner": _VoteIdPartitioner(),
        "client_id": "certamen-intake",
    }
    if settings.kafka_compression != "none":
        options["compression_type"] = settings.kafka_compression
    options.update(overrides)
    return make_producer(settings, **options)


class KafkaReadiness:
    """Whether Kafka can take votes now, from a check run in a background thread.

    Both producers report it (gRPC health, HTTP ``/readyz``) and give it to
    :class:`Intake`, which then answers Unavailable at once while Kafka is down. A
    request never waits for a probe: it reads :attr:`ready`.
    """

    def __init__(
        self,
        check: Callable[[], None],
        *,
        interval_s: float = 1.0,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._check = check
        self._interval_s = interval_s
        self._on_change = on_change
        self._ready = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        """The last probe's answer (False until the first probe succeeded)."""
        return self._ready

    def check_now(self) -> bool:
        """Probe once, in the caller's thread; report a change; return the answer."""
        try:
            self._check()
            ready, problem = True, ""
        except Exception as e:  # any failure of the check means "not ready"
            ready, problem = False, f"{type(e).__name__}: {e}"
        if ready != self._ready:
            self._ready = ready
            if ready:
                log.info("kafka reachable", extra={"event": "kafka_ready"})
            else:
                log.warning(
                    "kafka unreachable", extra={"event": "kafka_unready", "problem": problem}
                )
            if self._on_change is not None:
                self._on_change(ready)
        return ready

    def start(self) -> None:
        """Probe now and then every ``interval_s``, in a daemon thread (never the caller's)."""
        self._thread = threading.Thread(target=self._loop, name="kafka-readiness", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop probing (waits for a probe in progress)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        self.check_now()
        while not self._stopping.wait(self._interval_s):
            self.check_now()


def kafka_check(
    settings: Settings,
    topic: str,
    *,
    producer: KafkaProducer | None = None,
    timeout_s: float = 2.0,
) -> Callable[[], None]:
    """A check for :class:`KafkaReadiness`: the broker answers and ``topic`` has leaders.

    With ``producer``, the check also makes sure that producer knows the topic's
    partitions, so that a vote's ``send()`` never waits for metadata (on an asyncio
    server that wait would stall every call).

    One admin client is kept between probes and replaced after a failure:
    kafka-python's admin client does not recover by itself once its broker went away.
    """
    probe_settings = replace(settings, kafka_timeout_s=min(timeout_s, settings.kafka_timeout_s))
    admin: list[KafkaAdminClient] = []

    def check() -> None:
        try:
            if not admin:
                admin.append(make_admin(probe_settings))
            (description,) = admin[0].describe_topics([topic])
            if description["error_code"] != 0:
                raise KafkaError(f"topic {topic!r}: error code {description['error_code']}")
            partitions = description["partitions"]
            if not partitions or any(p["leader_id"] < 0 for p in partitions):
                raise KafkaError(f"topic {topic!r} has a partition without a leader")
            if producer is not None:
                producer.partitions_for(topic)  # waits at most max_block_ms
        except Exception:
            if admin:
                admin.pop().close()
            raise

    return check

"""From a valid ballot to a vote that Kafka has acknowledged: the one path both producers share.

A producer answers success only after :meth:`Intake.cast` returned, that is after
Kafka acknowledged the record with ``acks=all``. Anything else is an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Histogram

from certamen.adapters.kafka import send_message
from certamen.contract import (
    Ballot,
    Catalog,
    Channel,
    InvalidVote,
    Vote,
    resolve_vote_id,
    vote_to_kafka,
)


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
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._channel = channel
        self._catalog = catalog
        self._timeout_s = timeout_s
        self.metrics = metrics
        self._clock = clock

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
        """Stamp and queue one vote; return it once Kafka acknowledged it."""
        vote: Vote = self._wait([self._send(self.stamp(ballot, transport_key))])[0]
        return vote

    def cast_many(
        self, items: Sequence[tuple[Ballot, str | None] | InvalidVote]
    ) -> list[Vote | InvalidVote | Unavailable]:
        """Queue a batch in one go; each item gets its own vote, error or unavailability."""
        pending: list[Vote | InvalidVote | tuple[Vote, Any]] = []
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
        sent = [p for p in pending if isinstance(p, tuple)]
        outcomes = iter(self._wait(sent, raise_first=False))
        return [next(outcomes) if isinstance(p, tuple) else p for p in pending]

    def _send(self, vote: Vote) -> tuple[Vote, Any]:
        started = time.perf_counter()
        try:
            future = send_message(self._producer, self._topic, vote_to_kafka(vote))
        except KafkaError as e:
            future = e
        return vote, (future, started)

    def _wait(self, sent: Sequence[tuple[Vote, Any]], *, raise_first: bool = True) -> list[Any]:
        outcomes: list[Vote | Unavailable] = []
        deadline = time.monotonic() + self._timeout_s
        for vote, (future, started) in sent:
            try:
                if isinstance(future, KafkaError):
                    raise future
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except KafkaError as e:
                self.metrics.votes.labels(self._channel, "failed").inc()
                failure = Unavailable(vote.vote_id, type(e).__name__)
                if raise_first:
                    raise failure from e
                outcomes.append(failure)
                continue
            self.metrics.votes.labels(self._channel, "accepted").inc()
            self.metrics.latency.labels(self._channel).observe(time.perf_counter() - started)
            outcomes.append(vote)
        return outcomes

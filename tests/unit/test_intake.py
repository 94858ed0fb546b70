"""Intake's own logic with a fake producer: catalog, vote ids, batches, admission, answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from cloudevents.kafka import KafkaMessage
from prometheus_client import CollectorRegistry

from certamen.adapters.kafka_producer import Delivered, SendFailed
from certamen.contract import Ballot, Candidate, Catalog, InvalidVote, Vote
from certamen.producers.intake import (
    Intake,
    IntakeMetrics,
    KeyConflict,
    OutcomeUnknown,
    Refused,
)
from certamen.producers.readiness import KafkaReadiness

T = TypeVar("T")
NOW = datetime(2026, 11, 26, 17, 25, 44, 123456, tzinfo=UTC)
BALLOT = Ballot(name="Bohemia Suburbana", album="Mis palabras", year=1997, rank=9.5)
OTHER = Ballot(name="Bohemia Suburbana", album="Mis palabras", year=1997, rank=3)
CATALOG = Catalog(
    title="test", candidates=(Candidate(band="Bohemia Suburbana", album="Mis palabras", year=1997),)
)


class FakeProducer:
    """Acknowledges at once, except the vote_ids in ``failing`` (an error), ``silent`` (no
    report until :meth:`report`) and ``full`` (produce() refuses them)."""

    def __init__(
        self,
        failing: frozenset[bytes] = frozenset(),
        silent: frozenset[bytes] = frozenset(),
        full: frozenset[bytes] = frozenset(),
    ) -> None:
        self.sent: list[tuple[str, bytes, dict[str, bytes]]] = []
        self._failing = failing
        self._silent = silent
        self._full = full
        self.waiting: dict[bytes, Delivered] = {}

    def send(self, topic: str, message: KafkaMessage, on_delivery: Delivered) -> None:
        vote_id = message.headers["ce_id"]  # records have no key (sticky partitioning)
        assert message.key is None
        if vote_id in self._full:
            raise SendFailed("BufferError")
        self.sent.append((topic, vote_id, dict(message.headers)))
        if vote_id in self._failing:
            on_delivery("_MSG_TIMED_OUT")
        elif vote_id in self._silent:
            self.waiting[vote_id] = on_delivery
        else:
            on_delivery(None)

    def report(self, key: bytes, error: str | None = None) -> None:
        """The delivery report of a silent vote, now."""
        self.waiting.pop(key)(error)


class _Readiness:
    def __init__(self, ready: bool) -> None:
        self.ready = ready


def _intake(
    producer: FakeProducer,
    catalog: Catalog | None = None,
    readiness: Any = None,
    max_in_flight: int = 100,
) -> tuple[Intake, CollectorRegistry]:
    registry = CollectorRegistry()
    intake = Intake(
        producer,  # type: ignore[arg-type]
        topic="votes-test",
        channel="grpc",
        catalog=catalog,
        timeout_s=1.0,
        max_in_flight=max_in_flight,
        metrics=IntakeMetrics(registry),
        clock=lambda: NOW,
        readiness=readiness,
    )
    return intake, registry


def _count(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, {"channel": "grpc", **labels})
    return 0.0 if value is None else value


def run(awaitable: Awaitable[T]) -> T:
    async def wait() -> T:
        return await awaitable

    return asyncio.run(wait())


def test_a_cast_vote_is_sent_once_with_our_event_and_counted() -> None:
    producer = FakeProducer()
    intake, registry = _intake(producer)

    vote = run(intake.cast(BALLOT, "client-key-0001"))

    assert vote == Vote(
        vote_id="client-key-0001",
        name="Bohemia Suburbana",
        album="Mis palabras",
        year=1997,
        rank=9.5,
        channel="grpc",
        received_at="2026-11-26T17:25:44.123Z",
    )
    ((topic, vote_id, headers),) = producer.sent
    assert (topic, vote_id, headers["ce_type"]) == (
        "votes-test",
        b"client-key-0001",
        b"gt.certamen.vote.cast.v1",
    )
    assert _count(registry, "certamen_producer_votes_total", outcome="accepted") == 1
    assert _count(registry, "certamen_producer_cast_seconds_count") == 1


@pytest.mark.parametrize(
    ("transport", "body", "expected"),
    [
        ("transport-key-1", None, "transport-key-1"),
        (None, "body-key-0001", "body-key-0001"),
        ("same-key-0001", "same-key-0001", "same-key-0001"),
    ],
)
def test_the_vote_id_is_the_clients_key_however_it_travels(
    transport: str | None, body: str | None, expected: str
) -> None:
    intake, _ = _intake(FakeProducer())
    ballot = Ballot(BALLOT.name, BALLOT.album, BALLOT.year, BALLOT.rank, vote_id=body)

    assert run(intake.cast(ballot, transport)).vote_id == expected


def test_without_a_key_each_vote_gets_a_new_uuid7() -> None:
    intake, _ = _intake(FakeProducer())

    first, second = run(intake.cast(BALLOT)), run(intake.cast(BALLOT))

    assert first.vote_id != second.vote_id
    assert first.vote_id[14] == "7"  # UUID version 7: time-sortable


def test_two_different_keys_are_a_conflict_and_nothing_is_sent() -> None:
    producer = FakeProducer()
    intake, registry = _intake(producer)
    ballot = Ballot(BALLOT.name, BALLOT.album, BALLOT.year, BALLOT.rank, vote_id="body-key-0001")

    with pytest.raises(InvalidVote) as caught:
        run(intake.cast(ballot, "other-key-0001"))

    assert (caught.value.field, caught.value.rule) == ("vote_id", "conflict")
    assert producer.sent == []
    assert (
        _count(registry, "certamen_producer_rejected_total", field="vote_id", rule="conflict") == 1
    )


def test_with_a_catalog_a_candidate_is_stamped_in_the_catalogs_spelling() -> None:
    intake, _ = _intake(FakeProducer(), CATALOG)
    shouted = Ballot("BOHEMIA SUBURBANA", "mis palabras", 1997, 9.5)

    vote = run(intake.cast(shouted))

    assert (vote.name, vote.album) == ("Bohemia Suburbana", "Mis palabras")


@pytest.mark.parametrize(
    ("ballot", "field"),
    [
        (Ballot("Viernes Verde", "Mis palabras", 1997, 9.5), "name"),
        (Ballot("Bohemia Suburbana", "Otro", 1997, 9.5), "album"),
        (Ballot("Bohemia Suburbana", "Mis palabras", 1998, 9.5), "year"),
    ],
)
def test_with_a_catalog_anything_else_is_rejected(ballot: Ballot, field: str) -> None:
    producer = FakeProducer()
    intake, registry = _intake(producer, CATALOG)

    with pytest.raises(InvalidVote) as caught:
        run(intake.cast(ballot))

    assert (caught.value.field, caught.value.rule) == (field, "not_in_catalog")
    assert producer.sent == []
    assert _count(registry, "certamen_producer_votes_total", outcome="rejected") == 1


def test_without_a_catalog_any_valid_vote_is_accepted() -> None:
    intake, _ = _intake(FakeProducer(), None)

    assert run(intake.cast(Ballot("Viernes Verde", "Otro", 1998, 0))).name == "Viernes Verde"


def test_a_vote_kafka_gave_up_on_is_an_unknown_outcome_with_its_vote_id() -> None:
    producer = FakeProducer(failing=frozenset({b"client-key-0001"}))
    intake, registry = _intake(producer)

    with pytest.raises(OutcomeUnknown) as caught:
        run(intake.cast(BALLOT, "client-key-0001"))

    assert (caught.value.vote_id, caught.value.error) == ("client-key-0001", "_MSG_TIMED_OUT")
    assert _count(registry, "certamen_producer_votes_total", outcome="unknown") == 1
    assert _count(registry, "certamen_producer_votes_total", outcome="refused") == 0
    assert _count(registry, "certamen_producer_votes_total", outcome="accepted") == 0


def test_intake_waits_for_kafkas_report_with_no_timer_of_its_own() -> None:
    producer = FakeProducer(silent=frozenset({b"slow-vote-0001"}))
    intake, _ = _intake(producer)  # timeout_s 1: librdkafka's, not Intake's

    async def late_report() -> Vote:
        cast = asyncio.ensure_future(intake.cast(BALLOT, "slow-vote-0001"))
        await asyncio.sleep(1.3)
        assert not cast.done()
        producer.report(b"slow-vote-0001")
        return await cast

    assert run(late_report()).vote_id == "slow-vote-0001"


def test_a_batch_gives_each_item_its_own_outcome_in_order() -> None:
    producer = FakeProducer(failing=frozenset({b"lost-vote-0001"}))
    intake, registry = _intake(producer, CATALOG)
    unparsable = InvalidVote("rank", "precision", "must have at most two decimals")
    items: list[tuple[Ballot, str | None] | InvalidVote] = [
        (BALLOT, "good-vote-0001"),
        unparsable,
        (Ballot("Viernes Verde", "Otro", 1998, 1), None),
        (BALLOT, "lost-vote-0001"),
        (BALLOT, "good-vote-0002"),
    ]

    outcomes = run(intake.cast_many(items))

    assert isinstance(outcomes[0], Vote) and outcomes[0].vote_id == "good-vote-0001"
    assert outcomes[1] is unparsable
    assert isinstance(outcomes[2], InvalidVote) and outcomes[2].rule == "not_in_catalog"
    assert isinstance(outcomes[3], OutcomeUnknown) and outcomes[3].vote_id == "lost-vote-0001"
    assert isinstance(outcomes[4], Vote) and outcomes[4].vote_id == "good-vote-0002"
    assert [key for _, key, _ in producer.sent] == [
        b"good-vote-0001",
        b"lost-vote-0001",
        b"good-vote-0002",
    ]
    counts = {
        outcome: _count(registry, "certamen_producer_votes_total", outcome=outcome)
        for outcome in ("accepted", "rejected", "unknown", "refused")
    }
    assert counts == {"accepted": 2, "rejected": 2, "unknown": 1, "refused": 0}


def test_while_kafka_is_known_down_votes_are_refused_without_sending() -> None:
    producer = FakeProducer()
    readiness = _Readiness(False)
    intake, registry = _intake(producer, readiness=readiness)

    with pytest.raises(Refused) as caught:
        run(intake.cast(BALLOT, "client-key-0001"))
    batch = run(intake.cast_many([(BALLOT, "client-key-0002"), (BALLOT, "client-key-0003")]))

    assert (caught.value.vote_id, caught.value.reason) == ("client-key-0001", "kafka_unreachable")
    assert caught.value.retry_after_s > 0
    assert [(r.vote_id, r.reason) for r in batch if isinstance(r, Refused)] == [
        ("client-key-0002", "kafka_unreachable"),
        ("client-key-0003", "kafka_unreachable"),
    ]
    assert producer.sent == []
    assert _count(registry, "certamen_producer_refused_total", reason="kafka_unreachable") == 3
    readiness.ready = True
    assert run(intake.cast(BALLOT, "client-key-0001")).vote_id == "client-key-0001"


def test_past_the_in_flight_limit_a_call_is_refused_before_kafka() -> None:
    waiting = frozenset({b"pending-vote-01", b"pending-vote-02"})
    producer = FakeProducer(silent=waiting)
    intake, registry = _intake(producer, max_in_flight=2)

    async def third_call() -> None:
        first = asyncio.ensure_future(intake.cast(BALLOT, "pending-vote-01"))
        second = asyncio.ensure_future(intake.cast(BALLOT, "pending-vote-02"))
        await asyncio.sleep(0.01)
        assert _count(registry, "certamen_producer_calls_in_flight") == 2
        with pytest.raises(Refused) as caught:
            await intake.cast(BALLOT, "one-too-many-01")
        assert caught.value.reason == "in_flight_limit"
        producer.report(b"pending-vote-01")
        producer.report(b"pending-vote-02")
        await asyncio.gather(first, second)
        assert (await intake.cast(BALLOT, "one-too-many-01")).vote_id == "one-too-many-01"

    run(third_call())
    assert b"one-too-many-01" in [key for _, key, _ in producer.sent]
    assert _count(registry, "certamen_producer_refused_total", reason="in_flight_limit") == 1
    assert _count(registry, "certamen_producer_calls_in_flight") == 0


def test_a_deadline_shorter_than_the_wait_for_kafka_is_refused_before_kafka() -> None:
    producer = FakeProducer(silent=frozenset({b"pending-vote-01"}))
    intake, registry = _intake(producer)

    async def calls() -> None:
        pending = asyncio.ensure_future(intake.cast(BALLOT, "pending-vote-01"))
        await asyncio.sleep(0.3)  # Kafka has not answered the oldest vote for 0.3 s
        with pytest.raises(Refused) as caught:
            await intake.cast(BALLOT, "hurried-vote-01", deadline_s=0.2)
        assert caught.value.reason == "deadline"
        patient = asyncio.ensure_future(intake.cast(BALLOT, "patient-vote-1", deadline_s=0.9))
        await asyncio.sleep(0.01)
        producer.report(b"pending-vote-01")
        await asyncio.gather(pending, patient)

    run(calls())
    assert b"hurried-vote-01" not in [key for _, key, _ in producer.sent]
    assert _count(registry, "certamen_producer_refused_total", reason="deadline") == 1


def test_a_vote_kafkas_client_will_not_queue_is_refused() -> None:
    producer = FakeProducer(full=frozenset({b"no-room-vote-1"}))
    intake, registry = _intake(producer)

    with pytest.raises(Refused) as caught:
        run(intake.cast(BALLOT, "no-room-vote-1"))
    (refused,) = run(intake.cast_many([(BALLOT, "no-room-vote-1")]))

    assert caught.value.reason == "queue_full"
    assert isinstance(refused, Refused) and refused.reason == "queue_full"
    assert _count(registry, "certamen_producer_refused_total", reason="queue_full") == 2


def test_a_retry_of_a_taken_vote_gets_the_first_answer_and_is_not_sent_again() -> None:
    producer = FakeProducer()
    intake, registry = _intake(producer)

    first = run(intake.cast(BALLOT, "client-key-0001"))
    again = run(intake.cast(BALLOT, "client-key-0001"))
    (in_batch,) = run(intake.cast_many([(BALLOT, "client-key-0001")]))

    assert again == first and in_batch == first
    assert len(producer.sent) == 1
    assert _count(registry, "certamen_producer_votes_total", outcome="replayed") == 2


@pytest.mark.parametrize("first_answer", ["accepted", "unknown", "in flight"])
def test_the_same_key_with_another_ballot_is_a_conflict_never_sent(first_answer: str) -> None:
    producer = FakeProducer(
        failing=frozenset({b"client-key-0001"}) if first_answer == "unknown" else frozenset(),
        silent=frozenset({b"client-key-0001"}) if first_answer == "in flight" else frozenset(),
    )
    intake, registry = _intake(producer)

    async def both() -> tuple[KeyConflict, Any]:
        first = asyncio.ensure_future(intake.cast(BALLOT, "client-key-0001"))
        await asyncio.sleep(0.01)
        with pytest.raises(KeyConflict) as caught:
            await intake.cast(OTHER, "client-key-0001")
        (in_batch,) = await intake.cast_many([(OTHER, "client-key-0001")])
        if first_answer == "in flight":
            producer.report(b"client-key-0001")
        await asyncio.gather(first, return_exceptions=True)
        return caught.value, in_batch

    conflict, in_batch = run(both())

    assert (conflict.field, conflict.rule, conflict.vote_id) == (
        "vote_id",
        "conflict",
        "client-key-0001",
    )
    assert isinstance(in_batch, KeyConflict)
    assert len(producer.sent) == 1
    assert _count(registry, "certamen_producer_votes_total", outcome="conflict") == 2


def test_a_refused_vote_leaves_its_key_free() -> None:
    readiness = _Readiness(False)
    intake, _ = _intake(FakeProducer(), readiness=readiness)

    with pytest.raises(Refused):
        run(intake.cast(BALLOT, "client-key-0001"))
    readiness.ready = True

    assert run(intake.cast(OTHER, "client-key-0001")).rank == OTHER.rank


def test_readiness_follows_the_check_and_reports_only_changes() -> None:
    answers = iter([None, ConnectionError("down"), ConnectionError("down"), None])

    def check() -> None:
        answer = next(answers)
        if answer is not None:
            raise answer

    changes: list[bool] = []
    readiness = KafkaReadiness(check, on_change=changes.append)

    assert readiness.ready is False  # nothing known before the first check
    assert [readiness.check_now() for _ in range(4)] == [True, False, False, True]
    assert changes == [True, False, True]
    assert readiness.ready is True


def test_kafka_away_at_start_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    def check() -> None:
        raise ConnectionError("refused")

    changes: list[bool] = []
    readiness = KafkaReadiness(check, on_change=changes.append)

    with caplog.at_level(logging.INFO, logger="certamen.readiness"):
        assert [readiness.check_now() for _ in range(3)] == [False, False, False]

    assert [r.getMessage() for r in caplog.records] == ["kafka unreachable"]
    assert caplog.records[0].problem == "ConnectionError: refused"  # type: ignore[attr-defined]
    assert changes == [False]

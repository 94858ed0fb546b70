"""Intake's own logic with a fake producer: catalog, vote ids, batches, readiness, metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.kafka import KafkaMessage
from prometheus_client import CollectorRegistry

from certamen.adapters.kafka_producer import Delivered
from certamen.contract import Ballot, Candidate, Catalog, InvalidVote, Vote
from certamen.producers.intake import Intake, IntakeMetrics, Unavailable
from certamen.producers.readiness import KafkaReadiness

NOW = datetime(2026, 11, 26, 17, 25, 44, 123456, tzinfo=UTC)
BALLOT = Ballot(name="Bohemia Suburbana", album="Mis palabras", year=1997, rank=9.5)
CATALOG = Catalog(
    title="test", candidates=(Candidate(band="Bohemia Suburbana", album="Mis palabras", year=1997),)
)


class FakeProducer:
    """Acknowledges at once, except the vote_ids in ``failing`` (an error) or ``silent``."""

    def __init__(
        self, failing: frozenset[bytes] = frozenset(), silent: frozenset[bytes] = frozenset()
    ) -> None:
        self.sent: list[tuple[str, bytes, dict[str, bytes]]] = []
        self._failing = failing
        self._silent = silent

    def send(self, topic: str, message: KafkaMessage, on_delivery: Delivered) -> None:
        vote_id = message.headers["ce_id"]  # records have no key (sticky partitioning)
        assert message.key is None
        self.sent.append((topic, vote_id, dict(message.headers)))
        if vote_id in self._failing:
            on_delivery("NOT_ENOUGH_REPLICAS")
        elif vote_id not in self._silent:
            on_delivery(None)


class _Readiness:
    def __init__(self, ready: bool) -> None:
        self.ready = ready


def _intake(
    producer: FakeProducer, catalog: Catalog | None = None, readiness: Any = None
) -> tuple[Intake, CollectorRegistry]:
    registry = CollectorRegistry()
    intake = Intake(
        producer,  # type: ignore[arg-type]
        topic="votes-test",
        channel="grpc",
        catalog=catalog,
        timeout_s=1.0,
        metrics=IntakeMetrics(registry),
        clock=lambda: NOW,
        readiness=readiness,
    )
    return intake, registry


def _count(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, {"channel": "grpc", **labels})
    return 0.0 if value is None else value


def test_a_cast_vote_is_sent_once_with_our_event_and_counted() -> None:
    producer = FakeProducer()
    intake, registry = _intake(producer)

    vote = intake.cast(BALLOT, "client-key-0001")

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

    assert intake.cast(ballot, transport).vote_id == expected


def test_without_a_key_each_vote_gets_a_new_uuid7() -> None:
    intake, _ = _intake(FakeProducer())

    first, second = intake.cast(BALLOT).vote_id, intake.cast(BALLOT).vote_id

    assert first != second
    assert first[14] == "7"  # UUID version 7: time-sortable


def test_two_different_keys_are_a_conflict_and_nothing_is_sent() -> None:
    producer = FakeProducer()
    intake, registry = _intake(producer)
    ballot = Ballot(BALLOT.name, BALLOT.album, BALLOT.year, BALLOT.rank, vote_id="body-key-0001")

    with pytest.raises(InvalidVote) as caught:
        intake.cast(ballot, "other-key-0001")

    assert (caught.value.field, caught.value.rule) == ("vote_id", "conflict")
    assert producer.sent == []
    assert (
        _count(registry, "certamen_producer_rejected_total", field="vote_id", rule="conflict") == 1
    )


def test_with_a_catalog_a_candidate_is_stamped_in_the_catalogs_spelling() -> None:
    intake, _ = _intake(FakeProducer(), CATALOG)
    shouted = Ballot("BOHEMIA SUBURBANA", "mis palabras", 1997, 9.5)

    vote = intake.cast(shouted)

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
        intake.cast(ballot)

    assert (caught.value.field, caught.value.rule) == (field, "not_in_catalog")
    assert producer.sent == []
    assert _count(registry, "certamen_producer_votes_total", outcome="rejected") == 1


def test_without_a_catalog_any_valid_vote_is_accepted() -> None:
    intake, _ = _intake(FakeProducer(), None)

    assert intake.cast(Ballot("Viernes Verde", "Otro", 1998, 0)).name == "Viernes Verde"


def test_kafka_not_acknowledging_is_unavailable_with_the_vote_id() -> None:
    producer = FakeProducer(failing=frozenset({b"client-key-0001"}))
    intake, registry = _intake(producer)

    with pytest.raises(Unavailable) as caught:
        intake.cast(BALLOT, "client-key-0001")

    assert (caught.value.vote_id, caught.value.reason) == (
        "client-key-0001",
        "NOT_ENOUGH_REPLICAS",
    )
    assert _count(registry, "certamen_producer_votes_total", outcome="failed") == 1
    assert _count(registry, "certamen_producer_votes_total", outcome="accepted") == 0


@pytest.mark.parametrize("asynchronous", [False, True], ids=["threads", "asyncio"])
def test_a_batch_gives_each_item_its_own_outcome_in_order(asynchronous: bool) -> None:
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

    if asynchronous:
        outcomes = asyncio.run(intake.cast_many_async(items))
    else:
        outcomes = intake.cast_many(items)

    assert isinstance(outcomes[0], Vote) and outcomes[0].vote_id == "good-vote-0001"
    assert outcomes[1] is unparsable
    assert isinstance(outcomes[2], InvalidVote) and outcomes[2].rule == "not_in_catalog"
    assert isinstance(outcomes[3], Unavailable) and outcomes[3].vote_id == "lost-vote-0001"
    assert isinstance(outcomes[4], Vote) and outcomes[4].vote_id == "good-vote-0002"
    assert [key for _, key, _ in producer.sent] == [
        b"good-vote-0001",
        b"lost-vote-0001",
        b"good-vote-0002",
    ]
    counts = {
        outcome: _count(registry, "certamen_producer_votes_total", outcome=outcome)
        for outcome in ("accepted", "rejected", "failed")
    }
    assert counts == {"accepted": 2, "rejected": 2, "failed": 1}


def test_while_kafka_is_known_down_votes_are_unavailable_without_sending() -> None:
    producer = FakeProducer()
    readiness = _Readiness(False)
    intake, _ = _intake(producer, readiness=readiness)

    with pytest.raises(Unavailable) as caught:
        intake.cast(BALLOT, "client-key-0001")
    batch = intake.cast_many([(BALLOT, "client-key-0002")])

    assert caught.value.reason == "KafkaUnreachable"
    assert isinstance(batch[0], Unavailable) and batch[0].vote_id == "client-key-0002"
    assert producer.sent == []
    readiness.ready = True
    assert intake.cast(BALLOT).name == BALLOT.name


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


def test_a_vote_kafka_never_acknowledges_is_unavailable_after_the_timeout() -> None:
    producer = FakeProducer(silent=frozenset({b"silent-vote-01"}))
    intake, registry = _intake(producer)  # timeout 1 s

    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        asyncio.run(intake.cast_async(BALLOT, "silent-vote-01"))

    assert 0.9 < time.monotonic() - started < 3
    assert (caught.value.vote_id, caught.value.reason) == ("silent-vote-01", "KafkaTimeoutError")
    assert _count(registry, "certamen_producer_votes_total", outcome="failed") == 1


def test_cast_async_answers_once_kafka_acknowledged() -> None:
    producer = FakeProducer()
    intake, registry = _intake(producer)

    vote = asyncio.run(intake.cast_async(BALLOT, "client-key-0001"))

    assert vote.vote_id == "client-key-0001"
    assert [key for _, key, _ in producer.sent] == [b"client-key-0001"]
    assert _count(registry, "certamen_producer_votes_total", outcome="accepted") == 1

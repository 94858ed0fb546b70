"""The consumer's logic against in-memory stores that keep the same promises as the real ones.

The fakes behave like the adapters: ``insert_votes`` refuses a second ``_id`` and
returns what is stored; ``count_votes`` counts a vote id once. Real-server tests are
in tests/integration/test_consumer*.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.abstract import AnyCloudEvent
from cloudevents.http import from_http

from certamen.adapters.errors import StoreUnavailable
from certamen.consumer import Handler, Outcome
from certamen.contract import VOTE_EVENT_TYPE, Candidate, Catalog, Vote

NOW = datetime(2026, 11, 26, 17, 0, 0, tzinfo=UTC)
VOTE = Vote(
    vote_id="vote-0000001",
    name="Bohemia Suburbana",
    album="Mis palabras",
    year=1997,
    rank=9.5,
    channel="grpc",
    received_at="2026-11-26T16:59:59.500Z",
)


class FakeVoteLog:
    def __init__(self) -> None:
        self.votes: dict[str, dict[str, Any]] = {}
        self.dead_letters: dict[str, dict[str, Any]] = {}
        self.down = False

    def insert_votes(self, documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
        if self.down:
            raise StoreUnavailable("mongodb", "connection refused")
        results: list[dict[str, Any] | None] = []
        for document in documents:
            if document["_id"] in self.votes:
                results.append(self.votes[document["_id"]])
            else:
                self.votes[document["_id"]] = dict(document)
                results.append(None)
        return results

    def insert_dead_letter(self, document: Mapping[str, Any]) -> bool:
        if document["_id"] in self.dead_letters:
            return False
        self.dead_letters[document["_id"]] = dict(document)
        return True


class FakeTally:
    def __init__(self) -> None:
        self.counted: dict[str, Vote] = {}
        self.dead: dict[str, str] = {}
        self.down = False

    def count_votes(self, votes: Sequence[Vote]) -> list[bool]:
        if self.down:
            raise StoreUnavailable("redis", "timeout")
        results = []
        for vote in votes:
            results.append(vote.vote_id not in self.counted)
            self.counted.setdefault(vote.vote_id, vote)
        return results

    def count_dead_letter(self, letter_id: str, rule: str) -> bool:
        if letter_id in self.dead:
            return False
        self.dead[letter_id] = rule
        return True


def _attributes(vote: Vote = VOTE, **overrides: str) -> dict[str, str]:
    return {
        "specversion": "1.0",
        "id": vote.vote_id,
        "type": VOTE_EVENT_TYPE,
        "source": f"/producers/{vote.channel}",
        "time": vote.received_at,
        **overrides,
    }


def _event(vote: Vote = VOTE, body: bytes | None = None, **overrides: str) -> AnyCloudEvent:
    """The event as functions-framework hands it over: read by the SDK from a binary request."""
    headers = {f"ce-{name}": value for name, value in _attributes(vote, **overrides).items()}
    headers["content-type"] = "application/json"
    return from_http(headers, vote.to_json() if body is None else body)


@pytest.fixture
def vote_log() -> FakeVoteLog:
    return FakeVoteLog()


@pytest.fixture
def tally() -> FakeTally:
    return FakeTally()


def _handle(handler: Handler, event: AnyCloudEvent) -> Outcome:
    """One delivery, on an event loop of its own (the handler is async, as in the server)."""
    return asyncio.run(handler.handle(event))


@pytest.fixture
def handler(vote_log: FakeVoteLog, tally: FakeTally) -> Iterator[Handler]:
    handler = Handler(vote_log, tally, catalog=None, clock=lambda: NOW)
    yield handler
    handler.close()


def test_a_vote_is_logged_then_counted(
    handler: Handler, vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    assert _handle(handler, _event()) is Outcome.COUNTED
    assert vote_log.votes[VOTE.vote_id] == {
        "_id": VOTE.vote_id,
        **VOTE.to_dict(),
        "processed_at": NOW,
        "partition": None,  # a vote event does not say where in Kafka it was
        "offset": None,
    }
    assert tally.counted == {VOTE.vote_id: VOTE}


def test_a_redelivery_changes_nothing(
    handler: Handler, vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    _handle(handler, _event())
    assert _handle(handler, _event()) is Outcome.DUPLICATE
    assert len(vote_log.votes) == 1
    assert len(tally.counted) == 1


def test_a_retry_after_mongodb_only_finishes_the_count(
    handler: Handler, vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    tally.down = True
    with pytest.raises(StoreUnavailable):
        _handle(handler, _event())
    assert VOTE.vote_id in vote_log.votes and not tally.counted  # the partial write
    tally.down = False
    assert _handle(handler, _event()) is Outcome.COUNTED
    assert len(vote_log.votes) == 1 and len(tally.counted) == 1


def test_mongodb_down_counts_nothing(
    handler: Handler, vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    vote_log.down = True
    with pytest.raises(StoreUnavailable):
        _handle(handler, _event())
    assert not tally.counted


def test_a_reused_id_counts_what_was_logged_first(
    handler: Handler, vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    tally.down = True
    with pytest.raises(StoreUnavailable):
        _handle(handler, _event())
    tally.down = False
    other = Vote(**{**VOTE.to_dict(), "album": "Otro disco", "rank": 1})
    assert _handle(handler, _event(other)) is Outcome.COUNTED
    assert tally.counted[VOTE.vote_id] == VOTE  # Redis and MongoDB agree on the vote
    assert vote_log.votes[VOTE.vote_id]["album"] == "Mis palabras"


@pytest.mark.parametrize(
    ("attributes", "body", "field", "rule"),
    [
        ({"type": "dev.knative.kafka.event"}, b"hello", "type", "unknown_type"),
        ({}, b"{not json", "body", "json"),
        ({}, b"[1,2]", "body", "type"),  # the SDK hands over a list
        ({}, b"42", "body", "type"),  # ... or a number
        ({}, b'{"vote_id":"vote-0000001"}', "name", "required"),
        ({"id": "some-other-id"}, None, "vote_id", "conflict"),
        ({}, VOTE.to_json().replace(b'"rank":9.5', b'"rank":101'), "rank", "range"),
    ],
)
def test_poison_becomes_a_dead_letter_with_its_reason(
    handler: Handler,
    vote_log: FakeVoteLog,
    tally: FakeTally,
    attributes: dict[str, str],
    body: bytes | None,
    field: str,
    rule: str,
) -> None:
    assert _handle(handler, _event(body=body, **attributes)) is Outcome.DEAD_LETTERED
    assert not vote_log.votes and not tally.counted
    (letter,) = vote_log.dead_letters.values()
    assert (letter["reason"]["field"], letter["reason"]["rule"]) == (field, rule)
    assert letter["event"]["attributes"] == {
        **_attributes(**attributes),
        "datacontenttype": "application/json",
    }
    assert letter["event"]["data"] == (VOTE.to_json() if body is None else body).decode()
    assert letter["failed_at"] == NOW
    assert (letter["topic"], letter["partition"], letter["offset"]) == (None, None, None)
    assert list(tally.dead.values()) == [rule]


def test_a_wrapped_foreign_record_keeps_its_topic_partition_and_offset(
    handler: Handler, vote_log: FakeVoteLog
) -> None:
    wrapped = {
        "id": "partition:3/offset:1207",
        "type": "dev.knative.kafka.event",
        "source": "/apis/v1/namespaces/certamen/kafkasources/votes#votes-7",
        "subject": "partition:3#1207",
    }
    _handle(handler, _event(body=b"hello", **wrapped))
    (letter,) = vote_log.dead_letters.values()
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("votes-7", 3, 1207)


def test_dead_letter_attributes_are_percent_decoded(
    handler: Handler, vote_log: FakeVoteLog
) -> None:
    _handle(handler, _event(type="x", subject="Malacates%20Tr%C3%A9bol%20Shop"))
    (letter,) = vote_log.dead_letters.values()
    assert letter["event"]["attributes"]["subject"] == "Malacates Trébol Shop"


def test_the_sdk_fills_in_a_missing_time_and_the_dead_letter_shows_it(
    handler: Handler, vote_log: FakeVoteLog
) -> None:
    headers = {f"ce-{k}": v for k, v in _attributes(type="x").items() if k != "time"}
    _handle(handler, from_http(headers, b"hello"))
    (letter,) = vote_log.dead_letters.values()
    assert letter["event"]["attributes"]["time"]  # not in the request: invented by the SDK


def test_a_dead_letter_redelivered_is_one_letter(
    handler: Handler, vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    _handle(handler, _event(type="other.type"))
    _handle(handler, _event(type="other.type"))
    assert len(vote_log.dead_letters) == 1 and len(tally.dead) == 1


def test_binary_poison_is_kept_as_base64(handler: Handler, vote_log: FakeVoteLog) -> None:
    _handle(handler, _event(type="x", body=b"\xff\xfe"))
    (letter,) = vote_log.dead_letters.values()
    assert letter["event"]["data_base64"] == "//4="


def test_with_a_catalog_the_catalog_spelling_is_counted(
    vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    catalog = Catalog("c", (Candidate("Bohemia Suburbana", "Mis Palabras", 1997),))
    handler = Handler(vote_log, tally, catalog=catalog, clock=lambda: NOW)
    assert _handle(handler, _event()) is Outcome.COUNTED
    assert tally.counted[VOTE.vote_id].album == "Mis Palabras"


def test_with_a_catalog_a_stranger_is_a_dead_letter(
    vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    catalog = Catalog("c", (Candidate("Alux Nahual", "Alux Nahual", 1983),))
    handler = Handler(vote_log, tally, catalog=catalog, clock=lambda: NOW)
    assert _handle(handler, _event()) is Outcome.DEAD_LETTERED
    (letter,) = vote_log.dead_letters.values()
    assert letter["reason"]["rule"] == "not_in_catalog"


def test_concurrent_copies_in_one_group_commit_count_once(
    vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    batches: list[int] = []
    handler = Handler(
        vote_log, tally, catalog=None, clock=lambda: NOW, max_batch=64, on_batch=batches.append
    )

    async def deliver_20() -> list[Outcome]:
        return await asyncio.gather(*(handler.handle(_event()) for _ in range(20)))

    try:
        outcomes = asyncio.run(deliver_20())
    finally:
        handler.close()
    assert batches == [20]  # one insert_many and one Redis pipeline for all of them
    assert sorted(o.value for o in outcomes) == ["counted"] + ["duplicate"] * 19
    assert len(vote_log.votes) == 1 and len(tally.counted) == 1


def test_a_store_error_reaches_every_vote_of_the_batch(
    vote_log: FakeVoteLog, tally: FakeTally
) -> None:
    handler = Handler(vote_log, tally, catalog=None, clock=lambda: NOW, max_batch=64)
    tally.down = True
    others = [Vote(**{**VOTE.to_dict(), "vote_id": f"vote-000000{n}"}) for n in range(2, 5)]

    async def deliver() -> list[Outcome | BaseException]:
        events = [_event(vote) for vote in [VOTE, *others]]
        return await asyncio.gather(
            *(handler.handle(event) for event in events), return_exceptions=True
        )

    try:
        outcomes = asyncio.run(deliver())
    finally:
        handler.close()
    assert all(isinstance(o, StoreUnavailable) and o.store == "redis" for o in outcomes)
    assert len(outcomes) == 4 and not tally.counted

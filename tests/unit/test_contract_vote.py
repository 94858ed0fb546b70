"""The canonical vote, ids, the catalog and the CloudEvent codec: round trips and rules."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from cloudevents.kafka import KafkaMessage

from certamen.contract import (
    VOTE_EVENT_TYPE,
    CatalogError,
    InvalidVote,
    Vote,
    event_from_kafka,
    load_catalog,
    new_vote_id,
    parse_ballot,
    resolve_vote_id,
    vote_from_event,
    vote_to_kafka,
)
from certamen.contract.ballot import json_number, rank_field
from certamen.operations.votefiles import EXAMPLE_CATALOG

CATALOG = EXAMPLE_CATALOG
RECEIVED = datetime(2026, 11, 26, 17, 25, 44, 123456, tzinfo=UTC)


def _vote(**ballot: object) -> Vote:
    body = {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}
    body.update(ballot)  # type: ignore[arg-type]
    parsed = parse_ballot(json.dumps(body).encode(), year_now=2026)
    return Vote.from_ballot(parsed, vote_id="vote-0001", channel="grpc", received_at=RECEIVED)


def test_canonical_vote_bytes() -> None:
    assert _vote().to_json() == (
        b'{"vote_id":"vote-0001","name":"Bohemia Suburbana","album":"Mis palabras",'
        b'"year":1997,"rank":9.5,"channel":"grpc","received_at":"2026-11-26T17:25:44.123Z"}'
    )


def test_canonical_vote_round_trip() -> None:
    vote = _vote(name="Malacates Tre\u0301bol Shop", rank=100)
    assert Vote.from_json(vote.to_json()) == vote
    assert Vote.from_mapping(json.loads(vote.to_json())) == vote


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"channel": "smoke-signals"}, "channel", "format"),
        ({"received_at": "yesterday"}, "received_at", "format"),
        ({"received_at": "2026-02-30T00:00:00.000Z"}, "received_at", "format"),
        ({"year": "1997"}, "year", "type"),
        ({"year": 2027}, "year", "range"),
        ({"rank": "9.5"}, "rank", "type"),
        ({"rank": 100.5}, "rank", "range"),
        ({"name": {"$gt": ""}}, "name", "type"),
        ({"vote_id": "x"}, "vote_id", "format"),
        ({"admin": True}, "admin", "unknown_field"),
    ],
)
def test_stored_vote_is_checked_strictly(change: dict[str, object], field: str, rule: str) -> None:
    document = json.loads(_vote().to_json())
    document.update(change)
    with pytest.raises(InvalidVote) as caught:
        Vote.from_mapping(document)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_missing_field_in_stored_vote() -> None:
    document = json.loads(_vote().to_json())
    del document["channel"]
    with pytest.raises(InvalidVote) as caught:
        Vote.from_json(json.dumps(document))
    assert (caught.value.field, caught.value.rule) == ("channel", "required")


def test_every_two_decimal_rank_is_written_as_its_shortest_decimal() -> None:
    for hundredths in range(10_001):
        text = str(Decimal(hundredths) / 100)
        expected = text.rstrip("0").rstrip(".") if "." in text else text
        assert json_number(rank_field(text)) == expected


def test_new_vote_id_is_a_time_sortable_uuid7() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_vote_id() for _ in range(200)]
    after = time.time_ns() // 1_000_000
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert before <= parsed.int >> 80 <= after
    assert len(set(ids)) == len(ids)
    time.sleep(0.002)
    assert new_vote_id() > max(ids)


def test_vote_id_resolution() -> None:
    assert resolve_vote_id("header-key-1", None) == "header-key-1"
    assert resolve_vote_id("header-key-1", "header-key-1") == "header-key-1"
    assert resolve_vote_id(None, "body-key-01") == "body-key-01"
    assert uuid.UUID(resolve_vote_id(None, None)).version == 7
    with pytest.raises(InvalidVote) as conflict:
        resolve_vote_id("header-key-1", "body-key-01")
    assert (conflict.value.field, conflict.value.rule) == ("vote_id", "conflict")
    with pytest.raises(InvalidVote) as bad:
        resolve_vote_id("bad key with spaces", None)
    assert (bad.value.field, bad.value.rule) == ("vote_id", "format")


def test_cloudevent_round_trip_through_kafka_binding() -> None:
    vote = _vote()
    message = vote_to_kafka(vote)
    assert message.key is None  # sticky partitioning: docs/vote-contract.md
    assert message.value == vote.to_json()
    assert message.headers == {
        "content-type": b"application/json",
        "ce_specversion": b"1.0",
        "ce_id": b"vote-0001",
        "ce_type": VOTE_EVENT_TYPE.encode(),
        "ce_source": b"/producers/grpc",
        "ce_subject": b"Bohemia Suburbana",
        "ce_time": b"2026-11-26T17:25:44.123Z",
    }
    event = event_from_kafka(message)
    assert event["id"] == "vote-0001"
    assert event["datacontenttype"] == "application/json"
    assert vote_from_event(event) == vote


def test_foreign_event_type_is_not_a_vote() -> None:
    message = vote_to_kafka(_vote())
    headers = dict(message.headers, ce_type=b"dev.knative.kafka.event")
    with pytest.raises(InvalidVote) as caught:
        vote_from_event(event_from_kafka(KafkaMessage(headers, message.key, message.value)))
    assert (caught.value.field, caught.value.rule) == ("type", "unknown_type")


def test_event_id_must_match_the_vote() -> None:
    message = vote_to_kafka(_vote())
    headers = dict(message.headers, ce_id=b"another-id-1")
    with pytest.raises(InvalidVote) as caught:
        vote_from_event(event_from_kafka(KafkaMessage(headers, message.key, message.value)))
    assert (caught.value.field, caught.value.rule) == ("vote_id", "conflict")


def test_catalog_off_accepts_any_band() -> None:
    assert _vote(name="Una banda nueva").name == "Una banda nueva"


def test_catalog_on_checks_and_uses_the_catalog_spelling() -> None:
    catalog = load_catalog(CATALOG, year_now=2026)
    assert len(catalog.candidates) >= 10
    ballot = parse_ballot(
        b'{"name":"bohemia SUBURBANA","album":"mis palabras","year":1997,"rank":5}', year_now=2026
    )
    checked = catalog.check(ballot)
    assert (checked.name, checked.album) == ("Bohemia Suburbana", "Mis palabras")
    for body, field in [
        (b'{"name":"Nadie","album":"Mis palabras","year":1997,"rank":5}', "name"),
        (b'{"name":"Bohemia Suburbana","album":"Otro","year":1997,"rank":5}', "album"),
        (b'{"name":"Bohemia Suburbana","album":"Mis palabras","year":1998,"rank":5}', "year"),
    ]:
        with pytest.raises(InvalidVote) as caught:
            catalog.check(parse_ballot(body, year_now=2026))
        assert (caught.value.field, caught.value.rule) == (field, "not_in_catalog")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bands: 3", "list under 'bands'"),
        ("bands: [{name: X}]", "'albums'"),
        ("bands: [{name: '', albums: [{title: A, year: 1990}]}]", "must not be empty"),
        ("bands: [{name: X, albums: [{title: A, year: 1800}]}]", "year"),
        ("bands: []", "no album"),
        ("bands: [{name: X, albums: [{title: A, year: 1990}, {title: a, year: 1991}]}]", "twice"),
        ("bands: [", "cannot read"),
    ],
)
def test_bad_catalog_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_catalog(path, year_now=2026)

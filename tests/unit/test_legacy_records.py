"""Legacy records (the original Go producer's JSON) judged by the consumer's rules, in-process."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cloudevents.http import CloudEvent, from_http

from certamen.consumer.rules import Rules
from certamen.contract import Candidate, Catalog, InvalidVote, Vote
from certamen.contract.legacy import legacy_ballot, legacy_vote_id

NOW = datetime(2026, 11, 26, 17, 0, 0, tzinfo=UTC)
SOURCE = "/apis/v1/namespaces/certamen/kafkasources/votes#votes"


def _wrapped(value: bytes, *, partition: int = 3, offset: int = 41) -> CloudEvent:
    """A headerless record as the source wraps it, read back as functions-framework reads it."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": f"partition:{partition}/offset:{offset}",
        "ce-source": SOURCE,
        "ce-type": "dev.knative.kafka.event",
        "ce-subject": f"partition:{partition}#{offset}",
        "ce-time": "2026-11-26T16:59:58.250Z",
    }
    return from_http(headers, value)


def _rules(*, accept: bool = True, catalog: Catalog | None = None) -> Rules:
    return Rules(catalog, accept_legacy=accept, clock=lambda: NOW)


def test_a_go_record_becomes_a_legacy_vote_named_after_where_it_was() -> None:
    record = b'{"Name":"Bohemia Suburbana","Album":"Mis palabras","Year":"1997","Rank":"09.50"}'
    vote = _rules().vote(_wrapped(record))
    assert vote == Vote(
        vote_id="legacy:votes:3:41",
        name="Bohemia Suburbana",
        album="Mis palabras",
        year=1997,
        rank=9.5,
        channel="legacy",
        received_at="2026-11-26T16:59:58.250Z",
    )


def test_go_escapes_and_utf8_read_as_the_ballot_rules_say() -> None:
    record = '{"Name":"Rock \\u0026  Roll","Album":"Ni\u00f1o","Year":"2001","Rank":"7"}'
    vote = _rules().vote(_wrapped(record.encode()))
    assert (vote.name, vote.album, vote.rank) == ("Rock & Roll", "Niño", 7)


@pytest.mark.parametrize(
    ("record", "field", "rule"),
    [
        ({"Name": "", "Album": "A", "Year": "1997", "Rank": "5"}, "name", "empty"),
        ({"Name": "B", "Album": "A", "Year": "97", "Rank": "5"}, "year", "format"),
        ({"Name": "B", "Album": "A", "Year": "1997", "Rank": "101"}, "rank", "range"),
        ({"Name": "B", "Album": "A", "Year": "1997"}, "rank", "required"),
        (
            {"Name": "B", "Album": "A", "Year": "1997", "Rank": "5", "Id": "x"},
            "Id",
            "unknown_field",
        ),
        ({"name": "B", "Album": "A", "Year": "1997", "Rank": "5"}, "name", "unknown_field"),
        ({"Name": {"$gt": ""}, "Album": "A", "Year": "1997", "Rank": "5"}, "name", "type"),
    ],
)
def test_a_record_breaking_the_ballot_rules_is_refused_naming_the_rule(
    record: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(InvalidVote) as caught:
        _rules().vote(_wrapped(json.dumps(record).encode()))
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_the_catalog_applies_to_legacy_votes_too() -> None:
    catalog = Catalog("t", (Candidate("Alux Nahual", "Conquista", 1983),))
    record = b'{"Name":"alux nahual","Album":"CONQUISTA","Year":"1983","Rank":"8"}'
    vote = _rules(catalog=catalog).vote(_wrapped(record))
    assert (vote.name, vote.album) == ("Alux Nahual", "Conquista")
    other = b'{"Name":"Alux Nahual","Album":"Leyenda","Year":"1989","Rank":"8"}'
    with pytest.raises(InvalidVote) as caught:
        _rules(catalog=catalog).vote(_wrapped(other))
    assert (caught.value.field, caught.value.rule) == ("album", "not_in_catalog")


@pytest.mark.parametrize(
    "value", [b"hello, not a CloudEvent", b"[1, 2]", b'"Name"', b'{"Name":"B","Album":"A"']
)
def test_wrapped_data_that_is_no_json_object_stays_an_unknown_type(value: bytes) -> None:
    with pytest.raises(InvalidVote) as caught:
        _rules().vote(_wrapped(value))
    assert (caught.value.field, caught.value.rule) == ("type", "unknown_type")


def test_legacy_records_are_refused_unless_accepted() -> None:
    record = b'{"Name":"Bohemia Suburbana","Album":"Mis palabras","Year":"1997","Rank":"9"}'
    with pytest.raises(InvalidVote) as caught:
        _rules(accept=False).vote(_wrapped(record))
    assert (caught.value.field, caught.value.rule) == ("type", "unknown_type")


def test_a_wrapped_event_that_does_not_say_where_it_was_is_no_legacy_vote() -> None:
    event = CloudEvent(
        {"id": "abc", "source": "/elsewhere", "type": "dev.knative.kafka.event"},
        {"Name": "B", "Album": "A", "Year": "1997", "Rank": "5"},
    )
    with pytest.raises(InvalidVote) as caught:
        _rules().vote(event)
    assert caught.value.rule == "unknown_type"


def test_legacy_ballot_and_vote_id() -> None:
    ballot = legacy_ballot({"Rank": 9, "Year": 1997, "Album": "A", "Name": "B"}, year_now=2026)
    assert (ballot.name, ballot.album, ballot.year, ballot.rank) == ("B", "A", 1997, 9)
    assert legacy_vote_id("votes", 0, 7) == "legacy:votes:0:7"
    long_id = legacy_vote_id("t" * 249, 5, 123456789)
    assert len(long_id) <= 128 and long_id.endswith(":5:123456789")
    assert long_id == legacy_vote_id("t" * 249, 5, 123456789)
    assert long_id != legacy_vote_id("u" * 249, 5, 123456789)

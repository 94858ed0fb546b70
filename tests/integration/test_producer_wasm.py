"""producer-wasm over HTTP against real Kafka: statuses, error bodies, what reaches the topic."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest

from certamen.contract import VOTE_EVENT_TYPE, Vote
from certamen.operations.votefiles import EXAMPLE_CATALOG
from certamen.settings import Settings
from tests.integration.producer_wasm_harness import JSON, read_topic, wasm_server

pytestmark = pytest.mark.integration

GOOD = {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}
CATALOG = EXAMPLE_CATALOG

MEDIA = ("content-type", "unsupported_media_type")


def _ballot(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


# (what is wrong, body, extra headers, status, (field, rule))
BAD_INPUTS: list[tuple[str, bytes, dict[str, str], int, tuple[str, str]]] = [
    ("not JSON", b"name=Bohemia", {}, 400, ("body", "json")),
    ("invalid UTF-8", b'{"name":"\xff"}', {}, 400, ("body", "utf8")),
    ("too deep", b"[" * 40 + b"]" * 40, {}, 400, ("body", "json")),
    ("not an object", b'["Bohemia"]', {}, 400, ("body", "type")),
    ("duplicate", b'{"name":"a","name":"b"}', {}, 400, ("name", "duplicate")),
    ("unknown field", b'{"name":"a","$where":"1"}', {}, 400, ("$where", "unknown_field")),
    ("missing field", b'{"name":"a","album":"b","year":2000}', {}, 400, ("rank", "required")),
    ("object as text", b'{"name":{"$gt":""}}', {}, 400, ("name", "type")),
    ("control character", b'{"name":"a\\u0000"}', {}, 400, ("name", "control_character")),
    ("lone surrogate", b'{"name":"\\ud800"}', {}, 400, ("name", "invalid_unicode")),
    ("empty text", b'{"name":"  ","album":"b"}', {}, 400, ("name", "empty")),
    ("long text", _ballot(album="x" * 121), {}, 400, ("album", "too_long")),
    ("year format", _ballot(year="97"), {}, 400, ("year", "format")),
    ("year range", _ballot(year=1899), {}, 400, ("year", "range")),
    ("rank precision", _ballot(rank="9.555"), {}, 400, ("rank", "precision")),
    ("rank range", _ballot(rank=101), {}, 400, ("rank", "range")),
    ("body key format", _ballot(vote_id="short"), {}, 400, ("vote_id", "format")),
    ("header key format", _ballot(), {"Idempotency-Key": "a b c"}, 400, ("vote_id", "format")),
    (
        "keys differ",
        _ballot(vote_id="body-key-0001"),
        {"Idempotency-Key": "header-key-0001"},
        400,
        ("vote_id", "conflict"),
    ),
    ("over 4 KiB", b'{"name":"' + b"x" * 4100 + b'"}', {}, 413, ("body", "too_large")),
    ("text/plain", _ballot(), {"Content-Type": "text/plain"}, 415, MEDIA),
    ("form", _ballot(), {"Content-Type": "application/x-www-form-urlencoded"}, 415, MEDIA),
    ("latin-1", _ballot(), {"Content-Type": "application/json; charset=latin-1"}, 415, MEDIA),
]


def test_every_bad_input_gets_its_status_and_error_and_nothing_reaches_the_topic(
    contest: Settings, tmp_path: Path
) -> None:
    with wasm_server(contest, tmp_path) as server:
        for what, body, headers, status, (field, rule) in BAD_INPUTS:
            answer = server.request("POST", "/votes", body, {**JSON, **headers})
            assert answer.status == status, (what, answer.body)
            assert answer.headers["content-type"] == "application/json", what
            error = answer.json()["error"]
            assert (error["field"], error["rule"]) == (field, rule), what
            assert error["message"], what

        # An oversize body without Content-Length is cut off after the limit, too.
        chunked = server.request("POST", "/votes", b"[" * 100_000, JSON, chunked=True)
        assert (chunked.status, chunked.json()["error"]["rule"]) == (413, "too_large")
        assert server.request("GET", "/votes").status == 405
        assert server.request("GET", "/nowhere").status == 404

        metrics = server.metrics()
        rejected = len(BAD_INPUTS) + 1
        counted = f'certamen_producer_votes_total{{channel="wasm",outcome="rejected"}} {rejected}.0'
        assert counted in metrics
        assert 'field="rank",rule="precision"} 1.0' in metrics

    assert read_topic(contest) == []


def test_an_accepted_vote_is_on_the_topic_once_as_a_cloudevent(
    contest: Settings, tmp_path: Path
) -> None:
    with wasm_server(contest, tmp_path) as server:
        answer = server.vote(GOOD)
        inserted = server.request(
            "POST", "/insert", json.dumps({**GOOD, "rank": 10}).encode(), JSON
        )
    assert answer.status == 202
    receipt = answer.json()
    assert set(receipt) == {"vote_id", "received_at"}
    assert inserted.status == 202

    records = read_topic(contest)
    assert sorted(r.headers["ce_id"].decode() for r in records) == sorted(
        [receipt["vote_id"], inserted.json()["vote_id"]]
    )
    (record,) = [r for r in records if r.headers["ce_id"].decode() == receipt["vote_id"]]
    assert record.key is None  # keyless, sticky partitioning (docs/vote-contract.md)
    assert record.headers["ce_type"] == VOTE_EVENT_TYPE.encode()
    assert record.headers["ce_source"] == b"/producers/wasm"
    assert record.headers["ce_subject"] == b"Bohemia Suburbana"
    assert record.headers["content-type"] == b"application/json"
    vote = Vote.from_json(record.value)
    assert (vote.vote_id, vote.received_at) == (receipt["vote_id"], receipt["received_at"])
    assert (vote.name, vote.album, vote.year, vote.rank, vote.channel) == (
        "Bohemia Suburbana",
        "Mis palabras",
        1997,
        9.5,
        "wasm",
    )
    assert record.value == vote.to_json()


def test_the_same_idempotency_key_twice_gives_one_vote_id_and_one_record(
    contest: Settings, tmp_path: Path
) -> None:
    with wasm_server(contest, tmp_path) as server:
        first = server.vote(GOOD, key="retry-key-0001")
        again = server.vote(GOOD, key="retry-key-0001")
        in_body = {**GOOD, "vote_id": "body-key-0002"}
        body_first, body_again = server.vote(in_body), server.vote(in_body)
        both_ways = server.vote(in_body, key="body-key-0002")
    assert first.status == again.status == 202
    assert first.json() == again.json()
    assert first.json()["vote_id"] == "retry-key-0001"
    assert body_first.json() == body_again.json() == both_ways.json()
    assert body_first.json()["vote_id"] == "body-key-0002"

    ids = [r.headers["ce_id"].decode() for r in read_topic(contest)]
    assert sorted(ids) == ["body-key-0002", "retry-key-0001"]


def test_a_ballot_without_content_type_is_read_as_json(contest: Settings, tmp_path: Path) -> None:
    with wasm_server(contest, tmp_path) as server:
        answer = server.request("POST", "/votes", json.dumps(GOOD).encode(), {})
        utf8 = server.request(
            "POST",
            "/votes",
            json.dumps(GOOD).encode(),
            {"Content-Type": 'Application/JSON; charset="UTF-8"'},
        )
    assert (answer.status, utf8.status) == (202, 202)
    assert len(read_topic(contest)) == 2


def test_health_readiness_and_metrics(contest: Settings, tmp_path: Path) -> None:
    with wasm_server(contest, tmp_path) as server:
        server.vote(GOOD)
        health = server.request("GET", "/healthz")
        ready = server.request("GET", "/readyz")
        text = server.metrics()
    assert (health.status, health.json()) == (200, {"alive": True})
    assert (ready.status, ready.json()) == (200, {"ready": True})
    assert 'certamen_producer_votes_total{channel="wasm",outcome="accepted"} 1.0' in text
    assert 'certamen_producer_kafka_ready{channel="wasm"} 1.0' in text
    assert 'certamen_producer_cast_seconds_count{channel="wasm"} 1.0' in text


def test_with_a_catalog_only_candidates_are_accepted_in_its_spelling(
    contest: Settings, tmp_path: Path
) -> None:
    with wasm_server(contest, tmp_path, {"CERTAMEN_CATALOG": str(CATALOG)}) as server:
        unknown = server.vote({**GOOD, "name": "Los Desconocidos"})
        wrong_year = server.vote({**GOOD, "year": 1998})
        casefolded = server.vote({**GOOD, "name": "bohemia SUBURBANA"})
    assert (unknown.status, unknown.json()["error"]["rule"]) == (400, "not_in_catalog")
    assert (wrong_year.status, wrong_year.json()["error"]["field"]) == (400, "year")
    assert casefolded.status == 202
    (record,) = read_topic(contest)
    assert Vote.from_json(record.value).name == "Bohemia Suburbana"


def test_metrics_and_votes_are_on_ports_of_their_own(contest: Settings, tmp_path: Path) -> None:
    """Whoever may scrape the metrics port cannot vote there; the vote port serves no metrics."""
    with wasm_server(contest, tmp_path) as server:
        on_vote_port = server.request("GET", "/metrics")
        connection = http.client.HTTPConnection("127.0.0.1", server.metrics_port, timeout=30)
        try:
            connection.request("POST", "/votes", json.dumps(GOOD).encode(), JSON)
            on_metrics_port = connection.getresponse()
            on_metrics_port.read()
        finally:
            connection.close()
    assert on_vote_port.status == 404
    assert not 200 <= on_metrics_port.status < 300
    assert read_topic(contest) == []

"""How the consumer function reads a delivery: attributes as they arrived, and the Kafka origin."""

from __future__ import annotations

import json

import pytest

from certamen.consumer.documents import Origin
from certamen.consumer.handler import NotACloudEvent
from certamen.consumer.main import _arrival

BODY = b'{"vote_id": "vote-0000001"}'


def test_binary_mode_attributes_are_the_ce_headers_percent_decoded() -> None:
    headers = [
        (b"host", b"127.0.0.1:8081"),
        (b"ce-specversion", b"1.0"),
        (b"ce-id", b"vote-0000001"),
        (b"ce-type", b"gt.certamen.vote.cast.v1"),
        (b"ce-source", b"/producers/grpc"),
        (b"ce-subject", b"Malacates Tr%C3%A9bol Shop"),
        (b"content-type", b"application/json"),
        (b"kafka-topic", b"votes"),
        (b"kafka-partition", b"2"),
        (b"kafka-offset", b"41"),
    ]
    attributes, data, origin = _arrival(headers, BODY)
    assert data == BODY
    assert attributes == {
        "specversion": "1.0",
        "id": "vote-0000001",
        "type": "gt.certamen.vote.cast.v1",
        "source": "/producers/grpc",
        "subject": "Malacates Trébol Shop",
        "datacontenttype": "application/json",
    }  # no invented time
    assert origin == Origin(topic="votes", partition=2, offset=41)


def test_without_kafka_headers_the_origin_is_unknown() -> None:
    _, _, origin = _arrival([(b"ce-specversion", b"1.0"), (b"kafka-offset", b"x")], BODY)
    assert origin == Origin()


def test_structured_mode_attributes_and_data_come_from_the_body() -> None:
    envelope = {
        "specversion": "1.0",
        "id": "vote-0000001",
        "type": "gt.certamen.vote.cast.v1",
        "source": "/producers/wasm",
        "time": "2026-11-26T17:00:00Z",
        "data": {"vote_id": "vote-0000001"},
    }
    headers = [(b"content-type", b"application/cloudevents+json")]
    attributes, data, _ = _arrival(headers, json.dumps(envelope).encode())
    assert {k: attributes[k] for k in ("id", "type", "source")} == {
        "id": "vote-0000001",
        "type": "gt.certamen.vote.cast.v1",
        "source": "/producers/wasm",
    }
    assert json.loads(data) == {"vote_id": "vote-0000001"}  # the vote, not the envelope


def test_a_request_that_is_no_cloudevent_is_refused() -> None:
    with pytest.raises(NotACloudEvent, match="specversion"):
        _arrival([(b"content-type", b"text/plain")], b"hello")

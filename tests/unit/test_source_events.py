"""From Kafka records to the events the sink receives: pass-through, wrapping, dead letters."""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote

from cloudevents.http import CloudEvent, from_http

from certamen.contract import Vote, vote_event, vote_from_event, vote_to_kafka
from certamen.contract.foreign import FOREIGN_TYPE, Origin, foreign_source, kafka_origin
from certamen.source.events import (
    DeliveryError,
    KafkaRecord,
    dead_letter_message,
    outgoing_event,
)

VOTE = Vote(
    vote_id="0196f1e2-aaaa-7bbb-8ccc-000000000001",
    name="Malacates Trébol Shop",
    album='Niño "Lindo" 100%',
    year=1999,
    rank=9.5,
    channel="wasm",
    received_at="2026-11-26T17:25:44.123Z",
)


def _record(
    headers: dict[str, bytes], value: bytes | None, key: bytes | None = None
) -> KafkaRecord:
    return KafkaRecord(
        topic="votes",
        partition=3,
        offset=42,
        timestamp_ms=1_795_714_838_123,
        key=key,
        value=value,
        headers=tuple(headers.items()),
    )


def _vote_record() -> KafkaRecord:
    message = vote_to_kafka(VOTE)
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return _record(dict(message.headers), message.value, key)


def test_our_vote_event_passes_through_unchanged() -> None:
    event = outgoing_event(_vote_record())
    assert not event.wrapped
    assert event.data == VOTE.to_json()
    expected = vote_event(VOTE).get_attributes()
    assert event.attributes == {k: str(v) for k, v in expected.items()}


def test_http_headers_are_binary_mode_and_percent_encoded() -> None:
    headers = outgoing_event(_vote_record()).http_headers()
    assert headers["Content-Type"] == "application/json"
    assert headers["ce-id"] == VOTE.vote_id
    assert headers["ce-type"] == "gt.certamen.vote.cast.v1"
    assert headers["ce-source"] == "/producers/wasm"
    # CloudEvents HTTP binding: space, '"', '%' and non-ASCII are percent-encoded
    assert headers["ce-subject"] == "Malacates%20Tr%C3%A9bol%20Shop"
    assert all(value.isascii() for value in headers.values())
    assert unquote(headers["ce-subject"]) == VOTE.name


def test_the_posted_event_reads_back_as_the_same_vote() -> None:
    event = outgoing_event(_vote_record())
    received = from_http(event.http_headers(), event.data)
    assert vote_from_event(CloudEvent(received.get_attributes(), event.data)) == VOTE


def test_a_structured_mode_record_is_sent_in_binary_mode() -> None:
    attributes = {k: str(v) for k, v in vote_event(VOTE).get_attributes().items()}
    document = {**attributes, "data": json.loads(VOTE.to_json())}
    headers = {"content-type": b"application/cloudevents+json; charset=utf-8"}
    event = outgoing_event(_record(headers, json.dumps(document).encode()))
    assert not event.wrapped
    assert event.attributes == attributes
    assert json.loads(event.data) == json.loads(VOTE.to_json())


def test_structured_mode_with_base64_data() -> None:
    document = {"specversion": "1.0", "id": "b1", "source": "/s", "type": "t"}
    document["data_base64"] = base64.b64encode(b"\x00\x01").decode()
    record = _record(
        {"content-type": b"application/cloudevents+json"}, json.dumps(document).encode()
    )
    event = outgoing_event(record)
    assert not event.wrapped and event.data == b"\x00\x01"


def test_a_json_value_that_is_not_an_event_is_wrapped() -> None:
    record = _record({"content-type": b"application/cloudevents+json"}, b"[1, 2]")
    assert outgoing_event(record).wrapped


def test_a_foreign_record_is_wrapped_as_knative_does() -> None:
    record = _record({"content-type": b"Text/Plain", "X-Trace.Id": b"abc"}, b"hello", b"k1")
    event = outgoing_event(record)
    assert event.wrapped
    assert event.attributes == {
        "specversion": "1.0",
        "id": "partition:3/offset:42",
        "source": "/apis/v1/namespaces/certamen/kafkasources/votes#votes",
        "type": FOREIGN_TYPE,
        "subject": "partition:3#42",
        "time": "2026-11-26T17:40:38.123Z",
        "partitionkey": "k1",
        "key": "k1",
        "kafkaheaderxtraceid": "abc",
        "datacontenttype": "text/plain",
    }
    assert event.data == b"hello"
    assert event.http_headers()["Content-Type"] == "text/plain"


def test_wrapping_without_key_headers_or_value() -> None:
    event = outgoing_event(_record({}, None))
    assert event.wrapped
    assert "key" not in event.attributes and "datacontenttype" not in event.attributes
    assert event.data == b""


def test_ce_headers_missing_a_required_attribute_are_not_a_cloudevent() -> None:
    record = _record({"ce_specversion": b"1.0", "ce_type": b"t", "ce_source": b"/s"}, b"x")
    assert outgoing_event(record).wrapped


def test_ce_headers_that_are_not_utf8_are_not_a_cloudevent() -> None:
    headers = {"ce_specversion": b"1.0", "ce_id": b"\xff", "ce_type": b"t", "ce_source": b"/s"}
    assert outgoing_event(_record(headers, b"x")).wrapped


def test_foreign_source_names_namespace_source_and_topic() -> None:
    assert foreign_source("t", "ns", "src") == "/apis/v1/namespaces/ns/kafkasources/src#t"


def test_the_consumer_reads_back_where_a_wrapped_record_was() -> None:
    event = outgoing_event(_record({}, b"hello"))
    assert kafka_origin(event.attributes) == Origin(topic="votes", partition=3, offset=42)


def test_an_event_that_was_not_wrapped_says_nothing_of_where_it_was() -> None:
    event = outgoing_event(_vote_record())
    assert not event.wrapped
    assert kafka_origin(event.attributes) == Origin()
    changed = {"type": FOREIGN_TYPE, "id": "not-a-position", "source": "/s#t"}
    assert kafka_origin(changed) == Origin(topic="t")


def test_dead_letter_keeps_the_event_and_adds_knative_error_extensions() -> None:
    record = _vote_record()
    event = outgoing_event(record)
    error = DeliveryError("http://consumer", 422, b"x" * 2000)
    message = dead_letter_message(event, record.key, error)
    original = dict(record.headers)
    assert {k: v for k, v in message.headers.items() if k in original} == original
    assert message.headers["ce_knativeerrordest"] == b"http://consumer"
    assert message.headers["ce_knativeerrorcode"] == b"422"
    assert base64.b64decode(message.headers["ce_knativeerrordata"]) == b"x" * 1024
    assert (message.key, message.value) == (record.key, record.value)


def test_dead_letter_without_an_answer_has_no_code() -> None:
    event = outgoing_event(_record({}, b"raw"))
    message = dead_letter_message(
        event, None, DeliveryError("http://c", None, b"dispatch error: x")
    )
    assert "ce_knativeerrorcode" not in message.headers
    assert message.headers["ce_type"] == FOREIGN_TYPE.encode()
    assert base64.b64decode(message.headers["ce_knativeerrordata"]) == b"dispatch error: x"
    assert message.value == b"raw"

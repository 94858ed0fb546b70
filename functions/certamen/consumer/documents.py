"""The MongoDB documents the consumer writes: a counted vote and a dead letter.

Also what a dead letter records of the event as the CloudEvents SDK hands it over
(its attributes percent-decoded, its data as bytes, where in Kafka it came from).
Pure functions, so that what is stored is unit-tested without a server.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from cloudevents.abstract import AnyCloudEvent

from certamen.contract import InvalidVote, Vote
from certamen.contract.event import FOREIGN_TYPE
from certamen.contract.vote import VOTE_FIELDS

# Raw bodies of dead letters are kept up to this size (a vote is at most a few hundred bytes).
MAX_RAW_DATA = 64 * 1024
# How Knative's KafkaSource (and our local one) names a record that is no CloudEvent.
_WRAPPED_ID = re.compile(r"partition:(\d+)/offset:(\d+)")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a delivery came from in Kafka, when the event says so (see :func:`kafka_origin`)."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


def vote_document(
    vote: Vote, *, processed_at: datetime, origin: Origin = Origin()
) -> dict[str, Any]:
    """The vote log's document: ``_id`` = vote_id, the canonical fields, when and where from."""
    return {
        "_id": vote.vote_id,
        **vote.to_dict(),
        "processed_at": processed_at,
        "partition": origin.partition,
        "offset": origin.offset,
    }


def vote_from_document(document: Mapping[str, Any]) -> Vote:
    """The vote a stored document holds (what was counted, or will be, for its id)."""
    return Vote(**{key: document[key] for key in VOTE_FIELDS})


def dead_letter_id(attributes: Mapping[str, Any]) -> str:
    """A dead letter's ``_id``: the event's identity (source + id); a redelivery is one letter."""
    return f"{attributes.get('source', '')} {attributes.get('id', '')}"


def dead_letter_document(
    attributes: Mapping[str, Any],
    body: bytes,
    error: InvalidVote,
    *,
    failed_at: datetime,
    origin: Origin,
) -> dict[str, Any]:
    """A poison event as stored in ``dead_letters``: why, the raw event, when and where from."""
    raw = body[:MAX_RAW_DATA]
    try:
        data: dict[str, Any] = {"data": raw.decode("utf-8")}
    except UnicodeDecodeError:
        data = {"data_base64": base64.b64encode(raw).decode("ascii")}
    return {
        "_id": dead_letter_id(attributes),
        "reason": error.as_dict(),
        "event": {
            "attributes": {str(k): str(v) for k, v in attributes.items()},
            **data,
            "data_size": len(body),
            "data_truncated": len(body) > MAX_RAW_DATA,
        },
        "failed_at": failed_at,
        "topic": origin.topic,
        "partition": origin.partition,
        "offset": origin.offset,
    }


def kafka_origin(attributes: Mapping[str, Any]) -> Origin:
    """Topic, partition and offset of a record the source wrapped, else unknown.

    A CloudEvent function sees the event only, not the HTTP request. A record that
    was a CloudEvent already (every vote) passes through KafkaSource unchanged, so
    its event does not say where it was; a record wrapped as ``dev.knative.kafka.event``
    does: id ``partition:<p>/offset:<o>``, source ``...#<topic>``.
    """
    if attributes.get("type") != FOREIGN_TYPE:
        return Origin()
    found = _WRAPPED_ID.fullmatch(str(attributes.get("id", "")))
    source = str(attributes.get("source", ""))
    topic = source.rpartition("#")[2] if "#" in source else None
    if found is None:
        return Origin(topic=topic)
    return Origin(topic=topic, partition=int(found[1]), offset=int(found[2]))


def arrived_attributes(event: AnyCloudEvent) -> dict[str, Any]:
    """The event's attributes, percent-decoded as the CloudEvents HTTP binding requires of a
    receiver (the SDK leaves ``ce-`` header values encoded; our source and KafkaSource both
    send binary mode). The SDK fills in a ``time`` when none came: it shows here."""
    return {
        name: unquote(value) if isinstance(value, str) and "%" in value else value
        for name, value in event.get_attributes().items()
    }


def data_bytes(data: object) -> bytes:
    """An event's data as the SDK gave it (JSON decoded, or bytes/text it could not decode),
    as bytes: JSON written compactly, keys in the order received."""
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

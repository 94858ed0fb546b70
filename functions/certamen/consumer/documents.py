"""The MongoDB documents the consumer writes: a counted vote and a dead letter.

Also what a dead letter records of the event as the CloudEvents SDK hands it over
(its attributes percent-decoded, its data as bytes, where in Kafka it came from).
Pure functions, so that what is stored is unit-tested without a server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from cloudevents.abstract import AnyCloudEvent

from certamen.adapters.dead_letter_store import OPEN
from certamen.contract import InvalidVote, Vote
from certamen.contract.foreign import Origin
from certamen.contract.vote import VOTE_FIELDS

# Raw bodies of dead letters are kept up to this size (a vote is at most a few hundred bytes).
MAX_RAW_DATA = 64 * 1024


def vote_document(vote: Vote, *, processed_at: datetime) -> dict[str, Any]:
    """The vote log's document: ``_id`` = vote_id, the canonical fields, when it was counted.

    ``partition`` and ``offset`` are ``None``: a vote is a CloudEvent, which KafkaSource
    passes through unchanged, saying nothing of where it was in Kafka.
    """
    return {
        "_id": vote.vote_id,
        **vote.to_dict(),
        "processed_at": processed_at,
        "partition": None,
        "offset": None,
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
        "status": OPEN,  # until a replay puts it right (docs/dead-letters.md)
        "attempts": 0,
    }


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

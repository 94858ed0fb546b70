"""The MongoDB documents the consumer writes: a counted vote and a dead letter.

Pure functions, so that what is stored is unit-tested without a server.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certamen.contract import InvalidVote, Vote
from certamen.contract.vote import VOTE_FIELDS

# Raw bodies of dead letters are kept up to this size (a vote is at most a few hundred bytes).
MAX_RAW_DATA = 64 * 1024


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a delivery came from in Kafka, when the transport says so (our local source does)."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


def vote_document(vote: Vote, *, processed_at: datetime, origin: Origin) -> dict[str, Any]:
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

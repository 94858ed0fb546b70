"""The CloudEvent that carries a vote, and its Kafka binary-mode binding.

cloudevents' ``KafkaMessage`` is client-independent: Kafka adapters map their
client's records to it and back, nothing else.
"""

from __future__ import annotations

from typing import Any

from cloudevents.abstract import AnyCloudEvent
from cloudevents.http import CloudEvent
from cloudevents.kafka import KafkaMessage, from_binary, to_binary

from certamen.contract.errors import InvalidVote
from certamen.contract.vote import Vote

VOTE_EVENT_TYPE = "gt.certamen.vote.cast.v1"
CONTENT_TYPE = "application/json"


def _identity(data: Any) -> Any:
    return data


def source_for(channel: str) -> str:
    """The CloudEvent ``source`` of a producer: ``/producers/grpc`` or ``/producers/wasm``."""
    return f"/producers/{channel}"


def vote_event(vote: Vote) -> CloudEvent:
    """The CloudEvent for a vote: our id, type, source and subject; data = canonical vote bytes."""
    attributes = {
        "id": vote.vote_id,
        "type": VOTE_EVENT_TYPE,
        "source": source_for(vote.channel),
        "subject": vote.name,
        "datacontenttype": CONTENT_TYPE,
        "time": vote.received_at,
    }
    return CloudEvent(attributes, vote.to_json())


def vote_to_kafka(vote: Vote) -> KafkaMessage:
    """The Kafka record of a vote: binary mode, ``ce_*`` headers, key = vote_id."""
    return to_binary(vote_event(vote), data_marshaller=_identity, key_mapper=lambda e: e["id"])


def event_from_kafka(message: KafkaMessage) -> CloudEvent:
    """The CloudEvent of a binary-mode Kafka record, data left as bytes."""
    return from_binary(message, data_unmarshaller=_identity)


def vote_from_event(event: AnyCloudEvent) -> Vote:
    """The vote an event carries; a foreign type or a malformed vote is :class:`InvalidVote`."""
    if event["type"] != VOTE_EVENT_TYPE:
        raise InvalidVote("type", "unknown_type", f"not a vote event: {event['type']!r}")
    data = event.get_data()
    vote = Vote.from_mapping(data) if isinstance(data, dict) else Vote.from_json(data or b"")
    if vote.vote_id != event["id"]:
        raise InvalidVote("vote_id", "conflict", "the event id and the vote_id differ")
    return vote

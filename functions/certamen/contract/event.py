"""The CloudEvent that carries a vote, and its Kafka binary-mode binding.

cloudevents' ``KafkaMessage`` is client-independent: Kafka adapters map their
client's records to it and back, nothing else. :func:`vote_to_kafka` goes through
the SDK; :func:`vote_record` writes the same record directly, for the producers.
"""

from __future__ import annotations

from typing import Any

from cloudevents.abstract import AnyCloudEvent
from cloudevents.http import CloudEvent
from cloudevents.kafka import KafkaMessage, from_binary, to_binary

from certamen.contract.errors import InvalidVote
from certamen.contract.vote import CHANNELS, Vote

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


def _no_key(event: AnyCloudEvent) -> None:
    return None


def vote_to_kafka(vote: Vote) -> KafkaMessage:
    """The Kafka record of a vote: binary mode, ``ce_*`` headers, no key.

    Keyless records are spread by the producer's sticky partitioner: the votes of one
    batching window go to one partition, so the broker appends one batch per produce
    request instead of a few tiny ones on every partition (what keying by vote_id did).
    Nothing reads the key: the consumer knows a vote by its id, wherever it sits.
    """
    return to_binary(vote_event(vote), data_marshaller=_identity, key_mapper=_no_key)


_CONTENT_TYPE_HEADER = CONTENT_TYPE.encode()
_TYPE_HEADER = VOTE_EVENT_TYPE.encode()
_SOURCE_HEADERS = {channel: source_for(channel).encode() for channel in CHANNELS}
_SPECVERSION_HEADER = b"1.0"


def vote_record(vote: Vote) -> KafkaMessage:
    """The record of :func:`vote_to_kafka`, byte for byte, without the SDK: the producers' path.

    Building a ``CloudEvent`` and converting it costs several microseconds a vote; the
    headers of a vote event are fixed but for the id, subject and time. Same header
    order, names and values as :func:`vote_to_kafka` (a test compares the two).
    """
    vote_id = vote.vote_id
    headers = {
        "content-type": _CONTENT_TYPE_HEADER,
        "ce_id": vote_id.encode(),
        "ce_type": _TYPE_HEADER,
        "ce_source": _SOURCE_HEADERS[vote.channel],
        "ce_subject": vote.name.encode(),
        "ce_time": vote.received_at.encode(),
        "ce_specversion": _SPECVERSION_HEADER,
    }
    return KafkaMessage(headers, None, vote.to_json())


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

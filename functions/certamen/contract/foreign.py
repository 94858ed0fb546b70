"""A foreign record: a Kafka record that is no CloudEvent, as Knative's KafkaSource wraps it.

KafkaSource (and our stand-in, ``certamen source``) delivers such a record as an
event of type ``dev.knative.kafka.event`` with id ``partition:<p>/offset:<o>``,
subject ``partition:<p>#<o>`` and source
``/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>``. The source writes these
attributes and the consumer reads back where the record was (for its dead
letter) with the functions here, so the format is written down once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FOREIGN_TYPE = "dev.knative.kafka.event"
_ID = re.compile(r"partition:(\d+)/offset:(\d+)")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a delivery came from in Kafka, when the event says so (see :func:`kafka_origin`)."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


def foreign_id(partition: int, offset: int) -> str:
    """The ``id`` of a wrapped record: unique per topic, as a Kafka position is."""
    return f"partition:{partition}/offset:{offset}"


def foreign_subject(partition: int, offset: int) -> str:
    """The ``subject`` of a wrapped record."""
    return f"partition:{partition}#{offset}"


def foreign_source(topic: str, namespace: str, name: str) -> str:
    """The ``source`` of a wrapped record of ``topic``, read by KafkaSource ``namespace/name``."""
    return f"/apis/v1/namespaces/{namespace}/kafkasources/{name}#{topic}"


def kafka_origin(attributes: Mapping[str, Any]) -> Origin:
    """Topic, partition and offset of a wrapped record, else unknown.

    A CloudEvent function sees the event only, not the HTTP request. A record that
    was a CloudEvent already (every vote) passes through KafkaSource unchanged, so
    its event does not say where it was; a wrapped record does, in its id and source.
    """
    if attributes.get("type") != FOREIGN_TYPE:
        return Origin()
    found = _ID.fullmatch(str(attributes.get("id", "")))
    source = str(attributes.get("source", ""))
    topic = source.rpartition("#")[2] if "#" in source else None
    if found is None:
        return Origin(topic=topic)
    return Origin(topic=topic, partition=int(found[1]), offset=int(found[2]))

"""From a Kafka record to the binary-mode CloudEvent the sink receives, as KafkaSource does it.

- A record that is a CloudEvent in Kafka's binary binding (``ce_*`` headers) passes
  through unchanged: each ``ce_<name>`` header becomes the HTTP header ``ce-<name>``,
  ``content-type`` stays, the value is the body. A structured-mode record
  (``content-type: application/cloudevents+json``) is sent in binary mode too.
- Any other record is wrapped like Knative's ``InvalidCloudEventInterceptor``: type,
  id, subject and source as ``certamen.contract.foreign`` writes them down,
  time = the record's timestamp, the key as the ``key`` and ``partitionkey``
  extensions, every other header as ``kafkaheader<name>``, ``content-type`` as
  ``datacontenttype``, the value as data.

Header values are percent-encoded as the CloudEvents HTTP binding requires (space,
``"``, ``%`` and anything outside printable ASCII). Pure functions: unit-tested.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from cloudevents.kafka import KafkaMessage

from certamen.contract import format_timestamp
from certamen.contract.foreign import FOREIGN_TYPE, foreign_id, foreign_source, foreign_subject

# Our stand-in's identity, as the cluster's KafkaSource is named (knative/eventing/).
SOURCE_NAMESPACE = "certamen"
SOURCE_NAME = "votes"
REQUIRED = ("id", "source", "type")
ERROR_DATA_MAX_BYTES = 1024  # Knative truncates knativeerrordata to this many bytes
_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
_PRINTABLE_ONLY = re.compile(r"[!#$&-~]*")  # the characters of _PRINTABLE
_TEXT = re.compile(r"[ -~]*")
_NOT_NAME = re.compile("[^a-z0-9]")


PartitionKey = tuple[str, int]
"""A partition of a topic: (topic, partition)."""


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """A fetched record, independent of the Kafka client."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """The CloudEvent to POST: its attributes (``datacontenttype`` included) and data."""

    attributes: dict[str, str]
    data: bytes
    wrapped: bool

    @property
    def event_id(self) -> str:
        """The event's id, for logs."""
        return self.attributes["id"]

    def http_headers(self) -> dict[str, str]:
        """Binary-mode HTTP headers: ``ce-<attr>`` (percent-encoded) and ``Content-Type``."""
        headers = {
            f"ce-{name}": _percent_encoded(value)
            for name, value in self.attributes.items()
            if name != "datacontenttype"
        }
        if "datacontenttype" in self.attributes:
            content_type = self.attributes["datacontenttype"]
            if not _TEXT.fullmatch(content_type):  # no line breaks or non-ASCII in a header
                content_type = quote(content_type, safe=_PRINTABLE + ' "%')
            headers["Content-Type"] = content_type
        return headers


def _percent_encoded(value: str) -> str:
    """``value`` as the CloudEvents HTTP binding wants it (most values need no change)."""
    return value if _PRINTABLE_ONLY.fullmatch(value) else _quoted(value)


@functools.lru_cache(maxsize=4096)
def _quoted(value: str) -> str:
    """Percent-encoded; cached, as the values that need it repeat (subjects: band and album)."""
    return quote(value, safe=_PRINTABLE)


def outgoing_event(record: KafkaRecord) -> OutgoingEvent:
    """The CloudEvent a record becomes: itself if it is one, else the KafkaSource wrapping."""
    return _binary(record) or _structured(record) or _wrapped(record)


def dead_letter_message(
    event: OutgoingEvent, key: bytes | None, error: DeliveryError
) -> KafkaMessage:
    """The event for the dead-letter topic, with Knative's error extensions, in binary mode.

    ``knativeerrordest`` is the sink, ``knativeerrorcode`` the last status and
    ``knativeerrordata`` the first 1 KiB of the last answer, base64 (as Knative's
    dispatcher writes them). Without any answer we put ``dispatch error: <why>``
    in ``knativeerrordata``, as Knative's channel dispatcher does.
    """
    extensions = {"knativeerrordest": error.destination}
    if error.status is not None:
        extensions["knativeerrorcode"] = str(error.status)
    data = error.body[:ERROR_DATA_MAX_BYTES]
    if data:
        extensions["knativeerrordata"] = base64.b64encode(data).decode("ascii")
    attributes = {**event.attributes, **extensions}
    headers = {f"ce_{name}": value.encode() for name, value in attributes.items()}
    if "datacontenttype" in attributes:
        del headers["ce_datacontenttype"]
        headers["content-type"] = attributes["datacontenttype"].encode()
    return KafkaMessage(headers=headers, key=key, value=event.data)


@dataclass(frozen=True, slots=True)
class DeliveryError:
    """Why a delivery failed for good: where to, the last status (if any) and answer body."""

    destination: str
    status: int | None
    body: bytes


def _binary(record: KafkaRecord) -> OutgoingEvent | None:
    attributes: dict[str, str] = {}
    try:
        for name, value in record.headers:
            if name.startswith("ce_"):
                attributes[name[3:]] = value.decode("utf-8")
            elif name.lower() == "content-type":
                attributes["datacontenttype"] = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "specversion" not in attributes or not all(attributes.get(name) for name in REQUIRED):
        return None
    return OutgoingEvent(attributes=attributes, data=record.value or b"", wrapped=False)


def _structured(record: KafkaRecord) -> OutgoingEvent | None:
    """A record in structured mode (JSON event format), if it is one (the SDK's reader
    would replace ``datacontenttype`` by the header's and invent a ``time``)."""
    content_type = _header(record, "content-type")
    if content_type is None or not content_type.startswith(b"application/cloudevents"):
        return None
    try:
        document = json.loads(record.value or b"")
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    attributes = {
        str(name): str(value)
        for name, value in document.items()
        if name not in ("data", "data_base64") and value is not None
    }
    if not all(attributes.get(name) for name in REQUIRED):
        return None
    if "data_base64" in document:
        try:
            body = base64.b64decode(str(document["data_base64"]), validate=True)
        except ValueError:
            return None
    elif isinstance(document.get("data"), str) and not _is_json(attributes):
        body = document["data"].encode()
    elif "data" in document:
        body = json.dumps(document["data"], separators=(",", ":"), ensure_ascii=False).encode()
    else:
        body = b""
    return OutgoingEvent(attributes=attributes, data=body, wrapped=False)


def _is_json(attributes: Mapping[str, str]) -> bool:
    media = attributes.get("datacontenttype", "application/json").split(";")[0].strip()
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def _wrapped(record: KafkaRecord) -> OutgoingEvent:
    p, o = record.partition, record.offset
    attributes = {
        "specversion": "1.0",
        "id": foreign_id(p, o),
        "source": foreign_source(record.topic, SOURCE_NAMESPACE, SOURCE_NAME),
        "type": FOREIGN_TYPE,
        "subject": foreign_subject(p, o),
        "time": format_timestamp(datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)),
    }
    if record.key is not None:
        key = record.key.decode("utf-8", errors="replace")
        attributes["partitionkey"] = key
        attributes["key"] = key
    for name, value in record.headers:
        if name.lower() == "content-type":
            attributes["datacontenttype"] = value.decode("utf-8", errors="replace").lower()
        else:
            extension = "kafkaheader" + _NOT_NAME.sub("", name.lower())
            attributes[extension] = value.decode("utf-8", errors="replace")
    return OutgoingEvent(attributes=attributes, data=record.value or b"", wrapped=True)


def _header(record: KafkaRecord, name: str) -> bytes | None:
    found: Mapping[str, bytes] = {k.lower(): v for k, v in record.headers}
    return found.get(name)

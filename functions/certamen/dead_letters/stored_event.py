"""A dead letter's stored event, made a CloudEvent again exactly as the consumer received it.

The consumer stored the event's attributes percent-decoded and its data as the
CloudEvents SDK gave it (JSON written back compactly, other data as text or
base64): ``consumer.documents``. Here the SDK's own ``from_http`` reads them
back, as functions-framework reads a request, so the consumer's rules see the
same event: header values carry ``%`` as ``%25`` (the consumer decodes a value
only when it holds a ``%``), and the data goes through the SDK's JSON decoding.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_http


class NotReplayable(ValueError):
    """The letter does not hold a whole CloudEvent (its data was cut when stored)."""


def stored_event(letter: Mapping[str, Any]) -> CloudEvent:
    """The CloudEvent of a stored dead letter; :class:`NotReplayable` if it was truncated."""
    event = letter.get("event") or {}
    if event.get("data_truncated"):
        raise NotReplayable(f"only the first bytes of its {event.get('data_size')} were kept")
    attributes: Mapping[str, str] = event.get("attributes") or {}
    if "data" in event:
        body = str(event["data"]).encode()
    elif "data_base64" in event:
        body = base64.b64decode(event["data_base64"])
    else:
        body = b""
    headers = {
        f"ce-{name}": str(value).replace("%", "%25")
        for name, value in attributes.items()
        if name != "datacontenttype"
    }
    if "datacontenttype" in attributes:
        headers["content-type"] = str(attributes["datacontenttype"])
    try:
        return from_http(headers, body)
    except GenericException as e:  # stored by hand, or damaged: not what the consumer took
        raise NotReplayable(f"its stored event is no CloudEvent: {e}") from None

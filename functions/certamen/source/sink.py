"""What the delivery loop asks of a sink: post an event, get an :class:`Answer`.

Shared by the loop (``delivery.py``), the HTTP sink that answers it
(``http_sink.py``) and the runner that counts retries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from certamen.source.events import OutgoingEvent


@dataclass(slots=True)
class Answer:
    """The sink's answer to one attempt: a status and body, or no answer (``status`` None)."""

    status: int | None
    body: bytes


Post = Callable[[OutgoingEvent], Awaitable[Answer]]

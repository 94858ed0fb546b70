"""Vote ids: the client's idempotency key when it gave one, else a new time-sortable UUIDv7."""

from __future__ import annotations

import random
import time
import uuid

from certamen.contract.ballot import vote_id_field
from certamen.contract.errors import InvalidVote


def new_vote_id() -> str:
    """A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then randomness; sorts by time.

    The 74 random bits come from ``random`` (reseeded after fork), not ``os.urandom``:
    an id must be unique, not secret, and a system call per vote showed in profiles.
    """
    millis = (time.time_ns() // 1_000_000) & (2**48 - 1)
    value = (
        millis << 80
        | 0x7 << 76  # version 7
        | random.getrandbits(12) << 64
        | 0x2 << 62  # RFC 9562 variant
        | random.getrandbits(62)
    )
    return str(uuid.UUID(int=value))


def resolve_vote_id(transport_key: str | None, body_key: str | None) -> str:
    """The vote's id: the transport's key (header or metadata), the body's, or a new one.

    A key given both ways must agree, so that a retry is recognised whichever way it travels.
    """
    if transport_key is not None:
        transport_key = vote_id_field(transport_key)
        if body_key is not None and body_key != transport_key:
            raise InvalidVote(
                "vote_id", "conflict", "the idempotency key and the body's vote_id differ"
            )
        return transport_key
    return body_key if body_key is not None else new_vote_id()

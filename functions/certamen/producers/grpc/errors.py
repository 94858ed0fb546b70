"""Exceptions -> gRPC status, in exactly this one place for producer-grpc.

- :class:`~certamen.contract.InvalidVote` -> INVALID_ARGUMENT; the details say the
  field, rule and message; trailing metadata ``certamen-field`` and ``certamen-rule``
  carry the (field, rule) pair for programs.
- :class:`~certamen.producers.intake.Unavailable` -> UNAVAILABLE (retryable); trailing metadata
  ``certamen-vote-id`` is the id to send again as ``idempotency-key`` so the vote
  counts once even if Kafka did take the first try late.

Anything else is left to grpcio, which logs it once with its traceback and answers
UNKNOWN: never OK.
"""

from __future__ import annotations

from typing import NoReturn

import grpc
import grpc.aio

from certamen.contract import InvalidVote
from certamen.producers.intake import Unavailable

FIELD_KEY = "certamen-field"
RULE_KEY = "certamen-rule"
VOTE_ID_KEY = "certamen-vote-id"


async def abort_with_status(
    context: grpc.aio.ServicerContext[object, object], error: InvalidVote | Unavailable
) -> NoReturn:
    """End the call with the gRPC status our exception maps to (raises grpcio's abort).

    Handlers catch ``(InvalidVote, Unavailable)`` around their body and call this:
    a plain ``try`` costs nothing on the success path, unlike a context manager per call.
    """
    if isinstance(error, InvalidVote):
        context.set_trailing_metadata(((FIELD_KEY, _ascii(error.field)), (RULE_KEY, error.rule)))
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{error.field}: {error.message} (rule: {error.rule})",
        )
    context.set_trailing_metadata(((VOTE_ID_KEY, error.vote_id),))
    await context.abort(
        grpc.StatusCode.UNAVAILABLE, f"{error}; retry with idempotency-key {error.vote_id}"
    )


def _ascii(text: str) -> str:
    """Metadata values must be printable ASCII; a field label is, except a foreign key's."""
    return text.encode("ascii", "backslashreplace").decode("ascii")

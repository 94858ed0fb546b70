"""Exceptions -> gRPC status, in exactly this one place for producer-grpc.

- :class:`~certamen.contract.InvalidVote` -> INVALID_ARGUMENT; the details say the
  field, rule and message; trailing metadata ``certamen-field`` and ``certamen-rule``
  carry the (field, rule) pair for programs.
- :class:`~certamen.producers.intake.KeyConflict` -> ALREADY_EXISTS (the idempotency key
  names another ballot), with the same metadata (``vote_id`` / ``conflict``).
- :class:`~certamen.producers.intake.Refused` -> UNAVAILABLE, "not taken": the vote was
  never handed to Kafka. Trailing metadata ``certamen-vote-id`` (the id to send again
  as ``idempotency-key``), ``retry-after`` (seconds) and ``grpc-retry-pushback-ms``
  (gRPC's own retry pushback).
- :class:`~certamen.producers.intake.OutcomeUnknown` -> DEADLINE_EXCEEDED, "unknown":
  handed to Kafka, never acknowledged; ``certamen-vote-id`` and ``certamen-outcome:
  unknown``. Sent again with that key it counts at most once.

Anything else is left to grpcio, which logs it once with its traceback and answers
UNKNOWN: never OK.
"""

from __future__ import annotations

from typing import NoReturn

import grpc
import grpc.aio

from certamen.contract import InvalidVote
from certamen.producers.intake import KeyConflict, OutcomeUnknown, Refused

FIELD_KEY = "certamen-field"
RULE_KEY = "certamen-rule"
VOTE_ID_KEY = "certamen-vote-id"
OUTCOME_KEY = "certamen-outcome"
RETRY_AFTER_KEY = "retry-after"
PUSHBACK_KEY = "grpc-retry-pushback-ms"


async def abort_with_status(
    context: grpc.aio.ServicerContext[object, object],
    error: InvalidVote | Refused | OutcomeUnknown,
) -> NoReturn:
    """End the call with the gRPC status our exception maps to (raises grpcio's abort).

    Handlers catch ``(InvalidVote, Refused, OutcomeUnknown)`` around their body and call
    this: a plain ``try`` costs nothing on the success path, unlike a context manager.
    """
    if isinstance(error, InvalidVote):
        metadata = ((FIELD_KEY, _ascii(error.field)), (RULE_KEY, error.rule))
        if isinstance(error, KeyConflict):
            context.set_trailing_metadata(((VOTE_ID_KEY, error.vote_id), *metadata))
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"vote_id: {error.message}")
        context.set_trailing_metadata(metadata)
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{error.field}: {error.message} (rule: {error.rule})",
        )
    if isinstance(error, OutcomeUnknown):
        context.set_trailing_metadata(((VOTE_ID_KEY, error.vote_id), (OUTCOME_KEY, "unknown")))
        await context.abort(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"{error}; retry with idempotency-key {error.vote_id}: it counts at most once",
        )
    context.set_trailing_metadata(
        (
            (VOTE_ID_KEY, error.vote_id),
            (RETRY_AFTER_KEY, str(error.retry_after_s)),
            (PUSHBACK_KEY, str(error.retry_after_s * 1000)),
        )
    )
    await context.abort(
        grpc.StatusCode.UNAVAILABLE, f"{error}; retry with idempotency-key {error.vote_id}"
    )


def _ascii(text: str) -> str:
    """Metadata values must be printable ASCII; a field label is, except a foreign key's."""
    return text.encode("ascii", "backslashreplace").decode("ascii")

"""Exceptions -> gRPC status, in exactly this one place for producer-grpc.

- :class:`~certamen.contract.InvalidVote` -> INVALID_ARGUMENT; the details say the
  field, rule and message; trailing metadata ``certamen-field`` and ``certamen-rule``
  carry the (field, rule) pair for programs.
- :class:`~certamen.intake.Unavailable` -> UNAVAILABLE (retryable); trailing metadata
  ``certamen-vote-id`` is the id to send again as ``idempotency-key`` so the vote
  counts once even if Kafka did take the first try late.

Anything else is left to grpcio, which logs it once with its traceback and answers
UNKNOWN: never OK.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import grpc.aio

from certamen.contract import InvalidVote
from certamen.intake import Unavailable

FIELD_KEY = "certamen-field"
RULE_KEY = "certamen-rule"
VOTE_ID_KEY = "certamen-vote-id"


@asynccontextmanager
async def status_for_errors(
    context: grpc.aio.ServicerContext[object, object],
) -> AsyncIterator[None]:
    """Run a handler's body; turn our exceptions into the gRPC status the client sees."""
    try:
        yield
    except InvalidVote as e:
        context.set_trailing_metadata(((FIELD_KEY, _ascii(e.field)), (RULE_KEY, e.rule)))
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"{e.field}: {e.message} (rule: {e.rule})"
        )
    except Unavailable as e:
        context.set_trailing_metadata(((VOTE_ID_KEY, e.vote_id),))
        await context.abort(
            grpc.StatusCode.UNAVAILABLE, f"{e}; retry with idempotency-key {e.vote_id}"
        )


def _ascii(text: str) -> str:
    """Metadata values must be printable ASCII; a field label is, except a foreign key's."""
    return text.encode("ascii", "backslashreplace").decode("ascii")

"""What one attempt's answer means to a careful client, and what a vote's attempts add up to.

Pure: the Locust users turn their transport's answer into plain values (an HTTP
status and body, a gRPC status name and trailers) and these functions say what it
was, following the producers' answers (docs/grpc.md and docs/wasm-kernel.md):

- **accepted**: 202 / OK; Kafka has it.
- **rejected**: 400, 413, 415 / INVALID_ARGUMENT, and 409 / ALREADY_EXISTS (``conflict``):
  never counted, not retried.
- **refused**: 503 with the producer's JSON body / UNAVAILABLE with ``certamen-vote-id``,
  or a connection that was never made: not taken, never counted; retried after
  ``Retry-After``.
- **unknown**: anything else (504 or DEADLINE_EXCEEDED, a cut connection, a timeout, a
  5xx that is not the producer's): maybe taken; retried with the same key, so it is
  counted at most once.

A vote is accepted if any attempt was, else unknown if any attempt was, else refused.
The connection-per-vote bursts (``load/newconn.py``) name the same classes
(:func:`answer_class`), with ``failed`` for the answers no producer gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

VOTE_ID_TRAILER = "certamen-vote-id"
RETRY_PUSHBACK_TRAILER = "grpc-retry-pushback-ms"
# gRPC statuses that say the call was turned down before any work: a different call
# would be needed, so they are not retried (and are never counted).
_GRPC_REFUSED_OUTRIGHT = frozenset(
    {
        "UNIMPLEMENTED",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "NOT_FOUND",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
    }
)


@dataclass(frozen=True, slots=True)
class Accepted:
    """The producer acknowledged the vote."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """The producer turned the vote down for breaking a rule (``field/rule``)."""

    rule: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Not taken: the producer decided before the vote reached Kafka (or it never got it)."""

    reason: str
    retry_after_s: float = 0.0
    by_producer: bool = True  # False: no connection was made (the producer never saw it)


@dataclass(frozen=True, slots=True)
class Unknown:
    """No known outcome: the vote may have reached Kafka."""

    reason: str
    odd: bool = False  # an answer no producer gives (another 5xx, RESOURCE_EXHAUSTED)


Outcome = Accepted | Rejected | Refused | Unknown


def http_outcome(status: int, body: str, retry_after: str | None, *, sent: bool) -> Outcome:
    """One HTTP attempt: its status (0: no answer), body and ``Retry-After``; ``sent`` is
    False when the connection was never made (nothing reached the producer)."""
    if status in (200, 201, 202):
        return Accepted()
    if status == 0:
        return Unknown("no answer") if sent else Refused("connection refused", by_producer=False)
    error = _producer_error(body)
    if status == 503 and error is not None:  # the producer's own refusal, not a proxy's 503
        return Refused("503", _seconds(retry_after))
    if 400 <= status < 500 and status not in (408, 429):
        if error is not None and "field" in error and "rule" in error:
            return Rejected(f"{error['field']}/{error['rule']}")
        return Rejected(f"http/{status}")
    return Unknown(str(status), odd=status not in (503, 504))


def grpc_outcome(
    code: str, trailers: Mapping[str, str], details: str = "", *, sent: bool = True
) -> Outcome:
    """One gRPC call that ended with status ``code`` (its name), these trailers and
    ``details`` (grpcio's text, which says when no connection could be made); ``sent``
    False: the client knows the request never left it."""
    if code == "OK":
        return Accepted()
    if code in ("INVALID_ARGUMENT", "ALREADY_EXISTS"):
        field, rule = trailers.get("certamen-field", "?"), trailers.get("certamen-rule", "?")
        return Rejected(f"{field}/{rule}")
    if code == "UNAVAILABLE" and VOTE_ID_TRAILER in trailers:
        pushback = trailers.get(RETRY_PUSHBACK_TRAILER)
        return Refused(code, _seconds(pushback) / 1000 if pushback else 0.0)
    if code == "UNAVAILABLE" and (not sent or "failed to connect" in details):
        return Refused(code, by_producer=False)  # grpcio's: no connection, nothing sent
    if code in _GRPC_REFUSED_OUTRIGHT:
        return Rejected(f"grpc/{code.lower()}")
    return Unknown(code, odd=code not in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"))


def batch_result_outcome(kind: str | None, field: str = "", rule: str = "") -> Outcome:
    """One vote's ``CastResult`` of a ``CastBatch`` (``kind``: the oneof set; ``field``
    and ``rule``: a rejection's)."""
    if kind == "receipt":
        return Accepted()
    if kind == "rejection":
        return Rejected(f"{field}/{rule}")
    if kind == "unavailable":
        return Refused("unavailable")
    return Unknown(kind or "no outcome")  # "unknown": handed to Kafka, never acknowledged


def answer_class(outcome: Outcome) -> str:
    """The class of one answer in a burst's ledger (``load/newconn.py``): accepted,
    rejected, refused (by the producer), unknown, or failed (no connection was made, or
    an answer no producer gives)."""
    if isinstance(outcome, Accepted):
        return "accepted"
    if isinstance(outcome, Rejected):
        return "rejected"
    if isinstance(outcome, Refused):
        return "refused" if outcome.by_producer else "failed"
    return "failed" if outcome.odd else "unknown"


@dataclass(slots=True)
class Attempts:
    """A vote's attempts so far: whether any ended without a known outcome."""

    unknown: bool = False

    def add(self, outcome: Outcome) -> None:
        """One more attempt's outcome."""
        self.unknown = self.unknown or isinstance(outcome, Unknown)

    def given_up(self) -> Refused | Unknown:
        """The vote's class after the last attempt was not acknowledged."""
        return Unknown("an attempt's outcome is unknown") if self.unknown else Refused("refused")


def _producer_error(body: str) -> dict[str, str] | None:
    """The ``error`` object of a producer's JSON answer (any nesting), or None."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    for candidate in _mappings(document):
        if "rule" in candidate:
            return {str(k): str(v) for k, v in candidate.items()}
    return None


def _mappings(document: object) -> Iterator[dict[str, object]]:
    if isinstance(document, dict):
        yield document
        for value in document.values():
            yield from _mappings(value)
    elif isinstance(document, list):
        for value in document:
            yield from _mappings(value)


def _seconds(value: str | None) -> float:
    """A number header (``Retry-After`` seconds, pushback milliseconds); 0 if none or bad."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0

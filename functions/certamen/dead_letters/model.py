"""What the dead-letters desk takes and gives: a selection, and per letter what a replay did.

Plain values, read from stored documents by pure functions, so that the command
and the app show the same thing and the mapping is unit-tested without a server.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from certamen.adapters.dead_letter_store import NOT_PUT_RIGHT, OPEN, REPLAYED

Reason = dict[str, str]


class SelectionError(ValueError):
    """A selection of dead letters that cannot be used: names the option and the problem."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option}: {problem}")
        self.option = option


class Outcome(enum.Enum):
    """What a replay did with one dead letter (or, in a preview, would do)."""

    COUNTED = "counted"  # its vote is counted now: the letter is put right
    ALREADY_COUNTED = "already_counted"  # its vote was counted before: put right, nothing added
    STILL_DEAD = "still_dead"  # breaks a rule again: stays a dead letter with the new reason
    SKIPPED = "skipped"  # put right already, or being replayed by someone else right now
    NOT_FOUND = "not_found"  # no dead letter has this id
    UNAVAILABLE = "unavailable"  # a store was away: nothing decided, try again


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters: by id, by the rule they broke, by when they failed.

    ``ids`` empty means any. ``include_replayed`` is for listing; a replay never
    re-drives a letter that was put right (asked for by id, it is reported as skipped).
    """

    ids: tuple[str, ...] = ()
    rule: str | None = None
    since: datetime | None = None
    include_replayed: bool = False

    def __post_init__(self) -> None:
        if self.since is not None and (
            not isinstance(self.since, datetime) or self.since.tzinfo is None
        ):
            raise SelectionError("since", "needs a time zone (stored times are UTC)")
        if any(not isinstance(i, str) or not i for i in self.ids):
            raise SelectionError("id", "each id is the non-empty text of a letter's id")
        if self.rule is not None and (not isinstance(self.rule, str) or not self.rule):
            raise SelectionError("reason", "a rule is a non-empty text, such as not_in_catalog")

    def query(self, *, open_only: bool) -> dict[str, Any]:
        """The MongoDB filter on ``dead_letters`` (letters written before replays existed
        have no ``status``: ``$ne`` counts them as open)."""
        query: dict[str, Any] = {}
        if self.ids:
            query["_id"] = {"$in": list(dict.fromkeys(self.ids))}
        if self.rule is not None:
            query["reason.rule"] = self.rule
        if self.since is not None:
            query["failed_at"] = {"$gte": self.since}
        if open_only:
            query.update(NOT_PUT_RIGHT)
        return query


@dataclass(frozen=True, slots=True)
class Replayed:
    """How a letter was put right."""

    by: str
    at: datetime
    outcome: str
    vote_id: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as listed: why, what the event was, and whether it was put right."""

    letter_id: str
    reason: Reason
    failed_at: datetime | None
    status: str
    attempts: int
    event_type: str
    event_source: str
    event_id: str
    subject: str | None
    data: str
    topic: str | None
    partition: int | None
    offset: int | None
    replayed: Replayed | None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DeadLetter:
        """Read a stored letter (one written before replays existed counts as open)."""
        event = document.get("event") or {}
        attributes = event.get("attributes") or {}
        replayed = document.get("replayed")
        return cls(
            letter_id=str(document["_id"]),
            reason=_reason(document.get("reason")),
            failed_at=utc(document.get("failed_at")),
            status=str(document.get("status") or OPEN),
            attempts=int(document.get("attempts") or 0),
            event_type=str(attributes.get("type", "")),
            event_source=str(attributes.get("source", "")),
            event_id=str(attributes.get("id", "")),
            subject=attributes.get("subject"),
            data=_data_preview(event),
            topic=document.get("topic"),
            partition=document.get("partition"),
            offset=document.get("offset"),
            replayed=None
            if not replayed
            else Replayed(
                by=str(replayed["by"]),
                at=utc(replayed["at"]) or datetime.min.replace(tzinfo=UTC),
                outcome=str(replayed["outcome"]),
                vote_id=str(replayed["vote_id"]),
            ),
        )


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """One replay of one letter, as recorded in ``dead_letter_replays``."""

    letter_id: str
    attempt: int
    by: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    reason_before: Reason | None
    reason: Reason | None
    vote_id: str | None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ReplayRecord:
        """Read a stored replay record."""
        return cls(
            letter_id=str(document["letter_id"]),
            attempt=int(document["attempt"]),
            by=str(document["by"]),
            started_at=utc(document["started_at"]) or datetime.min.replace(tzinfo=UTC),
            finished_at=utc(document.get("finished_at")),
            outcome=document.get("outcome"),
            reason_before=_reason(document.get("reason_before")) or None,
            reason=_reason(document.get("reason")) or None,
            vote_id=document.get("vote_id"),
        )


@dataclass(frozen=True, slots=True)
class LetterOutcome:
    """What happened to one letter; ``detail`` is one English line for the command."""

    letter_id: str
    outcome: Outcome
    dry_run: bool
    detail: str
    vote_id: str | None = None
    reason: Reason | None = None
    previous_reason: Reason | None = None
    by: str | None = None
    at: datetime | None = None
    status: str | None = None  # the letter's status afterwards (open, replayed); None if unknown

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``--json``)."""
        return {
            "letter_id": self.letter_id,
            "outcome": self.outcome.value,
            "dry_run": self.dry_run,
            "detail": self.detail,
            "vote_id": self.vote_id,
            "reason": self.reason,
            "previous_reason": self.previous_reason,
            "by": self.by,
            "at": None if self.at is None else self.at.isoformat(),
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """A replay (or preview) of a selection: by whom, and each letter's outcome in order."""

    by: str
    dry_run: bool
    outcomes: list[LetterOutcome] = field(default_factory=list)
    stopped: str | None = None
    not_attempted: int = 0

    @property
    def all_put_right(self) -> bool:
        """Every selected letter is put right now (by this replay or an earlier one)."""
        return self.stopped is None and all(o.status == REPLAYED for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``--json``)."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.outcome.value] = counts.get(o.outcome.value, 0) + 1
        return {
            "by": self.by,
            "dry_run": self.dry_run,
            "counts": counts,
            "stopped": self.stopped,
            "not_attempted": self.not_attempted,
            "outcomes": [o.to_dict() for o in self.outcomes],
        }


def utc(value: object) -> datetime | None:
    """A stored time as an aware UTC datetime (PyMongo hands back naive UTC by default)."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _reason(value: object) -> Reason:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _data_preview(event: Mapping[str, Any]) -> str:
    if "data" in event:
        return str(event["data"])
    if "data_base64" in event:
        return f"<{event.get('data_size', '?')} bytes, not UTF-8>"
    return ""

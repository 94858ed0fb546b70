"""Dead letters put right: list them, preview a replay, replay them through the consumer's path.

One object serves ``certamen dead-letters`` and the app's dead-letters page. A
replay re-drives a letter's stored event through the consumer's own ``Handler``:
its rules (``judge``: the contract, the catalog, legacy records) and its commit
(the MongoDB insert under the vote id, then the Redis script behind the vote's
marker). So a replayed vote is counted exactly once however often it is replayed
and whoever replays it: two replays of one letter, or a replay and a redelivery,
meet at the vote id as two deliveries do.

Per letter (docs/dead-letters.md): claim the next attempt by inserting its replay
record (the only atomic write FerretDB v1 offers; a claim someone else holds is
reported, one left unfinished past :data:`LEASE` is passed over); judge the
event; commit a vote, then put the letter right in Redis and in MongoDB, or move
a letter that breaks a rule again to its new rule; finish the record. Every step
may run again harmlessly and the letter in MongoDB is written last, so the next
replay converges from wherever a crash left off.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from cloudevents.abstract import AnyCloudEvent
from pymongo.database import Database

from certamen.adapters.dead_letter_store import (
    OPEN,
    REPLAYED,
    DeadLetterStore,
    replay_record_id,
)
from certamen.adapters.errors import StoreUnavailable
from certamen.adapters.mongo_store import Document, VoteLog
from certamen.adapters.redis_store import TallyWriter
from certamen.consumer import Handler
from certamen.consumer import Outcome as Handled
from certamen.consumer.startup import load_consumer_catalog, make_handler, utc_now
from certamen.contract import InvalidVote, Vote
from certamen.dead_letters.model import (
    DeadLetter,
    LetterOutcome,
    Outcome,
    Reason,
    ReplayRecord,
    ReplayReport,
    Selection,
    SelectionError,
    utc,
)
from certamen.dead_letters.stored_event import NotReplayable, stored_event
from certamen.settings import Settings

# Longer than any replay of one letter takes (each of its few store calls is bounded by
# the clients' timeouts, seconds), so a claim left unfinished this long was abandoned.
LEASE = timedelta(seconds=60)
MAX_BY = 200
MAX_SELECTED = 100_000
_PUT_RIGHT = (Outcome.COUNTED.value, Outcome.ALREADY_COUNTED.value)
_COMMITTED = {Handled.COUNTED: Outcome.COUNTED, Handled.DUPLICATE: Outcome.ALREADY_COUNTED}
# A replay record that ended without deciding anything: the next attempt may be claimed.
ABANDONED, INTERRUPTED = "abandoned", "interrupted"


@dataclass(frozen=True, slots=True)
class _Claim:
    record_id: str
    attempt: int


class DeadLetters:
    """The dead letters of one contest database, and the consumer's path to put them right."""

    def __init__(
        self,
        store: DeadLetterStore,
        tally: TallyWriter,
        handler: Handler,
        *,
        clock: Callable[[], datetime],
        lease: timedelta = LEASE,
    ) -> None:
        self._store = store
        self._tally = tally
        self._handler = handler
        self._clock = clock
        self._lease = lease

    @classmethod
    def from_settings(
        cls, settings: Settings, *, db: Database[Document], redis: redis.Redis
    ) -> DeadLetters:
        """Over the caller's clients, judging as a consumer with these settings would (the
        catalog, legacy records). Raises ``CatalogError`` for a catalog it cannot use."""
        tally = TallyWriter(redis)
        handler = make_handler(
            settings, VoteLog(db), tally, catalog=load_consumer_catalog(settings)
        )
        return cls(DeadLetterStore(db), tally, handler, clock=utc_now)

    def ping(self) -> None:
        """Check that Redis and MongoDB answer (``StoreUnavailable`` if not), before a replay
        that would otherwise stop at its first letter."""
        self._tally.ping()
        self._store.ping()

    def list(self, selection: Selection, *, limit: int = 500) -> builtins.list[DeadLetter]:
        """The selected letters, newest failure first (open ones unless asked otherwise)."""
        query = selection.query(open_only=not selection.include_replayed)
        return [DeadLetter.from_document(d) for d in self._store.find_letters(query, limit=limit)]

    def history(
        self, *, letter_id: str | None = None, limit: int = 100
    ) -> builtins.list[ReplayRecord]:
        """Recorded replays, newest first; of one letter, or of all."""
        query = {} if letter_id is None else {"letter_id": letter_id}
        return [ReplayRecord.from_document(d) for d in self._store.replays(query, limit=limit)]

    def replay(self, selection: Selection, *, by: str, dry_run: bool = False) -> ReplayReport:
        """Replay the selected letters in the name of ``by`` (a preview writes nothing).

        Letters named by id are taken in that order, whatever their status (one put
        right already is reported as skipped, an unknown id as not found); otherwise
        the open letters that match, newest failure first. A store that goes away
        stops the replay: that letter is reported unavailable, the rest not attempted.
        Raises ``StoreUnavailable`` when the letters cannot be read at all, and
        ``SelectionError`` for an unusable ``by``.
        """
        by = checked_by(by)
        letters = self._selected(selection)
        outcomes: builtins.list[LetterOutcome] = []
        for index, (letter_id, letter) in enumerate(letters):
            try:
                outcomes.append(self._one(letter_id, letter, by, dry_run))
            except StoreUnavailable as e:
                outcomes.append(LetterOutcome(letter_id, Outcome.UNAVAILABLE, dry_run, str(e)))
                left = len(letters) - index - 1
                return ReplayReport(by, dry_run, outcomes, stopped=str(e), not_attempted=left)
        return ReplayReport(by, dry_run, outcomes)

    def _selected(self, selection: Selection) -> builtins.list[tuple[str, Document | None]]:
        if not selection.ids:
            found = self._store.find_letters(selection.query(open_only=True), limit=MAX_SELECTED)
            return [(str(d["_id"]), d) for d in found]
        query = selection.query(open_only=False)
        by_id = {str(d["_id"]): d for d in self._store.find_letters(query, limit=MAX_SELECTED)}
        return [(letter_id, by_id.get(letter_id)) for letter_id in dict.fromkeys(selection.ids)]

    def _one(
        self, letter_id: str, letter: Document | None, by: str, dry_run: bool
    ) -> LetterOutcome:
        if letter is None:
            return LetterOutcome(
                letter_id, Outcome.NOT_FOUND, dry_run, "no dead letter has this id"
            )
        before = _reason(letter)
        if letter.get("status") == REPLAYED:
            return _put_right_before(letter_id, letter, before, dry_run)
        try:
            event = stored_event(letter)
        except NotReplayable as e:
            return LetterOutcome(
                letter_id, Outcome.SKIPPED, dry_run, f"cannot be replayed: {e}",
                previous_reason=before, status=OPEN,
            )  # fmt: skip
        if dry_run:
            return self._preview(letter_id, event, before)
        claim = self._claim(letter_id, int(letter.get("attempts") or 0) + 1, by, before)
        if isinstance(claim, LetterOutcome):
            return claim
        try:
            try:
                vote = self._handler.judge(event)
            except InvalidVote as error:
                return self._still_dead(letter_id, claim, before, error, by)
            return self._count(letter_id, claim, before, vote, by)
        except StoreUnavailable as e:
            self._interrupted(claim, e)
            raise

    def _interrupted(self, claim: _Claim, error: StoreUnavailable) -> None:
        """Say on the record that this attempt decided nothing, so the next replay need not
        wait for the lease (unless MongoDB is what went away: then the lease does it)."""
        fields = {"outcome": INTERRUPTED, "finished_at": self._clock(), "error": str(error)}
        with contextlib.suppress(StoreUnavailable):
            self._store.finish(claim.record_id, fields)

    def _preview(self, letter_id: str, event: AnyCloudEvent, before: Reason) -> LetterOutcome:
        try:
            vote = self._handler.judge(event)
        except InvalidVote as error:
            reason = error.as_dict()
            return LetterOutcome(
                letter_id, Outcome.STILL_DEAD, True, f"would stay a dead letter: {_said(reason)}",
                reason=reason, previous_reason=before, status=OPEN,
            )  # fmt: skip
        if self._store.vote_logged(vote.vote_id):
            outcome, detail = Outcome.ALREADY_COUNTED, "its vote is counted already"
        else:
            outcome, detail = Outcome.COUNTED, f"would count a vote for {_voted(vote)}"
        return LetterOutcome(
            letter_id, outcome, True, detail,
            vote_id=vote.vote_id, previous_reason=before, status=OPEN,
        )  # fmt: skip

    def _claim(
        self, letter_id: str, attempt: int, by: str, before: Reason
    ) -> _Claim | LetterOutcome:
        """Own the next attempt of the letter, or say who does."""
        while True:
            now = self._clock()
            record_id = replay_record_id(letter_id, attempt)
            found = self._store.claim(
                {
                    "_id": record_id,
                    "letter_id": letter_id,
                    "attempt": attempt,
                    "by": by,
                    "started_at": now,
                    "finished_at": None,
                    "outcome": None,
                    "reason_before": before,
                }
            )
            if found is None:
                return _Claim(record_id, attempt)
            holder = str(found.get("by"))
            finished, since = utc(found.get("finished_at")), utc(found.get("started_at"))
            if finished is not None and found.get("outcome") in (ABANDONED, INTERRUPTED):
                attempt += 1  # that attempt decided nothing: take the next one
                continue
            if finished is not None:
                outcome = found.get("outcome")
                return LetterOutcome(
                    letter_id, Outcome.SKIPPED, False, f"replayed by {holder} meanwhile: {outcome}",
                    vote_id=found.get("vote_id"), previous_reason=before, by=holder, at=finished,
                    status=REPLAYED if outcome in _PUT_RIGHT else OPEN,
                )  # fmt: skip
            if since is not None and now - since < self._lease:
                return LetterOutcome(
                    letter_id, Outcome.SKIPPED, False,
                    f"being replayed by {holder} since {since:%Y-%m-%d %H:%M:%S} UTC",
                    previous_reason=before, by=holder, at=since, status=OPEN,
                )  # fmt: skip
            # Its holder stopped before finishing: say so on its record, take the next attempt.
            self._store.finish(record_id, {"outcome": ABANDONED, "finished_at": now})
            attempt += 1

    def _count(
        self, letter_id: str, claim: _Claim, before: Reason, vote: Vote, by: str
    ) -> LetterOutcome:
        """Commit the vote as the consumer does, then put the letter right."""
        (handled,) = self._handler.commit([vote])
        if handled not in _COMMITTED:  # never put a letter right on a result not understood
            raise RuntimeError(f"unexpected commit result for {vote.vote_id}: {handled!r}")
        outcome = _COMMITTED[handled]
        self._tally.resolve_dead_letter(letter_id, before.get("rule", ""))
        now = self._clock()
        replayed = {"at": now, "by": by, "outcome": outcome.value, "vote_id": vote.vote_id}
        self._store.update_letter(
            letter_id, {"status": REPLAYED, "attempts": claim.attempt, "replayed": replayed}
        )
        self._store.finish(
            claim.record_id, {"finished_at": now, "outcome": outcome.value, "vote_id": vote.vote_id}
        )
        detail = (
            f"counted a vote for {_voted(vote)}"
            if outcome is Outcome.COUNTED
            else "its vote was counted already: nothing added"
        )
        return LetterOutcome(
            letter_id, outcome, False, detail,
            vote_id=vote.vote_id, previous_reason=before, by=by, at=now, status=REPLAYED,
        )  # fmt: skip

    def _still_dead(
        self, letter_id: str, claim: _Claim, before: Reason, error: InvalidVote, by: str
    ) -> LetterOutcome:
        """Keep the letter open under the rule it breaks now."""
        reason = error.as_dict()
        self._tally.reclassify_dead_letter(letter_id, before.get("rule", ""), error.rule)
        now = self._clock()
        self._store.update_letter(letter_id, {"attempts": claim.attempt, "reason": reason})
        self._store.finish(
            claim.record_id,
            {"finished_at": now, "outcome": Outcome.STILL_DEAD.value, "reason": reason},
        )
        return LetterOutcome(
            letter_id, Outcome.STILL_DEAD, False, f"still a dead letter: {_said(reason)}",
            reason=reason, previous_reason=before, by=by, at=now, status=OPEN,
        )  # fmt: skip


def checked_by(by: object) -> str:
    """Who replays: an account or user name, recorded as given (trimmed)."""
    name = by.strip() if isinstance(by, str) else ""
    if not name:
        raise SelectionError("by", "say who replays (an account or user name)")
    if len(name) > MAX_BY or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise SelectionError("by", f"at most {MAX_BY} characters, no control characters")
    return name


def _put_right_before(
    letter_id: str, letter: Document, before: Reason, dry_run: bool
) -> LetterOutcome:
    replayed: dict[str, Any] = letter.get("replayed") or {}
    return LetterOutcome(
        letter_id, Outcome.SKIPPED, dry_run,
        f"put right already by {replayed.get('by')}",
        vote_id=replayed.get("vote_id"), previous_reason=before,
        by=replayed.get("by"), at=utc(replayed.get("at")), status=REPLAYED,
    )  # fmt: skip


def _reason(letter: Document) -> Reason:
    reason = letter.get("reason") or {}
    return {str(k): str(v) for k, v in reason.items()}


def _said(reason: Reason) -> str:
    return f"{reason.get('field')}/{reason.get('rule')}: {reason.get('message')}"


def _voted(vote: Vote) -> str:
    return f"{vote.name} \u2014 {vote.album} ({vote.channel})"

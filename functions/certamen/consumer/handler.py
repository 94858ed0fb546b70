"""What the consumer does with one delivered CloudEvent, free of HTTP and of client libraries.

A vote is logged in MongoDB first (the commit point), then counted in Redis by one
idempotent script; any redelivery repeats both steps harmlessly and converges on
one document and one count. A poison event becomes a dead letter and is
acknowledged. A store that is away raises ``StoreUnavailable`` for the edge to
answer "retry" (see docs/exactly-once.md).

``handle`` runs on the worker's event loop: checking the vote is CPU work done
there, and every store call runs on a thread (the group commit's writer for
votes), so that the loop never waits on a socket.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cloudevents.abstract import AnyCloudEvent

from certamen.consumer.batching import GroupCommit
from certamen.consumer.documents import (
    arrived_attributes,
    conflict_letter_id,
    data_bytes,
    dead_letter_document,
    dead_letter_id,
    vote_document,
    vote_from_document,
)
from certamen.consumer.rules import Rules
from certamen.contract import Catalog, InvalidVote, Vote
from certamen.contract.ballot import json_number
from certamen.contract.foreign import kafka_origin


class Outcome(enum.Enum):
    """What handling an event did."""

    COUNTED = "counted"  # counted now (first delivery, or a retry finishing a partial write)
    DUPLICATE = "duplicate"  # already counted: nothing changed
    DEAD_LETTERED = "dead_lettered"  # poison, or a key reused for another ballot: a dead letter


@dataclass(frozen=True, slots=True)
class Conflict:
    """The vote's id is logged with another ballot (``earlier``): that is what the key names."""

    earlier: Vote

    def refusal(self) -> InvalidVote:
        """Why the other ballot is refused (DESIGN.md: one key, one ballot)."""
        ballot = self.earlier.ballot
        return InvalidVote(
            "vote_id",
            "conflict",
            "this idempotency key was counted with another ballot: "
            f"{ballot.name} — {ballot.album}, {ballot.year}, rank {json_number(ballot.rank)}",
        )


Committed = Outcome | Conflict


class VoteStore(Protocol):
    """The vote log (MongoDB); see ``certamen.adapters.mongo_store.VoteLog``."""

    def insert_votes(self, documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
        """Per document: ``None`` if stored now, else the document stored before under its id."""
        ...

    def insert_dead_letter(self, document: Mapping[str, Any]) -> bool: ...


class Tally(Protocol):
    """The live counters (Redis); see ``certamen.adapters.redis_store.TallyWriter``."""

    def count_votes(self, votes: Sequence[Vote]) -> list[bool]:
        """Per vote: True if counted now, False if its marker says it was counted before."""
        ...

    def count_dead_letter(self, letter_id: str, rule: str) -> bool: ...


class Handler:
    """Handles vote events against the stores it is given; one instance serves a worker.

    The votes of concurrent requests are committed together (``GroupCommit``: one
    ``insert_many``, one Redis script call, at most ``max_batch`` votes); each
    request still gets its own vote's outcome.
    """

    def __init__(
        self,
        vote_log: VoteStore,
        tally: Tally,
        *,
        catalog: Catalog | None,
        clock: Callable[[], datetime],
        accept_legacy: bool = False,
        max_batch: int = 1,
        on_batch: Callable[[int], object] = lambda size: None,
    ) -> None:
        self._vote_log = vote_log
        self._tally = tally
        self._rules = Rules(catalog, accept_legacy=accept_legacy, clock=clock)
        self._clock = clock
        self._group: GroupCommit[Vote, Committed] = GroupCommit(
            self.commit, max_batch=max_batch, on_batch=on_batch
        )

    async def handle(self, event: AnyCloudEvent) -> Outcome:
        """Log and count one event's vote exactly once, or dead-letter it if it is poison.

        ``event`` is as the CloudEvents SDK read it (functions-framework refused
        anything that is no CloudEvent): JSON data decoded, other data as bytes.
        """
        try:
            vote = self.judge(event)
        except InvalidVote as error:
            return await asyncio.to_thread(self._dead_letter, event, error)
        committed = await self._group.submit(vote)
        if isinstance(committed, Outcome):
            return committed
        letter_id = conflict_letter_id(arrived_attributes(event), vote)
        refusal = committed.refusal()
        return await asyncio.to_thread(self._dead_letter, event, refusal, letter_id)

    def commit(self, votes: Sequence[Vote]) -> list[Committed]:
        """Log the votes (the commit point), then count what is logged under each id.

        A vote whose id is logged already is a redelivery or a retry when its ballot is
        the logged one (counting it again changes nothing), and a conflict when it is
        another: the logged vote is still counted (a partial write finished), the other
        is never counted and becomes a dead letter (``handle``; a replay of dead letters
        keeps it one).
        """
        now = self._clock()
        stored = self._vote_log.insert_votes(
            [vote_document(vote, processed_at=now) for vote in votes]
        )
        logged = [
            vote if earlier is None else vote_from_document(earlier)
            for vote, earlier in zip(votes, stored, strict=True)
        ]
        counted_now = self._tally.count_votes(logged)
        return [
            _committed(vote, earlier, new)
            for vote, earlier, new in zip(votes, logged, counted_now, strict=True)
        ]

    def close(self) -> None:
        """Finish the group commit being written."""
        self._group.close()

    def judge(self, event: AnyCloudEvent) -> Vote:
        """The event's vote by the consumer's rules (``rules.Rules``), or ``InvalidVote``.

        Public for the replay of dead letters, which judges a stored event the same way.
        """
        return self._rules.vote(event)

    def _dead_letter(
        self, event: AnyCloudEvent, error: InvalidVote, letter_id: str | None = None
    ) -> Outcome:
        """Store the event as received, with why; a foreign record keeps where it was.

        The letter's id is the event's identity (a redelivery is one letter), unless
        given (a conflict: one letter per ballot the key was reused for)."""
        attributes = arrived_attributes(event)
        letter_id = letter_id or dead_letter_id(attributes)
        letter = dead_letter_document(
            attributes,
            data_bytes(event.get_data()),
            error,
            failed_at=self._clock(),
            origin=kafka_origin(attributes),
            letter_id=letter_id,
        )
        self._vote_log.insert_dead_letter(letter)
        self._tally.count_dead_letter(letter_id, error.rule)
        return Outcome.DEAD_LETTERED


def conflict_with(vote: Vote, logged: Vote) -> Conflict | None:
    """A conflict if ``logged`` (the vote under ``vote``'s id) has another ballot."""
    return Conflict(logged) if logged.ballot.to_json() != vote.ballot.to_json() else None


def _committed(vote: Vote, logged: Vote, counted_now: bool) -> Committed:
    """What committing ``vote`` did, given the vote logged under its id."""
    conflict = conflict_with(vote, logged)
    if conflict is not None:
        return conflict
    return Outcome.COUNTED if counted_now else Outcome.DUPLICATE

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
from datetime import datetime
from typing import Any, Protocol

from cloudevents.abstract import AnyCloudEvent

from certamen.consumer.batching import GroupCommit
from certamen.consumer.documents import (
    arrived_attributes,
    data_bytes,
    dead_letter_document,
    dead_letter_id,
    vote_document,
    vote_from_document,
)
from certamen.consumer.rules import Rules
from certamen.contract import Catalog, InvalidVote, Vote
from certamen.contract.foreign import kafka_origin


class Outcome(enum.Enum):
    """What handling an event did."""

    COUNTED = "counted"  # counted now (first delivery, or a retry finishing a partial write)
    DUPLICATE = "duplicate"  # already counted: nothing changed
    DEAD_LETTERED = "dead_lettered"  # poison: stored in dead_letters, acknowledged


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
        self._group: GroupCommit[Vote, Outcome] = GroupCommit(
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
        return await self._group.submit(vote)

    def commit(self, votes: Sequence[Vote]) -> list[Outcome]:
        """Log the votes (the commit point), then count what is logged under each id."""
        now = self._clock()
        stored = self._vote_log.insert_votes(
            [vote_document(vote, processed_at=now) for vote in votes]
        )
        counted = [
            vote if earlier is None else vote_from_document(earlier)
            for vote, earlier in zip(votes, stored, strict=True)
        ]
        return [
            Outcome.COUNTED if new else Outcome.DUPLICATE
            for new in self._tally.count_votes(counted)
        ]

    def close(self) -> None:
        """Finish the group commit being written."""
        self._group.close()

    def judge(self, event: AnyCloudEvent) -> Vote:
        """The event's vote by the consumer's rules (``rules.Rules``), or ``InvalidVote``.

        Public for the replay of dead letters, which judges a stored event the same way.
        """
        return self._rules.vote(event)

    def _dead_letter(self, event: AnyCloudEvent, error: InvalidVote) -> Outcome:
        """Store the event as received, with why; a foreign record keeps where it was."""
        attributes = arrived_attributes(event)
        letter = dead_letter_document(
            attributes,
            data_bytes(event.get_data()),
            error,
            failed_at=self._clock(),
            origin=kafka_origin(attributes),
        )
        self._vote_log.insert_dead_letter(letter)
        self._tally.count_dead_letter(dead_letter_id(attributes), error.rule)
        return Outcome.DEAD_LETTERED

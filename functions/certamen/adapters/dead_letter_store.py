"""MongoDB for putting dead letters right: the letters, one record per replay, and their counts.

A replay's record is also its claim. FerretDB v1 (the local server) makes only
one kind of write atomic against a concurrent one: an insert under a unique
``_id`` (SQLite's unique constraint). Its conditional ``update_one`` and
``find_one_and_update`` are a query, then a write by ``_id``, so two replayers
can both "win" one (docs/dead-letters.md has the measurement). So a replay
claims attempt *n* of a letter by inserting ``_id = "<letter id>#<n>"``; whoever
inserts it first owns that attempt and is the only one to write the letter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from certamen.adapters.mongo_store import (
    DEAD_LETTER_REPLAYS,
    DEAD_LETTERS,
    VOTES,
    Document,
    unavailable_as_store_error,
)

OPEN = "open"  # a letter's status: not put right (letters from before replays have none)
REPLAYED = "replayed"  # its vote is counted: put right by a replay
NOT_PUT_RIGHT: Document = {"status": {"$ne": REPLAYED}}
NEWEST_LETTERS_FIRST = [("failed_at", DESCENDING), ("_id", DESCENDING)]
NEWEST_REPLAYS_FIRST = [("started_at", DESCENDING), ("_id", DESCENDING)]


@dataclass(frozen=True, slots=True)
class DeadLetterCounts:
    """The dead letters as MongoDB counts them, for the audit."""

    open: int
    open_by_rule: dict[str, int]
    replayed: int
    replayed_votes_logged: int  # of the replayed letters, those whose vote is in the log


def replay_record_id(letter_id: str, attempt: int) -> str:
    """The ``_id`` of a letter's n-th replay: the claim on that attempt."""
    return f"{letter_id}#{attempt}"


class DeadLetterStore:
    """Reads and writes ``dead_letters`` and ``dead_letter_replays`` for the replay."""

    def __init__(self, db: Database[Document]) -> None:
        self._db = db
        self._letters: Collection[Document] = db[DEAD_LETTERS]
        self._replays: Collection[Document] = db[DEAD_LETTER_REPLAYS]
        self._votes: Collection[Document] = db[VOTES]

    def ping(self) -> None:
        """Check that MongoDB answers."""
        with unavailable_as_store_error():
            self._db.command("ping")

    def find_letters(self, query: Mapping[str, Any], *, limit: int) -> list[Document]:
        """Matching letters, newest failure first."""
        with unavailable_as_store_error():
            return list(self._letters.find(dict(query)).sort(NEWEST_LETTERS_FIRST).limit(limit))

    def claim(self, record: Mapping[str, Any]) -> Document | None:
        """Insert a replay record; ``None`` when it is ours now, else the record found there."""
        with unavailable_as_store_error():
            try:
                self._replays.insert_one(dict(record))
                return None
            except DuplicateKeyError:
                found = self._replays.find_one({"_id": record["_id"]})
        # Refused, yet gone (deleted by hand meanwhile): someone else's, and unfinished.
        return found if found is not None else {**record, "by": "(unknown)"}

    def finish(self, record_id: str, fields: Mapping[str, Any]) -> None:
        """Complete a replay record (its owner only)."""
        with unavailable_as_store_error():
            self._replays.update_one({"_id": record_id}, {"$set": dict(fields)})

    def update_letter(self, letter_id: str, fields: Mapping[str, Any]) -> None:
        """Set fields of a letter (the owner of its current attempt only)."""
        with unavailable_as_store_error():
            self._letters.update_one({"_id": letter_id}, {"$set": dict(fields)})

    def vote_logged(self, vote_id: str) -> bool:
        """Whether the vote log holds this vote id (a preview's "counted already")."""
        with unavailable_as_store_error():
            return self._votes.find_one({"_id": vote_id}, {"_id": 1}) is not None

    def replays(self, query: Mapping[str, Any], *, limit: int) -> list[Document]:
        """Replay records, newest first."""
        with unavailable_as_store_error():
            return list(self._replays.find(dict(query)).sort(NEWEST_REPLAYS_FIRST).limit(limit))


def dead_letter_counts(db: Database[Document]) -> DeadLetterCounts:
    """Open letters (all, and by their current rule), replayed letters and their votes."""
    by_rule: list[Document] = [
        {"$match": NOT_PUT_RIGHT},
        {"$group": {"_id": "$reason.rule", "count": {"$sum": 1}}},
    ]
    with unavailable_as_store_error():
        letters = db[DEAD_LETTERS]
        open_by_rule = {str(row["_id"]): int(row["count"]) for row in letters.aggregate(by_rule)}
        replayed = list(letters.find({"status": REPLAYED}, {"replayed.vote_id": 1}))
        vote_ids = [(d.get("replayed") or {}).get("vote_id") for d in replayed]
        wanted = [v for v in vote_ids if isinstance(v, str)]
        logged = db[VOTES].count_documents({"_id": {"$in": wanted}}) if wanted else 0
    return DeadLetterCounts(
        open=sum(open_by_rule.values()),
        open_by_rule=open_by_rule,
        replayed=len(replayed),
        replayed_votes_logged=logged,
    )

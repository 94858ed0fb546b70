"""MongoDB, the vote log: one document per vote (``_id`` = vote_id) and the dead letters.

The insert of the vote document is the commit point of the consumer: the vote
exists once it is here, and a second insert of the same id is refused by the
``_id`` index (docs/exactly-once.md). Indexes for the Streamlit app's queries are
created here at start-up (on MongoDB; not on FerretDB v1, see :func:`ensure_indexes`);
the audit's recount is one streamed read of the log (:func:`recount_votes`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    PyMongoError,
    WTimeoutError,
)

from certamen.adapters.errors import StoreUnavailable
from certamen.settings import Settings

Document = dict[str, Any]

VOTES = "votes"
DEAD_LETTERS = "dead_letters"
DEAD_LETTER_REPLAYS = "dead_letter_replays"  # one record per replay of a dead letter
# Short by default: a consumer that cannot reach MongoDB answers 503 quickly and is retried.
DEFAULT_TIMEOUT_S = 2.0
_DUPLICATE_KEY = 11000
# The recount reads the vote log this many documents at a time and reports progress as often.
RECOUNT_BATCH = 10_000

VOTE_INDEXES = (
    IndexModel([("received_at", DESCENDING)], name="received_at_desc"),
    IndexModel([("name", ASCENDING), ("received_at", DESCENDING)], name="band_received_at"),
    IndexModel(
        [("name", ASCENDING), ("album", ASCENDING), ("received_at", DESCENDING)],
        name="album_received_at",
    ),
    IndexModel([("channel", ASCENDING), ("received_at", DESCENDING)], name="channel_received_at"),
)
DEAD_LETTER_INDEXES = (
    IndexModel([("failed_at", DESCENDING)], name="failed_at_desc"),
    IndexModel([("reason.rule", ASCENDING), ("failed_at", DESCENDING)], name="rule_failed_at"),
    IndexModel([("status", ASCENDING), ("failed_at", DESCENDING)], name="status_failed_at"),
)
REPLAY_INDEXES = (
    IndexModel([("started_at", DESCENDING)], name="started_at_desc"),
    IndexModel([("letter_id", ASCENDING), ("attempt", ASCENDING)], name="letter_attempt"),
)


@dataclass(frozen=True, slots=True)
class GroupCount:
    """Votes and the sum of their ranks for one (band, album, channel), as MongoDB counts them."""

    band: str
    album: str
    channel: str
    votes: int
    rank_sum: float


def make_mongo(
    settings: Settings, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> MongoClient[Document]:
    """The process's MongoDB client (thread-safe pool); ``timeout_s`` bounds every wait."""
    millis = int(timeout_s * 1000)
    return MongoClient(
        settings.mongodb_uri,
        serverSelectionTimeoutMS=millis,
        connectTimeoutMS=millis,
        socketTimeoutMS=max(millis, 5000),
        appname="certamen",
    )


def vote_database(client: MongoClient[Document], settings: Settings) -> Database[Document]:
    """The contest's database (``certamen`` unless ``MONGODB_DATABASE`` says otherwise)."""
    return client[settings.mongodb_database]


@contextmanager
def unavailable_as_store_error() -> Iterator[None]:
    """Turn PyMongo's connection and timeout errors into :class:`StoreUnavailable`."""
    try:
        yield
    except (ConnectionFailure, ExecutionTimeout, WTimeoutError) as e:
        raise StoreUnavailable("mongodb", _first_line(e)) from e
    except PyMongoError as e:
        if e.timeout:
            raise StoreUnavailable("mongodb", _first_line(e)) from e
        raise


def ensure_indexes(db: Database[Document]) -> None:
    """Create the indexes the app's queries need that do not exist yet (MongoDB).

    One at a time and only the missing ones: FerretDB v1 drops the connection when
    one ``createIndexes`` names several indexes that already exist.

    On FerretDB v1 (the local stack's SQLite backend) there are none, and ours are
    dropped where an earlier start made them: it answers every query but an ``_id``
    lookup by reading the whole collection (it pushes down only ``_id`` equality and
    ``$natural`` order), so a secondary index never serves a read there, while every
    insert pays for keeping it (each is a JSON expression index in SQLite).
    """
    indexed = (
        (VOTES, VOTE_INDEXES),
        (DEAD_LETTERS, DEAD_LETTER_INDEXES),
        (DEAD_LETTER_REPLAYS, REPLAY_INDEXES),
    )
    with unavailable_as_store_error():
        unused = _is_ferretdb_v1(db)
        for collection, models in indexed:
            existing = {index["name"] for index in db[collection].list_indexes()}
            for model in models:
                name = model.document["name"]
                if unused and name in existing:
                    db[collection].drop_index(name)
                elif not unused and name not in existing:
                    db[collection].create_indexes([model])


def _is_ferretdb_v1(db: Database[Document]) -> bool:
    return is_ferretdb_v1(db.client.admin.command("buildInfo"))


def is_ferretdb_v1(build_info: Mapping[str, Any]) -> bool:
    """Whether a ``buildInfo`` answer is FerretDB's before v2 (v2 runs on PostgreSQL).

    FerretDB says its version there (``unknown`` when built outside its own checkout,
    as the local stack's wrapper is); MongoDB has no such field.
    """
    version = build_info.get("ferretdbVersion")
    if version is None:
        return False
    major = str(version).lstrip("v").split(".")[0]
    return not (major.isdigit() and int(major) >= 2)


class VoteLog:
    """Writes vote documents and dead letters; each write is idempotent by ``_id``."""

    def __init__(self, db: Database[Document]) -> None:
        self._db = db
        self._votes: Collection[Document] = db[VOTES]
        self._dead_letters: Collection[Document] = db[DEAD_LETTERS]

    def ping(self) -> None:
        """Check that MongoDB answers (at start-up)."""
        with unavailable_as_store_error():
            self._db.command("ping")

    def insert_votes(self, documents: Sequence[Mapping[str, Any]]) -> list[Document | None]:
        """Store vote documents in one round trip; per document ``None`` if stored now, else
        the document stored before under its id.

        The caller counts what is stored: on a duplicate id that is the earlier
        document, so Redis and MongoDB always agree on what the vote was. Each
        earlier document is read by its ``_id`` alone: that is the one filter FerretDB
        v1 reads through an index (the one certamen-ferretdb adds), while a ``$in``
        scans the whole log, which at a contest's size outlasts the socket timeout: the
        redeliveries after a Redis restart stalled the counting (load/bench_redelivery.py).
        """
        with unavailable_as_store_error():
            try:
                self._votes.insert_many([dict(d) for d in documents], ordered=False)
                return [None] * len(documents)
            except BulkWriteError as e:
                errors = e.details.get("writeErrors", [])
                if any(error.get("code") != _DUPLICATE_KEY for error in errors):
                    raise
                duplicates = [int(error["index"]) for error in errors]
            stored = {
                vote_id: self._votes.find_one({"_id": vote_id})
                for vote_id in {documents[i]["_id"] for i in duplicates}
            }
        results: list[Document | None] = [None] * len(documents)
        for i in duplicates:
            found = stored.get(documents[i]["_id"])
            if found is None:  # refused as a duplicate, yet not there: let the caller retry
                raise StoreUnavailable("mongodb", f"vote {documents[i]['_id']} vanished")
            results[i] = found
        return results

    def insert_dead_letter(self, document: Mapping[str, Any]) -> bool:
        """Store a dead letter; False when a letter with this ``_id`` is already there."""
        with unavailable_as_store_error():
            try:
                self._dead_letters.insert_one(dict(document))
            except DuplicateKeyError:
                return False
            return True


def recount_votes(
    db: Database[Document], progress: Callable[[int], None] | None = None
) -> list[GroupCount]:
    """Votes and rank sums per (band, album, channel), counted from one streamed read of the log.

    Not a ``$group``: FerretDB v1 holds every document of a ``$group`` in memory until it
    accumulates (4.1 GB for 1.26 million votes) and fills only a group's first
    accumulator, so the recount took two passes. One read of the four fields it needs
    streams in constant memory, in half the time, and can say how far it got
    (``progress``, called with the votes read so far; load/results/audit.md). A rank has
    at most two decimals, so ranks are summed in whole hundredths: exact at any size.
    """
    votes: Counter[tuple[str, str, str]] = Counter()
    hundredths: Counter[tuple[str, str, str]] = Counter()
    fields = {"_id": 0, "name": 1, "album": 1, "channel": 1, "rank": 1}
    read = 0
    with unavailable_as_store_error():
        for vote in db[VOTES].find({}, fields, batch_size=RECOUNT_BATCH):
            key = (str(vote.get("name")), str(vote.get("album")), str(vote.get("channel")))
            votes[key] += 1
            rank = vote.get("rank")
            if isinstance(rank, int | float):
                hundredths[key] += round(rank * 100)
            read += 1
            if progress is not None and read % RECOUNT_BATCH == 0:
                progress(read)
    if progress is not None:
        progress(read)
    return [
        GroupCount(band, album, channel, count, hundredths[(band, album, channel)] / 100)
        for (band, album, channel), count in votes.items()
    ]


def _first_line(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]

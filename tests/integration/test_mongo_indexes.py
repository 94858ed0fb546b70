"""The vote log's indexes (the app's on MongoDB, only ``_id`` on FerretDB v1) and reads by key."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from certamen.adapters.mongo_store import (
    DEAD_LETTER_INDEXES,
    DEAD_LETTERS,
    VOTE_INDEXES,
    VOTES,
    Document,
    VoteLog,
    ensure_indexes,
    is_ferretdb_v1,
)
from certamen.operations.stack.parts import state_dir
from certamen.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def db(contest: Settings) -> Iterator[Database[Document]]:
    client: MongoClient[Document] = MongoClient(contest.mongodb_uri)
    yield client[contest.mongodb_database]
    client.close()


def _names(db: Database[Document], collection: str) -> set[str]:
    return {index["name"] for index in db[collection].list_indexes()}


def test_the_app_indexes_exist_where_the_server_uses_them(db: Database[Document]) -> None:
    db[VOTES].insert_one({"_id": "first"})
    db[DEAD_LETTERS].insert_one({"_id": "first"})
    for collection, models in ((VOTES, VOTE_INDEXES), (DEAD_LETTERS, DEAD_LETTER_INDEXES)):
        for model in models:  # as an earlier start made them
            db[collection].create_indexes([model])

    ensure_indexes(db)
    ensure_indexes(db)  # a second start changes nothing

    if is_ferretdb_v1(db.client.admin.command("buildInfo")):
        assert _names(db, VOTES) == {"_id_"}
        assert _names(db, DEAD_LETTERS) == {"_id_"}
    else:
        assert _names(db, VOTES) >= {m.document["name"] for m in VOTE_INDEXES}
        assert _names(db, DEAD_LETTERS) >= {m.document["name"] for m in DEAD_LETTER_INDEXES}
    assert db[VOTES].find_one({"_id": "first"}) == {"_id": "first"}


class _Finds(monitoring.CommandListener):
    """The filters of the ``find`` commands a client sends."""

    def __init__(self) -> None:
        self.filters: list[Document] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.filters.append(dict(event.command.get("filter", {})))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_a_redelivered_vote_is_read_back_by_its_key_not_by_a_scan(contest: Settings) -> None:
    # A redelivery after a Redis restart reads the earlier documents back; a read that
    # scans the log takes seconds on a contest's log and stalled the counting.
    finds = _Finds()
    client: MongoClient[Document] = MongoClient(contest.mongodb_uri, event_listeners=[finds])
    try:
        db = client[contest.mongodb_database]
        log = VoteLog(db)
        first = [{"_id": f"vote-{i}", "rank": i} for i in range(4)]
        assert log.insert_votes(first[:3]) == [None, None, None]

        again = [{"_id": "vote-1", "rank": 99}, first[3], {"_id": "vote-2", "rank": 98}]
        assert log.insert_votes(again) == [first[1], None, first[2]]

        assert finds.filters, "the earlier documents were read back"
        ferretdb_v1 = is_ferretdb_v1(db.client.admin.command("buildInfo"))
        for query in finds.filters:
            plan = db.command("explain", {"find": VOTES, "filter": query})
            if ferretdb_v1:
                assert plan["filterPushdown"] is True, query
            else:
                assert "COLLSCAN" not in str(plan["queryPlanner"]), query
    finally:
        client.close()


def test_our_ferretdb_reads_a_vote_by_its_key_from_an_index(contest: Settings) -> None:
    # FerretDB v1 reads {_id: ...} with an expression its own _id index does not match;
    # certamen-ferretdb keeps one that does (operations/stack/ferretdb/idindex.go).
    if "MONGODB_URI" in contest.external:
        pytest.skip("MONGODB_URI names another server: not the FerretDB `certamen up` runs")
    client: MongoClient[Document] = MongoClient(contest.mongodb_uri)
    try:
        client[contest.mongodb_database][VOTES].insert_one({"_id": "vote-1"})
    finally:
        client.close()
    data = state_dir(contest) / "mongodb" / f"{contest.mongodb_database}.sqlite"
    plan = ""
    for _ in range(100):  # the server adds the index within a second of the collection
        plan = _plan_of_read_by_id(data)
        if "USING INDEX" in plan:
            break
        time.sleep(0.1)
    assert "_certamen_id_lookup" in plan and "USING INDEX" in plan, plan


def _plan_of_read_by_id(data: Path) -> str:
    """SQLite's plan for the query FerretDB v1 runs for ``{_id: ...}`` on ``votes``."""
    with closing(sqlite3.connect(f"file:{data}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT table_name FROM _ferretdb_collections WHERE name = ?", (VOTES,)
        ).fetchall()
        query = f"SELECT _ferretdb_sjson FROM \"{rows[0][0]}\" WHERE _ferretdb_sjson->'$._id' = ?"
        return " ".join(str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {query}", ("x",)))

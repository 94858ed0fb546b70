"""The vote log's indexes: the app's on MongoDB, none but ``_id`` on FerretDB v1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from certamen.adapters.mongo_store import (
    DEAD_LETTER_INDEXES,
    DEAD_LETTERS,
    VOTE_INDEXES,
    VOTES,
    Document,
    ensure_indexes,
    is_ferretdb_v1,
)
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

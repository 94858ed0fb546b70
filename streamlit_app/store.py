"""The app's MongoDB reads: thin calls that take the queries built in ``queries``."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from certamen.adapters.mongo_store import VOTES
from streamlit_app.queries import (
    MAX_CSV_ROWS,
    VOTES_NEWEST_FIRST,
    PageWindow,
)

MAX_OPTIONS = 500

Document = dict[str, Any]


def count_votes(db: Database[Document], query: Document) -> int:
    """How many votes match (no filter: the collection's count, without scanning it)."""
    if not query:
        return db[VOTES].estimated_document_count()
    return db[VOTES].count_documents(query)


def find_votes(db: Database[Document], query: Document, window: PageWindow) -> list[Document]:
    """One page of matching votes, newest first."""
    cursor = db[VOTES].find(query).sort(VOTES_NEWEST_FIRST).skip(window.skip).limit(window.limit)
    return list(cursor)


def votes_for_download(db: Database[Document], query: Document) -> list[Document]:
    """The matching votes for a CSV file, newest first, at most :data:`MAX_CSV_ROWS`."""
    return list(db[VOTES].find(query).sort(VOTES_NEWEST_FIRST).limit(MAX_CSV_ROWS))


def voted_names(db: Database[Document], field: str) -> list[str]:
    """The distinct bands or albums in the log (for an open contest without a catalog)."""
    values = db[VOTES].distinct(field)
    return sorted((v for v in values if isinstance(v, str)), key=str.casefold)[:MAX_OPTIONS]

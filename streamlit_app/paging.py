"""Paging a long result: the pager widget, keyed by its query, and a table's height."""

from __future__ import annotations

import zlib
from typing import Any

import streamlit as st

from streamlit_app.queries import page_count


def table_height(rows: int) -> int:
    """Tall enough for a page of up to 20 rows without an inner scroll bar."""
    return 38 + 35 * min(max(rows, 1), 20)


def pager_key(prefix: str, query: dict[str, Any], size: int) -> str:
    """A widget key per query and page size: a new filter starts again at page 1."""
    return f"{prefix}_page_{zlib.crc32(repr((query, size)).encode()):08x}"


def pager(total: int, size: int, key: str) -> int:
    """The page to show; no pager when everything fits on one."""
    pages = page_count(total, size)
    return st.pagination(pages, key=key) if pages > 1 else 1

"""From what a user picked or typed to MongoDB queries, never letting input become an operator.

Pure functions only (no Streamlit, no client) so that every rule is unit-tested:
text is matched literally (``re.escape``), lists must hold short strings (channels
and dead-letter rules from a fixed alphabet), times must be datetimes and the
page size is capped.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

from certamen.contract import CHANNELS, InvalidVote, format_timestamp, vote_id_field
from certamen.results.i18n import Formats, messages

PAGE_SIZES = (20, 50, 100, 200, 500)
MAX_PAGE_SIZE = PAGE_SIZES[-1]
MAX_CSV_ROWS = 50_000
MAX_TEXT = 120  # the contract's longest band or album name
MAX_CHOICES = 200
VOTES_NEWEST_FIRST = [("received_at", -1), ("_id", -1)]
VOTE_COLUMNS = (
    "received_at",
    "name",
    "album",
    "year",
    "rank",
    "channel",
    "vote_id",
    "processed_at",  # when the consumer counted it (partition/offset are unknown for votes)
)
_RULE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# Which filter a value was refused for, and why: keys of the catalogue's FilterTexts
# (``field_<field>`` and ``<problem>``), so that the page says it in the reader's language.
FilterField = Literal[
    "band", "album", "channel", "since", "until", "text", "vote_id", "rule", "page", "page_size"
]
FilterProblem = Literal[
    "not_a_list",
    "too_many",
    "empty_choice",
    "choice_too_long",
    "unknown_channel",
    "not_a_time",
    "range_reversed",
    "not_text",
    "text_too_long",
    "not_a_vote_id",
    "not_a_rule",
    "not_whole",
    "page_from_one",
]


class FilterError(ValueError):
    """A filter value we refuse to query with: which filter, why, and the numbers the why needs."""

    def __init__(self, field: FilterField, problem: FilterProblem, **details: str | int) -> None:
        english = messages("en").filters
        super().__init__(f"{field}: {getattr(english, problem).format(**details)}")
        self.field: FilterField = field
        self.problem: FilterProblem = problem
        self.details = details


@dataclass(frozen=True, slots=True)
class VoteFilters:
    """The checked filters of the vote log; the empty default matches every vote."""

    bands: tuple[str, ...] = ()
    albums: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""
    vote_id: str | None = None


@dataclass(frozen=True, slots=True)
class PageWindow:
    """Which slice of a result to fetch: ``skip`` documents, then at most ``limit``."""

    page: int
    size: int

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.size

    @property
    def limit(self) -> int:
        return self.size


def vote_filters(
    *,
    bands: object = (),
    albums: object = (),
    channels: object = (),
    since: object = None,
    until: object = None,
    text: object = "",
    vote_id: object = "",
) -> VoteFilters:
    """Check raw widget values; raise :class:`FilterError` naming the first bad one."""
    checked_channels = _names("channel", channels)
    for channel in checked_channels:
        if channel not in CHANNELS:
            raise FilterError("channel", "unknown_channel", choices=", ".join(CHANNELS))
    start, end = _moment("since", since), _moment("until", until)
    if start is not None and end is not None and start > end:
        raise FilterError("until", "range_reversed")
    if not isinstance(text, str):
        raise FilterError("text", "not_text")
    if len(text) > MAX_TEXT:
        raise FilterError("text", "text_too_long", limit=MAX_TEXT)
    return VoteFilters(
        vote_id=_vote_id(vote_id),
        bands=_names("band", bands),
        albums=_names("album", albums),
        channels=checked_channels,
        since=start,
        until=end,
        text=text.strip(),
    )


def vote_query(filters: VoteFilters) -> dict[str, Any]:
    """The MongoDB filter of the vote log; every user value sits under an operator we chose."""
    query: dict[str, Any] = {}
    if filters.bands:
        query["name"] = {"$in": list(filters.bands)}
    if filters.albums:
        query["album"] = {"$in": list(filters.albums)}
    if filters.channels:
        query["channel"] = {"$in": list(filters.channels)}
    received: dict[str, str] = {}
    if filters.since is not None:
        received["$gte"] = format_timestamp(filters.since)
    if filters.until is not None:
        received["$lte"] = format_timestamp(filters.until)
    if received:
        query["received_at"] = received
    if filters.vote_id is not None:
        # An _id lookup: answered from the _id index at any size of the log, FerretDB's too.
        query["_id"] = filters.vote_id
    if filters.text:
        pattern = {"$regex": re.escape(filters.text), "$options": "i"}
        query["$or"] = [{"name": pattern}, {"album": dict(pattern)}]
    return query


def dead_letter_query(rules: object = ()) -> dict[str, Any]:
    """The MongoDB filter of the dead letters, by the rule that rejected them."""
    checked = _names("rule", rules)
    for rule in checked:
        if not _RULE.fullmatch(rule):
            raise FilterError("rule", "not_a_rule")
    return {"reason.rule": {"$in": list(checked)}} if checked else {}


def page_window(page: object, size: object) -> PageWindow:
    """A page of results: sizes are capped at :data:`MAX_PAGE_SIZE`, pages start at 1."""
    if not _is_int(size):
        raise FilterError("page_size", "not_whole")
    if not _is_int(page) or page < 1:
        raise FilterError("page", "page_from_one")
    return PageWindow(page=page, size=min(max(size, 1), MAX_PAGE_SIZE))


def page_count(total: int, size: int) -> int:
    """How many pages ``total`` results fill (at least one, so a pager can always show)."""
    return max(1, math.ceil(total / size))


def vote_rows(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The vote log's columns, in display order, from stored vote documents."""
    return [
        {column: _shown(document.get(column)) for column in VOTE_COLUMNS} for document in documents
    ]


def vote_rows_shown(
    documents: Iterable[Mapping[str, Any]], formats: Formats
) -> list[dict[str, Any]]:
    """The vote log's columns as a reader sees them: times in the contest's zone, ranks and
    years written for the reader's language (the stored values are in :func:`vote_rows`)."""
    shown = []
    for row in vote_rows(documents):
        rank = row["rank"]
        shown.append(
            {
                **row,
                "received_at": formats.moment(row["received_at"]),
                "processed_at": formats.moment(row["processed_at"]),
                "year": None if row["year"] is None else str(row["year"]),
                "rank": formats.decimal(rank) if isinstance(rank, int | float) else rank,
            }
        )
    return shown


def _shown(value: object) -> object:
    """A stored date as the contract writes times (PyMongo hands back naive UTC datetimes)."""
    if isinstance(value, datetime):
        return format_timestamp(value if value.tzinfo else value.replace(tzinfo=UTC))
    return value


def votes_csv(documents: Iterable[Mapping[str, Any]]) -> str:
    """CSV of votes; text that a spreadsheet would run as a formula is quoted with ``'``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=VOTE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in vote_rows(documents):
        writer.writerow({column: _cell(value) for column, value in row.items()})
    return out.getvalue()


def _names(field: FilterField, values: object) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise FilterError(field, "not_a_list")
    names = tuple(values)
    if len(names) > MAX_CHOICES:
        raise FilterError(field, "too_many", limit=MAX_CHOICES)
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise FilterError(field, "empty_choice")
        if len(name) > MAX_TEXT:
            raise FilterError(field, "choice_too_long", limit=MAX_TEXT)
    return names


def _vote_id(value: object) -> str | None:
    """A vote id as the contract writes it (the voter's receipt shows it), or none."""
    if isinstance(value, str) and not value.strip():
        return None
    try:
        return vote_id_field(value.strip() if isinstance(value, str) else value)
    except InvalidVote as e:
        raise FilterError("vote_id", "not_a_vote_id") from e


def _moment(field: FilterField, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise FilterError(field, "not_a_time")
    # A time without a zone is UTC, like received_at (the page converts what a reader picks).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value

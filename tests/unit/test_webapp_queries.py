"""The Logs page's query building: user input never becomes a MongoDB operator."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from certamen.results.webapp import AppNotFound, find_app, streamlit_command
from streamlit_app.queries import (
    MAX_CHOICES,
    MAX_PAGE_SIZE,
    FilterError,
    VoteFilters,
    dead_letter_query,
    page_count,
    page_window,
    vote_filters,
    vote_query,
    votes_csv,
)


def _operators(value: object) -> set[str]:
    """Every key that starts with ``$`` anywhere in a query."""
    if isinstance(value, dict):
        found = {k for k in value if k.startswith("$")}
        for v in value.values():
            found |= _operators(v)
        return found
    if isinstance(value, list):
        return set().union(*(_operators(v) for v in value)) if value else set()
    return set()


def test_no_filter_matches_everything() -> None:
    assert vote_query(vote_filters()) == {}


def test_every_filter_is_combined() -> None:
    since = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    query = vote_query(
        vote_filters(
            bands=["Alux Nahual"],
            albums=["Leyenda"],
            channels=["grpc"],
            since=since,
            until=since + timedelta(hours=1),
            text="lux",
        )
    )
    assert query == {
        "name": {"$in": ["Alux Nahual"]},
        "album": {"$in": ["Leyenda"]},
        "channel": {"$in": ["grpc"]},
        "received_at": {"$gte": "2026-11-26T17:00:00.000Z", "$lte": "2026-11-26T18:00:00.000Z"},
        "$or": [
            {"name": {"$regex": "lux", "$options": "i"}},
            {"album": {"$regex": "lux", "$options": "i"}},
        ],
    }


@pytest.mark.parametrize(
    "text",
    ['{"$gt": ""}', ".*", "(", "a|b", "^Alux$", "[x-", "\\", "$where", "Bohemia (1997)"],
)
def test_search_text_is_matched_literally(text: str) -> None:
    query = vote_query(vote_filters(text=text))
    pattern = query["$or"][0]["name"]["$regex"]
    assert re.fullmatch(pattern, text)  # the pattern matches exactly the typed text...
    assert not re.fullmatch(pattern, "anything else")  # ...and nothing else
    assert _operators(query) == {"$or", "$regex", "$options"}


def test_an_operator_as_text_stays_text() -> None:
    query = vote_query(vote_filters(bands=['{"$gt": ""}']))
    assert query == {"name": {"$in": ['{"$gt": ""}']}}


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("bands", {"$gt": ""}),  # a mapping instead of a list
        ("bands", "Alux Nahual"),  # a bare string is not a list of names
        ("bands", [{"$gt": ""}]),  # an operator object inside the list
        ("albums", [None]),
        ("albums", [""]),
        ("bands", ["x" * 121]),
        ("bands", ["x"] * (MAX_CHOICES + 1)),
        ("channels", ["carrier-pigeon"]),
        ("channels", [{"$ne": None}]),
    ],
)
def test_bad_lists_are_refused(field: str, values: object) -> None:
    with pytest.raises(FilterError):
        vote_filters(**{field: values})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["2026-11-26", 1_700_000_000, {"$gt": ""}])
def test_times_must_be_datetimes(value: object) -> None:
    with pytest.raises(FilterError, match="since"):
        vote_filters(since=value)


def test_times_are_read_as_utc() -> None:
    naive = vote_filters(since=datetime(2026, 11, 26, 12, 0))
    assert naive.since == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    guatemala = timezone(timedelta(hours=-6))
    local = vote_filters(since=datetime(2026, 11, 26, 6, 0, tzinfo=guatemala))
    assert local.since == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_an_inverted_time_range_is_refused() -> None:
    start = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    with pytest.raises(FilterError, match="until"):
        vote_filters(since=start, until=start - timedelta(seconds=1))


@pytest.mark.parametrize("text", [{"$gt": ""}, ["a"], 5, "x" * 121])
def test_bad_text_is_refused(text: object) -> None:
    with pytest.raises(FilterError, match="text"):
        vote_filters(text=text)


def test_text_is_trimmed() -> None:
    assert vote_filters(text="  lux  ") == VoteFilters(text="lux")


def test_a_vote_id_is_looked_up_by_id_with_the_other_filters() -> None:
    vote_id = "0193f3c2-6a4b-7cde-8f01-23456789abcd"
    query = vote_query(vote_filters(vote_id=f"  {vote_id} ", channels=["grpc"]))
    assert query == {"_id": vote_id, "channel": {"$in": ["grpc"]}}
    assert vote_filters(vote_id="   ") == VoteFilters()


@pytest.mark.parametrize(
    "vote_id", ['{"$gt": ""}', "short", "x" * 129, "has space inside", {"$ne": None}, 5]
)
def test_a_vote_id_the_contract_would_refuse_is_refused(vote_id: object) -> None:
    with pytest.raises(FilterError, match="vote_id") as refused:
        vote_filters(vote_id=vote_id)
    assert refused.value.problem == "not_a_vote_id"


@pytest.mark.parametrize(
    ("size", "expected"), [(20, 20), (500, 500), (10**9, MAX_PAGE_SIZE), (0, 1), (-5, 1)]
)
def test_page_size_is_capped(size: int, expected: int) -> None:
    assert page_window(1, size).limit == expected


@pytest.mark.parametrize(
    ("page", "size"), [(0, 20), (-1, 20), ("2", 20), (1.5, 20), (True, 20), (1, "20"), (1, None)]
)
def test_page_and_size_must_be_whole_numbers(page: object, size: object) -> None:
    with pytest.raises(FilterError):
        page_window(page, size)


def test_pages_skip_whole_pages() -> None:
    window = page_window(3, 50)
    assert (window.skip, window.limit) == (100, 50)
    assert [page_count(n, 20) for n in (0, 1, 20, 21, 45)] == [1, 1, 1, 2, 3]


def test_dead_letter_rules_are_checked_words() -> None:
    assert dead_letter_query() == {}
    assert dead_letter_query(["not_in_catalog"]) == {"reason.rule": {"$in": ["not_in_catalog"]}}
    for hostile in (["$gt"], ["a b"], [{"$ne": 1}], "json"):
        with pytest.raises(FilterError):
            dead_letter_query(hostile)


def test_csv_has_a_header_and_defuses_formulas() -> None:
    documents = [
        {"vote_id": "v1", "name": "=HYPERLINK(1)", "album": "+x", "year": 1997, "rank": 9.5},
        {"vote_id": "v2", "name": "Alux Nahual", "album": "Leyenda", "year": 1989, "rank": 100,
         "processed_at": datetime(2026, 11, 26, 21, 0, 1, 234567)},
    ]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(votes_csv(documents))))
    assert [r["vote_id"] for r in rows] == ["v1", "v2"]
    assert rows[0]["name"] == "'=HYPERLINK(1)"
    assert rows[0]["album"] == "'+x"
    assert rows[1]["name"] == "Alux Nahual"
    assert rows[1]["rank"] == "100"
    assert rows[1]["processed_at"] == "2026-11-26T21:00:01.234Z"  # naive UTC from PyMongo


def test_the_app_is_found_in_the_checkout_and_beside_the_package(tmp_path: Path) -> None:
    assert find_app().parts[-2:] == ("streamlit_app", "app.py")
    package = tmp_path / "site-packages" / "certamen"
    package.mkdir(parents=True)
    with pytest.raises(AppNotFound, match="streamlit_app"):
        find_app(package)
    (tmp_path / "site-packages" / "streamlit_app").mkdir()
    (tmp_path / "site-packages" / "streamlit_app" / "app.py").write_text("")
    assert find_app(package) == tmp_path / "site-packages" / "streamlit_app" / "app.py"


def test_streamlit_listens_locally_without_telemetry(tmp_path: Path) -> None:
    command = streamlit_command(tmp_path / "app.py", 8501)
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--server.port"] == "8501"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert flags["--client.showErrorDetails"] == "none"


def test_every_refused_filter_can_be_said_in_both_languages() -> None:
    """Each field and problem a FilterError names has its text in the catalogue."""
    from typing import get_args

    from certamen.results.i18n import LANGUAGES, messages
    from streamlit_app.queries import FilterField, FilterProblem

    for language in LANGUAGES:
        texts = messages(language).filters
        for field in get_args(FilterField):
            assert getattr(texts, f"field_{field}")
        for problem in get_args(FilterProblem):
            assert getattr(texts, problem)

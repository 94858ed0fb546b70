"""Vote files: the original format read as is, the generator, the expected tally."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from certamen.contract import Candidate, Catalog
from certamen.operations.cli import main
from certamen.operations.votefiles import (
    DEFAULT_CATALOG,
    VoteFileError,
    catalog_for,
    expected_tally,
    generate_votes,
    parse_counts,
    read_votes,
    record_fields,
    write_votes,
)

ORIGINAL = """[
  {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"},
  {"name": "Alux Nahual", "album": "Leyenda", "year": "1989", "rank": "100"},
  {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "1"}
]"""

CATALOG = Catalog(
    title="test",
    candidates=(
        Candidate("Bohemia Suburbana", "Mis palabras", 1997),
        Candidate("Bohemia Suburbana", "Eclipse", 1995),
        Candidate("Alux Nahual", "Leyenda", 1989),
    ),
)


def test_an_original_contest_file_is_read_as_is(tmp_path: Path) -> None:
    path = tmp_path / "votes.json"
    path.write_text(ORIGINAL, encoding="utf-8")

    votes = read_votes(path)

    assert len(votes) == 3
    assert votes.records[0] == {
        "name": "Bohemia Suburbana",
        "album": "Mis palabras",
        "year": "1997",
        "rank": "9.5",
    }
    assert len(votes.tag) == 12


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"name": "x"}', "expected a JSON array of votes, found an object"),
        ('[{"name": "x"}, "oops"]', "record 1 is a str, not an object"),
        ("[{", "not a JSON file"),
    ],
)
def test_what_is_not_a_vote_file_is_refused_with_the_reason(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(VoteFileError, match=problem):
        read_votes(path)


def test_two_different_files_have_different_tags(tmp_path: Path) -> None:
    one, two = tmp_path / "1.json", tmp_path / "2.json"
    write_votes(one, generate_votes(CATALOG, count=10, seed=1))
    write_votes(two, generate_votes(CATALOG, count=10, seed=2))

    assert read_votes(one).tag != read_votes(two).tag


def test_the_same_seed_gives_the_same_file_and_another_seed_another() -> None:
    first = generate_votes(CATALOG, count=500, seed=7)

    assert generate_votes(CATALOG, count=500, seed=7) == first
    assert generate_votes(CATALOG, count=500, seed=8) != first


def test_generated_votes_are_in_the_original_format_and_valid() -> None:
    records = generate_votes(CATALOG, count=300, seed=3)

    assert all(list(r) == ["name", "album", "year", "rank"] for r in records)
    assert all(all(isinstance(v, str) for v in r.values()) for r in records)
    tally = expected_tally(records, CATALOG, year_now=2026)
    assert tally.total == 300
    assert not tally.rejected


def test_chosen_counts_per_album_are_exact_and_shuffled() -> None:
    counts = {("Bohemia Suburbana", "Eclipse"): 40, ("Alux Nahual", "Leyenda"): 25}

    records = generate_votes(CATALOG, count=0, seed=1, counts=counts)

    assert Counter((r["name"], r["album"]) for r in records) == counts
    assert records[:40] != [r for r in records if r["album"] == "Eclipse"]


def test_a_counts_spec_matches_the_catalog_without_regard_to_case() -> None:
    counts = parse_counts("bohemia suburbana/ECLIPSE=3; Alux Nahual/Leyenda=2", CATALOG)

    assert counts == {("Bohemia Suburbana", "Eclipse"): 3, ("Alux Nahual", "Leyenda"): 2}


def test_a_counts_file_maps_band_album_count(tmp_path: Path) -> None:
    path = tmp_path / "counts.yaml"
    path.write_text("Alux Nahual:\n  Leyenda: 4\n", encoding="utf-8")

    assert parse_counts(str(path), CATALOG) == {("Alux Nahual", "Leyenda"): 4}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("Nobody/Nothing=3", "Nobody/Nothing is not in the catalog"),
        ("Alux Nahual/Leyenda=many", "is not a whole number"),
        ("Alux Nahual=3", "is not Band/Album=N"),
        ("Alux Nahual/Leyenda=-1", "is negative"),
    ],
)
def test_a_bad_counts_spec_names_the_problem(spec: str, problem: str) -> None:
    with pytest.raises(VoteFileError, match=problem):
        parse_counts(spec, CATALOG)


def test_the_expected_tally_judges_records_as_the_producers_do() -> None:
    records: list[dict[str, object]] = [
        {"name": "  bohemia   suburbana ", "album": "mis palabras", "year": 1997, "rank": "9.5"},
        {"name": "Alux Nahual", "album": "Leyenda", "year": "1989", "rank": "101"},
        {"name": "Nobody", "album": "Leyenda", "year": "1989", "rank": "1"},
        {"name": "Alux Nahual", "album": "Leyenda", "year": "1989", "rank": "1", "x": "y"},
    ]

    tally = expected_tally(records, CATALOG, year_now=2026)

    assert tally.by_album == Counter({("Bohemia Suburbana", "Mis palabras"): 1})
    assert tally.rejected == Counter(
        {"rank/range": 1, "name/not_in_catalog": 1, "x/unknown_field": 1}
    )


def test_record_fields_keeps_text_and_writes_numbers_as_json_gives_them() -> None:
    record: dict[str, object] = {"name": "A", "album": "B", "year": 1997, "rank": 9.5}

    assert record_fields(record) == {"name": "A", "album": "B", "year": "1997", "rank": "9.5"}


def test_generate_votes_command_writes_a_readable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "contest.json"

    code = main(["generate-votes", "--count", "120", "--seed", "5", "--output", str(output)])

    assert code == 0
    assert len(read_votes(output)) == 120
    assert "wrote 120 votes" in capsys.readouterr().out
    assert json.loads(output.read_text(encoding="utf-8"))[0].keys() == {
        "name",
        "album",
        "year",
        "rank",
    }


def test_generate_votes_command_refuses_a_bad_spec_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "contest.json"

    code = main(["generate-votes", "--counts", "Nobody/X=1", "--output", str(output)])

    assert code == 2
    assert "Nobody/X is not in the catalog" in capsys.readouterr().err
    assert not output.exists()


def test_the_example_catalog_is_the_default() -> None:
    from certamen.settings import load

    catalog = catalog_for(load({}))

    assert DEFAULT_CATALOG.exists()
    assert "Bohemia Suburbana" in catalog.bands

"""The run verdict (ledger vs vote log vs tally vs file) and the figures read back from Locust."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from certamen.operations.loadgen.ledger import LedgerTotals
from certamen.operations.loadgen.locust_run import read_route_stats
from certamen.operations.loadgen.runlog import RunLog, percentile
from certamen.operations.loadgen.verdict import judge
from certamen.operations.votefiles import ExpectedTally

A = ("Alux Nahual", "Leyenda")
B = ("Bohemia Suburbana", "Eclipse")
FILE = ExpectedTally(by_album=Counter({A: 2, B: 1}), rejected=Counter())


def _ledger(
    accepted: set[int],
    *,
    refused: frozenset[int] = frozenset(),
    unknown: frozenset[int] = frozenset(),
) -> LedgerTotals:
    return LedgerTotals(
        workers=1,
        share=3,
        accepted=Counter({"grpc": len(accepted)}),
        rejected=Counter(),
        refused=Counter({"grpc": len(refused)}) if refused else Counter(),
        unknown=Counter({"wasm": len(unknown)}) if unknown else Counter(),
        retries=Counter(),
        accepted_indices=frozenset(accepted),
        refused_indices=refused,
        unknown_indices=unknown,
        final=True,
    )


def _log(indices: set[int], by_album: Counter[tuple[str, str]]) -> RunLog:
    return RunLog(indices=frozenset(indices), by_album=by_album)


def test_an_exact_run_passes_and_checks_the_file() -> None:
    verdict = judge(
        _ledger({0, 1, 2}), _log({0, 1, 2}, Counter({A: 2, B: 1})), {A: 2, B: 1}, FILE, records=3
    )

    assert verdict.ok
    assert verdict.file_checked
    assert not verdict.notes


def test_an_acknowledged_vote_that_was_not_counted_fails_the_run() -> None:
    verdict = judge(_ledger({0, 1, 2}), _log({0, 1}, Counter({A: 2})), {A: 2}, FILE, records=3)

    assert not verdict.ok
    assert verdict.missing == {2}
    assert any("1 acknowledged vote(s) not counted (records 2)" in p for p in verdict.problems)


def test_a_vote_counted_twice_in_the_tally_fails_the_run() -> None:
    log = _log({0, 1, 2}, Counter({A: 2, B: 1}))

    verdict = judge(_ledger({0, 1, 2}), log, {A: 3, B: 1}, FILE, records=3)

    assert not verdict.ok
    assert any("double counts" in p for p in verdict.problems)
    assert any("Alux Nahual — Leyenda (3 vs 2)" in p for p in verdict.problems)


def test_standings_that_differ_from_the_file_fail_the_run() -> None:
    log = _log({0, 1, 2}, Counter({A: 1, B: 2}))

    verdict = judge(_ledger({0, 1, 2}), log, {A: 1, B: 2}, FILE, records=3)

    assert not verdict.ok
    assert any("differ from the file's counts" in p for p in verdict.problems)


def test_a_vote_of_unknown_outcome_counted_once_is_a_note_and_skips_the_file_check() -> None:
    verdict = judge(
        _ledger({0, 1}, unknown=frozenset({2})),
        _log({0, 1, 2}, Counter({A: 2, B: 1})),
        {A: 2, B: 1},
        FILE,
        records=3,
        marked=frozenset({0, 1, 2}),
    )

    assert verdict.ok
    assert not verdict.file_checked
    assert any("1 vote(s) of unknown outcome after every retry, 1 of them counted" in n
               for n in verdict.notes)  # fmt: skip


def test_a_refused_vote_that_was_counted_fails_the_run() -> None:
    verdict = judge(
        _ledger({0, 1}, refused=frozenset({2})),
        _log({0, 1, 2}, Counter({A: 2, B: 1})),
        {A: 2, B: 1},
        FILE,
        records=3,
    )

    assert not verdict.ok
    assert verdict.refused_counted == {2}
    assert any("1 refused vote(s) counted (records 2)" in p for p in verdict.problems)


def test_a_vote_in_the_log_without_its_redis_count_fails_the_run() -> None:
    log = _log({0, 1, 2}, Counter({A: 2, B: 1}))

    verdict = judge(
        _ledger({0, 1, 2}), log, {A: 2, B: 1}, FILE, records=3, marked=frozenset({0, 1})
    )

    assert not verdict.ok
    assert verdict.missing == {2} and verdict.half_counted == {2}


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([], 0.5) is None


def test_route_figures_come_from_locusts_json_report(tmp_path: Path) -> None:
    entry = {
        "name": "grpc Cast",
        "method": "grpc",
        "start_time": 100.0,
        "last_request_timestamp": 110.0,
        "num_requests": 100,
        "num_failures": 2,
        "response_times": {str(ms): 1 for ms in range(1, 101)},
    }
    other = {**entry, "name": "wasm /votes", "response_times": {"500": 100}, "num_failures": 0}
    (tmp_path / "run.json").write_text(json.dumps([entry, other]), encoding="utf-8")

    routes = {r.name: r for r in read_route_stats(tmp_path / "run")}

    assert routes["grpc Cast"].requests == 100
    assert routes["grpc Cast"].failures == 2
    assert (routes["grpc Cast"].p50_ms, routes["grpc Cast"].p99_ms) == (50, 99)
    assert routes["grpc Cast"].rps == 10
    assert routes["Aggregated"].requests == 200
    assert routes["Aggregated"].p99_ms == 500
    assert read_route_stats(tmp_path / "nothing") == []

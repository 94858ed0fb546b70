"""What ``certamen demo`` shows at the end: tables on the console and the same as JSON.

Pure presentation of a finished run (:class:`DemoResult`); the demo gathers the
figures, this module only lays them out.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from certamen.operations.loadgen.burstlog import Burst
from certamen.operations.loadgen.locust_run import RouteStats
from certamen.operations.loadgen.replay import ReplayOutcome
from certamen.operations.loadgen.verdict import Verdict
from certamen.operations.votefiles import AlbumId, ExpectedTally, VoteFile
from certamen.results.audit import AuditReport


@dataclass(frozen=True, slots=True)
class DemoResult:
    """Everything a finished demo run found out."""

    run_id: str
    votes: VoteFile
    expected: ExpectedTally
    outcome: ReplayOutcome
    audit: AuditReport
    report: Path
    streamlit: str
    stopping: bool
    bursts: list[Burst] = field(default_factory=list)

    @property
    def delta(self) -> Counter[AlbumId]:
        """Votes each album gained during the run."""
        return self.outcome.delta

    @property
    def verdict(self) -> Verdict:
        """The judgement of the run."""
        return self.outcome.verdict

    def standings(self) -> list[tuple[str, str, int, float | None, int]]:
        """(band, album, votes this run, average rank, votes in the file), most votes first."""
        albums = set(self.delta) | set(self.expected.by_album)
        rows = []
        for band, album in albums:
            votes = self.delta[(band, album)]
            rank_sum = self.outcome.rank_delta.get((band, album), 0.0)
            average = rank_sum / votes if votes else None
            rows.append((band, album, votes, average, self.expected.by_album[(band, album)]))
        return sorted(rows, key=lambda r: (-r[2], r[0].casefold(), r[1].casefold()))

    def bands(self) -> dict[str, int]:
        """Votes of this run per band, most first."""
        totals: Counter[str] = Counter()
        for (band, _), votes in self.delta.items():
            totals[band] += votes
        return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0].casefold())))


def print_report(result: DemoResult, out: Console) -> None:
    """Standings, Locust's figures, the end-to-end figures and the verdict."""
    out.print(_bands_table(result))
    out.print(_standings_table(result))
    before, after = result.outcome.before, result.outcome.after
    if before.total and after.total != sum(result.delta.values()):
        out.print(
            f"These standings are this run's votes. The contest held {before.total:,} "
            f"votes before it and holds {after.total:,} now (`--fresh` starts from zero)."
        )
    out.print(_locust_table(result.outcome.routes))
    if result.bursts:
        out.print(_bursts_table(result.bursts))
    ledger = result.outcome.ledger
    out.print(
        f"votes: {ledger.accepted_total} acknowledged "
        f"({', '.join(f'{k} {v}' for k, v in sorted(ledger.accepted.items()))}), "
        f"{ledger.rejected_total} rejected, {ledger.refused_total} refused (not taken), "
        f"{ledger.unknown_total} of unknown outcome, "
        f"{sum(ledger.retries.values())} retries"
    )
    log = result.outcome.log
    out.print(
        f"end to end: {log.count} votes counted in {log.span_s:.1f} s = {log.rate:,.0f} votes/s; "
        f"vote-to-count delay p50 {_ms(log.delay_ms(0.5))}, p99 {_ms(log.delay_ms(0.99))}, "
        f"max {_ms(log.delay_ms(1.0))}"
    )
    if result.audit.ok:
        out.print(
            f"audit: Redis and MongoDB agree on all {len(result.audit.albums)} albums and "
            f"{len(result.audit.totals)} other counters ({after.total:,} votes in all, "
            f"recounted in {result.audit.seconds:.1f} s)"
        )
    else:
        out.print(
            f"[bold red]audit: {result.audit.differences} counter(s) differ[/] "
            "between Redis and MongoDB (`certamen audit` shows which)"
        )
    for note in result.verdict.notes:
        out.print(f"[yellow]note:[/] {note}")
    if result.verdict.ok:
        checked = ", standings equal the file's counts" if result.verdict.file_checked else ""
        out.print(
            f"[bold green]OK[/]: every acknowledged vote counted exactly once "
            f"({log.count}){checked}"
        )
    else:
        for problem in result.verdict.problems:
            out.print(f"[bold red]FAILED[/]: {problem}")
    out.print(f"Locust report: {result.report}")
    if result.stopping:
        out.print("stopping the stack (--down)")
    else:
        out.print(
            f"Streamlit: {result.streamlit}  (the stack keeps running; `certamen down` stops it)"
        )


def summary(result: DemoResult) -> dict[str, Any]:
    """The run as JSON-ready data (``--json``), for scripts and the end-to-end test."""
    log, ledger = result.outcome.log, result.outcome.ledger
    return {
        "ok": result.verdict.ok and result.audit.ok,
        "run_id": result.run_id,
        "votes_file": str(result.votes.path),
        "records": len(result.votes),
        "acknowledged": {
            "total": ledger.accepted_total,
            "by_route": dict(ledger.accepted),
            "rejected": dict(ledger.rejected),
            "refused": ledger.refused_total,
            "unknown": ledger.unknown_total,
            "retries": sum(ledger.retries.values()),
        },
        "counted": {"vote_log": log.count, "tally": sum(result.delta.values())},
        "standings": [
            {"band": band, "album": album, "votes": votes, "average_rank": average, "file": file}
            for band, album, votes, average, file in result.standings()
        ],
        "bands": result.bands(),
        "bursts": [
            {
                "burst": b.number,
                "accepted": b.accepted,
                "refused": b.refused,
                "lag_at_end": b.lag_at_end,
                "max_lag": b.max_lag,
                "caught_up_s": b.caught_up_s,
            }
            for b in result.bursts
        ],
        "locust": [
            {
                "name": r.name,
                "requests": r.requests,
                "failures": r.failures,
                "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms,
                "rps": r.rps,
            }
            for r in result.outcome.routes
        ],
        "end_to_end": {
            "votes": log.count,
            "seconds": log.span_s,
            "votes_per_s": log.rate,
            "delay_ms": {q: log.delay_ms(v) for q, v in (("p50", 0.5), ("p99", 0.99), ("max", 1))},
        },
        "verdict": {
            "ok": result.verdict.ok,
            "problems": list(result.verdict.problems),
            "notes": list(result.verdict.notes),
            "file_checked": result.verdict.file_checked,
        },
        "audit": {"ok": result.audit.ok, "differences": result.audit.differences},
        "contest_total": result.outcome.after.total,
        "waited_s": result.outcome.waited_s,
    }


def write_json(result: DemoResult, path: Path) -> None:
    """Write :func:`summary` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary(result), indent=2, ensure_ascii=False) + "\n", "utf-8")


def _bursts_table(bursts: list[Burst]) -> Table:
    table = Table(
        title="Bursts: the ingress takes them, the counting lags in Kafka and catches up",
        caption="refused: answers 503 / UNAVAILABLE or unknown, each retried with its key",
    )
    for name in ("burst", "accepted", "refused", "lag at its end", "most lag", "caught up after"):
        table.add_column(name, justify="right")
    for b in bursts:
        caught = "-" if b.caught_up_s is None else f"{b.caught_up_s:.1f} s"
        table.add_row(
            str(b.number), f"{b.accepted:,}", f"{b.refused:,}", f"{b.lag_at_end:,} votes",
            f"{b.max_lag:,} votes", caught,
        )  # fmt: skip
    return table


def _bands_table(result: DemoResult) -> Table:
    table = Table(title="Bands (this run)")
    table.add_column("band")
    table.add_column("votes", justify="right")
    for band, votes in result.bands().items():
        table.add_row(band, f"{votes:,}")
    return table


def _standings_table(result: DemoResult) -> Table:
    table = Table(title="Albums (this run)")
    for name, justify in (
        ("band", "left"),
        ("album", "left"),
        ("votes", "right"),
        ("avg rank", "right"),
        ("in the file", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for band, album, votes, average, file in result.standings():
        mark = "" if votes == file else " [red]≠[/]"
        rank = f"{average:.2f}" if average is not None else "-"
        table.add_row(band, album, f"{votes:,}", rank, f"{file:,}{mark}")
    return table


def _locust_table(routes: list[RouteStats]) -> Table:
    table = Table(title="Locust (requests; a retried vote is several)")
    for name in ("route", "requests", "failures", "p50 ms", "p99 ms", "req/s"):
        table.add_column(name, justify="left" if name == "route" else "right")
    for r in routes:
        table.add_row(
            r.name or "-",
            f"{r.requests:,}",
            f"{r.failures:,}",
            f"{r.p50_ms:.0f}",
            f"{r.p99_ms:.0f}",
            f"{r.rps:,.0f}",
        )
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"

"""``certamen audit``: recount MongoDB, compare with every Redis counter, print the verdict.

The comparison is the read side's (``certamen.results.audit``); this is the command
around it. Differences exit non-zero.

Run it when the stream is quiet: while votes are being counted, MongoDB (written
first) may be ahead of Redis by the votes in flight.
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from certamen.adapters.errors import StoreUnavailable
from certamen.contract import CatalogError
from certamen.results.audit import AuditReport, audit
from certamen.settings import Settings


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Print the comparison; exit 0 when everything agrees, 1 on a difference, 2 if unreadable."""
    try:
        report = _audit_showing_progress(settings)
    except (StoreUnavailable, CatalogError) as e:
        print(f"certamen audit: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print(report, Console())
    return 0 if report.ok else 1


def _audit_showing_progress(settings: Settings) -> AuditReport:
    """The audit, with a bar of the votes read: a million take minutes. The bar is on
    stderr and goes away at the end, so ``--json`` leaves stdout to the report."""
    with Progress(
        TextColumn("recounting MongoDB's vote log"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("recount", total=None)

        def show(read: int, counted: int) -> None:
            bar.update(task, completed=read, total=max(read, counted))

        return audit(settings, show)


def _print(report: AuditReport, out: Console) -> None:
    albums = Table(title="Votes per album: Redis vs MongoDB recount")
    for column in ("band", "album", "Redis", "MongoDB", "difference", "rank sum R", "rank sum M"):
        albums.add_column(column, justify="left" if column in ("band", "album") else "right")
    for c in report.albums:
        style = None if c.ok else "bold red"
        albums.add_row(
            c.band,
            c.album,
            str(c.redis_votes),
            str(c.mongodb_votes),
            f"{c.votes_difference:+d}" if c.votes_difference else "0",
            f"{c.redis_rank_sum:.2f}",
            f"{c.mongodb_rank_sum:.2f}",
            style=style,
        )
    totals = Table(title="Bands, channels, totals")
    for column in ("counter", "of", "Redis", "MongoDB", "difference"):
        totals.add_column(column, justify="left" if column in ("counter", "of") else "right")
    for t in report.totals:
        totals.add_row(
            t.counter,
            t.label,
            str(t.redis),
            str(t.mongodb),
            f"{t.difference:+d}" if t.difference else "0",
            style=None if t.ok else "bold red",
        )
    out.print(albums)
    out.print(totals)
    verdict = (
        "[green]Redis and MongoDB agree[/green]"
        if report.ok
        else f"[bold red]{report.differences} counter(s) differ[/bold red]"
    )
    out.print(f"{verdict} (read and recounted in {report.seconds:.2f} s)")

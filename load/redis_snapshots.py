"""What Redis's periodic RDB snapshots cost beside its append-only file, side by side.

    python load/redis_snapshots.py [--rounds 2] [--runs 1] [--votes 60000]   # ~15 min

Why: Redis persists the counters in its append-only file and loads that file at
start; until 2026-12-07 the local stack also took an RDB snapshot every minute in
which anything changed (``save 60 1``). A snapshot serialises the whole data set, and
the data set grows with every counted vote (its 31-day marker), so its cost follows
the size of the contest, not the rate of votes. The variants, set on the running
Redis with ``CONFIG SET save`` (no restart): ``60 1`` and none (``""``, as the stack
runs now). For each, after ``bench_cost_per_vote.py``'s warm-up, both routes are
replayed one vote a call, and Redis's CPU is read from its own ``INFO cpu``: the
server's, and its forked children's (snapshots and append-only file rewrites), per
counted vote. The variants alternate round by round; the stack's own setting is put
back at the end. Not run by ``certamen bench``: it explains a choice, it is not one of
the goals (load/results/redis-persistence.md).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import benchkit
import redis
from bench_cost_per_vote import (
    ROUTES,
    WARM_UP_ROUNDS,
    WARM_UP_VOTES,
    replay_route,
    run_figures,
    warm_up,
)
from bench_end_to_end import Bench
from rich.console import Console
from rich.table import Table

from certamen.settings import load

VARIANTS = {"a snapshot a minute (save 60 1)": "60 1", 'none (save "")': ""}


@dataclass(frozen=True)
class Reading:
    """Redis's own account of its CPU seconds and of its background saves."""

    server_s: float
    children_s: float
    snapshots: int
    rewrites: int

    @classmethod
    def of(cls, store: redis.Redis) -> Reading:
        cpu, saves = store.info("cpu"), store.info("persistence")
        return cls(
            server_s=cpu["used_cpu_user"] + cpu["used_cpu_sys"],
            children_s=cpu["used_cpu_user_children"] + cpu["used_cpu_sys_children"],
            snapshots=saves["rdb_saves"],
            rewrites=saves["aof_rewrites"],
        )


@dataclass(frozen=True)
class Row:
    variant: str
    votes: int
    seconds: float
    server_ms: float
    children_ms: float
    snapshots: int
    rewrites: int


def measure(bench: Bench, store: redis.Redis, variant: str, runs: int, votes: int) -> Row:
    """Replay both routes ``runs`` times; Redis's CPU per counted vote over the replays."""
    before, started, counted = Reading.of(store), time.monotonic(), 0
    for _ in range(runs):
        for route in ROUTES:
            counted += run_figures(replay_route(bench, route, "snapshots", votes)).votes
    after, counted = Reading.of(store), max(1, counted)
    return Row(
        variant=variant,
        votes=counted,
        seconds=time.monotonic() - started,
        server_ms=1000 * (after.server_s - before.server_s) / counted,
        children_ms=1000 * (after.children_s - before.children_s) / counted,
        snapshots=after.snapshots - before.snapshots,
        rewrites=after.rewrites - before.rewrites,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="runs of each route a variant")
    parser.add_argument("--votes", type=int, default=60_000, help="votes a run")
    args = parser.parse_args()
    out = Console()
    settings = load()
    store = redis.Redis.from_url(settings.redis_url)
    own_setting = str(store.config_get("save").get("save", ""))
    bench = Bench(settings, out)
    out.print(f"Redis holds {store.dbsize():,} keys, {store.info('memory')['used_memory_human']}")
    warm_up(bench, out, WARM_UP_VOTES, rounds=WARM_UP_ROUNDS)
    rows: list[Row] = []
    try:
        for round_ in range(1, args.rounds + 1):
            for name, save in VARIANTS.items():
                store.config_set("save", save)
                rows.append(measure(bench, store, name, args.runs, args.votes))
                out.print(f"round {round_}: {_line(rows[-1])}")
    finally:
        store.config_set("save", own_setting)
    out.print(_table(rows))
    return 0


def _line(row: Row) -> str:
    return (
        f"{row.variant}: {row.votes:,} votes in {row.seconds:.0f} s, Redis {row.server_ms:.3f} ms"
        f" a vote, its children {row.children_ms:.3f} ({row.snapshots} snapshots,"
        f" {row.rewrites} append-only file rewrites)"
    )


def _table(rows: list[Row]) -> Table:
    table = Table(title="Redis's CPU per counted vote, median of the rounds (range)")
    for column in ("snapshots", "Redis itself", "its children", "together"):
        table.add_column(column, justify="right" if column != "snapshots" else "left")
    for name in VARIANTS:
        mine = [r for r in rows if r.variant == name]
        table.add_row(
            name,
            benchkit.spread([r.server_ms for r in mine], "ms"),
            benchkit.spread([r.children_ms for r in mine], "ms"),
            benchkit.spread([r.server_ms + r.children_ms for r in mine], "ms"),
        )
    return table


if __name__ == "__main__":
    raise SystemExit(main())

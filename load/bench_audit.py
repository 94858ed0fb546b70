"""Audit benchmark: ``certamen audit``'s time at 100,000 and at 1,000,000 logged votes.

A database of its own is filled with vote documents as the consumer writes them
(with the consumer's indexes), spread over the example catalog's albums and both
channels; Redis (database ``--redis-db``, flushed: never the stack's live one)
gets the matching counters. Then the audit runs as ``certamen audit`` does
(``certamen.results.audit.audit``), and must agree. When the MongoDB-protocol server is
the one ``certamen up`` started (``MONGODB_URI`` unset), its CPU seconds per audit
and its peak memory are reported too: CPU does not depend on how busy a shared
machine is. To say where the time goes, at the first size the recount's two
``$group`` passes are timed one by one beside a bare count of every document, and
on the first 5,000 votes one pass keyed by the rank as well (why it is not used:
``recount_votes`` in ``certamen.adapters.mongo_store``).

    python load/bench_audit.py --json out.json [--quick] [--markdown load/results/audit.md]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit
import redis

from certamen.adapters import redis_keys as keys
from certamen.adapters.mongo_store import ensure_indexes, make_mongo, vote_database
from certamen.contract import album_key, load_catalog
from certamen.results.audit import AUDIT_TIMEOUT_S, audit
from certamen.settings import Settings, load, with_redis_db

CATALOG = Path(__file__).resolve().parent / "data" / "catalog.yaml"
FILL_BATCH = 5_000
RANK_KEY_VOTES = 5_000
_PASSES = (
    "count_all_s",
    "group_count_s",
    "group_rank_sum_s",
    "prefix_group_count_s",
    "prefix_group_by_rank_s",
)


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    base = load()
    settings = replace(
        base,
        redis_url=with_redis_db(base.redis_url, args.redis_db),
        mongodb_database=f"certamen_bench_audit_{uuid.uuid4().hex[:8]}",
        catalog_path=None,
    )
    sizes = (10_000, 50_000) if args.quick else (100_000, 1_000_000)
    catalog = load_catalog(CATALOG, year_now=datetime.now(UTC).year)
    albums = [(c.band, c.album, c.year) for c in catalog.candidates]
    store = redis.Redis.from_url(settings.redis_url)
    mongo = make_mongo(settings, timeout_s=AUDIT_TIMEOUT_S)
    db = vote_database(mongo, settings)
    if args.server_pid and os.getsid(args.server_pid) != args.server_pid:
        parser.error(f"--server-pid {args.server_pid} leads no session of its own (use setsid)")
    server = (
        {"mongodb": args.server_pid}
        if args.server_pid
        else None
        if "MONGODB_URI" in base.external
        else benchkit.part_pids(base, ["mongodb"])
    )
    rows: list[dict[str, Any]] = []
    try:
        store.flushdb()
        ensure_indexes(db)
        tally = _Tally()
        logged = 0
        rng = random.Random(2026)
        for size in sizes:
            started = time.perf_counter()
            logged = _fill(db, tally, rng, albums, logged, size)
            filled_s = time.perf_counter() - started
            tally.write(store)
            cpu_before = benchkit.cpu_seconds(server) if server else {}
            report = audit(settings)
            cpu_after = benchkit.cpu_seconds(server) if server else {}
            cpu = {"server_cpu_s": cpu_after["mongodb"] - cpu_before["mongodb"]} if server else {}
            if not report.ok:
                raise RuntimeError(f"the audit disagrees at {size} votes: {report.to_dict()}")
            passes = _passes(db) if size == sizes[0] else {}
            rows.append(
                {
                    "votes": size,
                    "fill_s": filled_s,
                    "audit_s": report.seconds,
                    **{f"audit_{k}_s": v for k, v in report.timings.items()},
                    **cpu,
                    **passes,
                }
            )
            print(rows[-1], flush=True)
    finally:
        store.flushdb()
        store.close()
        mongo.drop_database(settings.mongodb_database)
        mongo.close()
    command = benchkit.command_line("load/bench_audit.py", parser, args)
    figures, notes, sections = report_figures(settings, rows, command, server)
    benchkit.publish(args, "certamen audit at scale", figures, notes, sections)
    return 0


class _Tally:
    """The counters the consumer would have written for the generated votes."""

    def __init__(self) -> None:
        self.total = 0
        self.bands: Counter[str] = Counter()
        self.albums: Counter[str] = Counter()
        self.channels: Counter[str] = Counter()
        self.rank_cents: Counter[str] = Counter()  # exact sums, written as decimals

    def add(self, band: str, album: str, channel: str, rank_cents: int) -> None:
        label = album_key(band, album)
        self.total += 1
        self.bands[band] += 1
        self.albums[label] += 1
        self.channels[channel] += 1
        self.rank_cents[label] += rank_cents

    def write(self, store: redis.Redis) -> None:
        pipe = store.pipeline(transaction=True)
        pipe.set(keys.TOTAL, self.total)
        pipe.hset(keys.BY_BAND, mapping=dict(self.bands))
        pipe.hset(keys.BY_ALBUM, mapping=dict(self.albums))
        pipe.hset(keys.BY_CHANNEL, mapping=dict(self.channels))
        sums = {label: f"{cents / 100:.2f}" for label, cents in self.rank_cents.items()}
        pipe.hset(keys.RANK_SUM, mapping=sums)
        pipe.execute()


def _fill(
    db: Any,
    tally: _Tally,
    rng: random.Random,
    albums: list[tuple[str, str, int]],
    logged: int,
    size: int,
) -> int:
    """Insert votes until ``size`` are logged; documents shaped as the consumer's."""
    now = datetime.now(UTC)
    while logged < size:
        batch = []
        for n in range(logged, min(size, logged + FILL_BATCH)):
            band, album, year = rng.choice(albums)
            cents = rng.randint(0, 10_000)
            rank: int | float = cents // 100 if cents % 100 == 0 else cents / 100
            channel = "grpc" if n % 2 else "wasm"
            vote_id = f"audit-{n:09d}"
            batch.append(
                {
                    "_id": vote_id,
                    "vote_id": vote_id,
                    "name": band,
                    "album": album,
                    "year": year,
                    "rank": rank,
                    "channel": channel,
                    "received_at": "2026-11-26T17:00:00.000Z",
                    "processed_at": now,
                    "partition": n % 6,
                    "offset": n // 6,
                }
            )
            tally.add(band, album, channel, cents)
        db["votes"].insert_many(batch, ordered=False)
        logged += len(batch)
    return logged


def _passes(db: Any) -> dict[str, float]:
    """The recount's two ``$group`` passes and a plain count of every document, each
    timed alone; then, on the first votes only, one pass keyed by the rank beside the
    same pass keyed as the audit's."""
    key = {"name": "$name", "album": "$album", "channel": "$channel"}
    timed: dict[str, float] = {}

    def group(accumulator: Any, by: Any = key, first: int | None = None) -> list[Any]:
        head = [{"$limit": first}] if first else []
        pipeline = [*head, {"$group": {"_id": by, "v": accumulator}}]
        return list(db["votes"].aggregate(pipeline, allowDiskUse=True))

    passes: tuple[tuple[str, Callable[[], list[Any]]], ...] = (
        ("count_all", lambda: group({"$sum": 1}, by=None)),
        ("group_count", lambda: group({"$sum": 1})),
        ("group_rank_sum", lambda: group({"$sum": "$rank"})),
        ("prefix_group_count", lambda: group({"$sum": 1}, first=RANK_KEY_VOTES)),
        (
            "prefix_group_by_rank",
            lambda: group({"$sum": 1}, by={**key, "rank": "$rank"}, first=RANK_KEY_VOTES),
        ),
    )
    for name, work in passes:
        started = time.perf_counter()
        work()
        timed[f"{name}_s"] = time.perf_counter() - started
    return timed


def report_figures(
    settings: Settings,
    rows: list[dict[str, Any]],
    command: str,
    server: dict[str, int] | None,
) -> tuple[list[benchkit.Figure], list[str], dict[str, str]]:
    figures = []
    for row in rows:
        size = row["votes"]
        label = f"{size // 1000}k"
        cpu = row.get("server_cpu_s")
        per_vote = f"; FerretDB CPU {cpu:.1f} s, {cpu / size * 1e6:.0f} µs/vote" if cpu else ""
        figures.append(
            benchkit.figure(
                f"audit.seconds_{label}",
                f"certamen audit at {size:,} logged votes",
                round(row["audit_s"], 2),
                "s",
                command=command,
                note=f"{size / row['audit_s']:,.0f} votes/s recounted{per_vote}",
            )
        )
    load1, load5, _ = os.getloadavg()
    notes = [
        f"MongoDB: {settings.mongodb_uri_redacted} (a database of its own, with the consumer's "
        f"indexes); Redis {settings.redis_url_redacted}. Votes spread over the example "
        "catalog's albums and both channels; ranks 0 to 100 with two decimals.",
        f"Machine: {os.cpu_count()} cores shared with other work; load average {load1:.1f} "
        f"(5 min {load5:.1f}) at the end.",
        "The audit reads Redis in one MULTI/EXEC, then MongoDB groups the votes twice "
        "(count, then rank sum: FerretDB v1 computes only the first accumulator of a $group), "
        "then counts the dead letters.",
    ]
    if server:
        pid = server["mongodb"]
        notes.append(
            f"FerretDB (pid {pid}, {_go_gc(pid)}): peak resident memory "
            f"{benchkit.memory_mb(pid)[1]:,.0f} MB since it started. Its CPU seconds per "
            "audit do not depend on how busy the machine is: compare those."
        )
    table = [
        "| votes | fill s | audit s | FerretDB CPU s | Redis s | recount s | count all s "
        f"| pass: count s | pass: rank sum s | first {RANK_KEY_VOTES:,}: keyed as the audit s "
        f"| first {RANK_KEY_VOTES:,}: keyed by rank too s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        cpu = f"{r['server_cpu_s']:.1f}" if "server_cpu_s" in r else "—"
        passes = [f"{r[k]:.2f}" if k in r else "—" for k in _PASSES]
        table.append(
            f"| {r['votes']:,} | {r['fill_s']:.1f} | {r['audit_s']:.2f} | {cpu} "
            f"| {r['audit_redis_s']:.3f} | {r['audit_mongodb_recount_s']:.2f} "
            f"| {' | '.join(passes)} |"
        )
    return figures, notes, {"Where the time goes": "\n".join(table)}


def _go_gc(pid: int) -> str:
    """The Go garbage collector's settings the server runs with (Go's defaults if unset)."""
    environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    found = dict(v.decode(errors="replace").partition("=")[::2] for v in environ if b"=" in v)
    return ", ".join(f"{k}={found.get(k, 'unset')}" for k in ("GOGC", "GOMEMLIMIT"))


def _parser() -> argparse.ArgumentParser:
    parser = benchkit.bench_parser(__doc__.splitlines()[0])  # --quick: 10k and 50k votes
    parser.add_argument("--markdown", help="also write the results as markdown here")
    parser.add_argument("--redis-db", type=int, default=3, help="Redis database to use (flushed)")
    parser.add_argument(
        "--server-pid",
        type=int,
        help="the MongoDB-protocol server's pid, leading a session of its own (setsid), for "
        "its CPU and memory (default: the one certamen up started, unless MONGODB_URI is set)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())

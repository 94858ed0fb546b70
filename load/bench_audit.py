"""Audit benchmark: ``certamen audit``'s time at 100,000 and at 1,000,000 logged votes.

A database of its own is filled with vote documents as the consumer writes them
(with the consumer's indexes), spread over the example catalog's albums and both
channels; Redis (database ``--redis-db``, flushed: never the stack's live one)
gets the matching counters. Then the audit runs as ``certamen audit`` does
(``certamen.audit.audit``), and must agree. To say where the time goes, the
recount's two ``$group`` passes are timed one by one beside a bare
``count_documents({})`` (reading every document once), at the first size.

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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit
import redis

from certamen.adapters import redis_keys as keys
from certamen.adapters.mongo_store import ensure_indexes, make_mongo, vote_database
from certamen.audit import AUDIT_TIMEOUT_S, audit
from certamen.contract import album_key, load_catalog
from certamen.settings import Settings, load

CATALOG = Path(__file__).resolve().parent / "data" / "catalog.yaml"
FILL_BATCH = 5_000
_PASSES = ("group_count_s", "group_rank_sum_s", "count_all_s")


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    base = load()
    settings = replace(
        base,
        redis_url=_with_db(base.redis_url, args.redis_db),
        mongodb_database=f"certamen_bench_audit_{uuid.uuid4().hex[:8]}",
        catalog_path=None,
    )
    sizes = (10_000, 50_000) if args.quick else (100_000, 1_000_000)
    catalog = load_catalog(CATALOG, year_now=datetime.now(UTC).year)
    albums = [(c.band, c.album, c.year) for c in catalog.candidates]
    store = redis.Redis.from_url(settings.redis_url)
    mongo = make_mongo(settings, timeout_s=AUDIT_TIMEOUT_S)
    db = vote_database(mongo, settings)
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
            report = audit(settings)
            if not report.ok:
                raise RuntimeError(f"the audit disagrees at {size} votes: {report.to_dict()}")
            passes = _passes(db) if size == sizes[0] else {}
            rows.append(
                {
                    "votes": size,
                    "fill_s": filled_s,
                    "audit_s": report.seconds,
                    **{f"audit_{k}_s": v for k, v in report.timings.items()},
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
    figures, notes, sections = report_figures(settings, rows, command)
    title = "certamen audit at scale"
    benchkit.write_results(args.json, title, figures, notes, sections)
    if args.markdown:
        benchkit.write_markdown(args.markdown, title, figures, notes, sections)
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
    """The recount's two ``$group`` passes and a plain full read, each timed alone."""
    key = {"name": "$name", "album": "$album", "channel": "$channel"}
    timed: dict[str, float] = {}

    def group(accumulator: Any) -> list[Any]:
        return list(db["votes"].aggregate([{"$group": {"_id": key, "v": accumulator}}]))

    for name, work in (
        ("count_all", lambda: db["votes"].count_documents({})),
        ("group_count", lambda: group({"$sum": 1})),
        ("group_rank_sum", lambda: group({"$sum": "$rank"})),
    ):
        started = time.perf_counter()
        work()
        timed[f"{name}_s"] = time.perf_counter() - started
    return timed


def report_figures(
    settings: Settings, rows: list[dict[str, Any]], command: str
) -> tuple[list[benchkit.Figure], list[str], dict[str, str]]:
    figures = []
    for row in rows:
        size = row["votes"]
        label = f"{size // 1000}k"
        figures.append(
            benchkit.figure(
                f"audit.seconds_{label}",
                f"certamen audit at {size:,} logged votes",
                round(row["audit_s"], 2),
                "s",
                command=command,
                note=f"{size / row['audit_s']:,.0f} votes/s recounted",
            )
        )
    load1, load5, _ = os.getloadavg()
    notes = [
        f"MongoDB: {settings.mongodb_uri_redacted} (a database of its own, with the consumer's "
        f"indexes); Redis {settings.redis_url_redacted}. Votes spread over the example "
        "catalog's albums and both channels.",
        f"Machine: {os.cpu_count()} cores shared with other work; load average {load1:.1f} "
        f"(5 min {load5:.1f}) at the end.",
        "The audit reads Redis in one MULTI/EXEC, then MongoDB groups the votes twice "
        "(count, then rank sum: FerretDB v1 computes only the first accumulator of a $group), "
        "then counts the dead letters.",
    ]
    table = [
        "| votes | fill s | audit s | Redis s | recount s | 1 pass: count s | 1 pass: rank sum s "
        "| count_documents s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        passes = [f"{r[k]:.2f}" if k in r else "—" for k in _PASSES]
        table.append(
            f"| {r['votes']:,} | {r['fill_s']:.1f} | {r['audit_s']:.2f} | {r['audit_redis_s']:.3f} "
            f"| {r['audit_mongodb_recount_s']:.2f} | {' | '.join(passes)} |"
        )
    return figures, notes, {"Where the time goes": "\n".join(table)}


def _with_db(url: str, db: int) -> str:
    head, _, tail = url.rpartition("/")
    return f"{head}/{db}" if tail.isdigit() or tail == "" else f"{url.rstrip('/')}/{db}"


def _parser() -> argparse.ArgumentParser:
    parser = benchkit.bench_parser(__doc__.splitlines()[0])  # --quick: 10k and 50k votes
    parser.add_argument("--markdown", help="also write the results as markdown here")
    parser.add_argument("--redis-db", type=int, default=3, help="Redis database to use (flushed)")
    return parser


if __name__ == "__main__":
    sys.exit(main())

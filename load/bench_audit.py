"""Audit benchmark: ``certamen audit``'s time at 100,000 and at 1,000,000 logged votes.

A database of its own is filled with vote documents as the consumer writes them
(with the consumer's indexes), spread over the example catalog's albums and both
channels; Redis (database ``--redis-db``, flushed: never the stack's live one)
gets the matching counters. Then the audit runs as ``certamen audit`` does
(``certamen.results.audit.audit``: one streamed read of the log), and must agree.
Beside it, on the same votes, the recount it replaced: two ``$group`` passes (votes,
then rank sums; FerretDB v1 fills only a group's first accumulator). When the
MongoDB-protocol server is the one ``certamen up`` started (``MONGODB_URI`` unset) or
``--server-pid`` names it, its CPU seconds and its highest resident memory during
each are reported too: compare the two recounts within one run.

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
from typing import Any, TypeVar

import benchkit
import redis

from certamen.adapters import redis_keys as keys
from certamen.adapters.mongo_store import ensure_indexes, make_mongo, vote_database
from certamen.contract import album_key, load_catalog
from certamen.operations.votefiles import EXAMPLE_CATALOG
from certamen.results.audit import AUDIT_TIMEOUT_S, AuditReport, audit
from certamen.settings import Settings, load, with_redis_db

CATALOG = EXAMPLE_CATALOG
FILL_BATCH = 5_000
T = TypeVar("T")


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
            audited, report = _measured(server, lambda: audit(settings))
            if not report.ok:
                raise RuntimeError(f"the audit disagrees at {size} votes: {report.to_dict()}")
            grouped, by_album = _measured(server, lambda: _group_passes(db))
            if not _same_albums(by_album, report):
                raise RuntimeError(f"the $group passes disagree with the audit at {size} votes")
            rows.append(
                {
                    "votes": size,
                    "fill_s": filled_s,
                    "audit_s": report.seconds,
                    **{f"audit_{k}_s": v for k, v in report.timings.items()},
                    **{f"audit_{k}": v for k, v in audited.items()},
                    **{f"group_{k}": v for k, v in grouped.items()},
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


def _measured(server: dict[str, int] | None, work: Callable[[], T]) -> tuple[dict[str, float], T]:
    """``work``'s wall time, and the server's CPU and highest resident memory during it."""
    if not server:
        started = time.perf_counter()
        done = work()
        return {"wall_s": time.perf_counter() - started}, done
    pid = server["mongodb"]
    cpu_before = benchkit.cpu_seconds(server)["mongodb"]
    with benchkit.PeakMemory(pid) as memory:
        started = time.perf_counter()
        done = work()
        seconds = time.perf_counter() - started
    figures = {
        "wall_s": seconds,
        "server_cpu_s": benchkit.cpu_seconds(server)["mongodb"] - cpu_before,
        "server_start_mb": memory.start_mb,
        "server_peak_mb": memory.peak_mb,
    }
    return figures, done


def _group_passes(db: Any) -> dict[tuple[str, str], tuple[int, float]]:
    """The recount before the streamed read: two ``$group`` passes, votes then rank sums,
    added up by album."""
    key = {"name": "$name", "album": "$album", "channel": "$channel"}
    albums: dict[tuple[str, str], tuple[int, float]] = {}
    for accumulator, slot in (({"$sum": 1}, 0), ({"$sum": "$rank"}, 1)):
        pipeline = [{"$group": {"_id": key, "v": accumulator}}]
        for row in db["votes"].aggregate(pipeline, allowDiskUse=True):
            album = (row["_id"]["name"], row["_id"]["album"])
            found = list(albums.get(album, (0, 0.0)))
            found[slot] += row["v"]
            albums[album] = (int(found[0]), float(found[1]))
    return albums


def _same_albums(by_album: dict[tuple[str, str], tuple[int, float]], report: AuditReport) -> bool:
    """Both recounts found the same votes and rank sums per album (sums to the cent: the
    ``$group`` adds floats, the streamed read whole hundredths)."""
    streamed = {(c.band, c.album): (c.mongodb_votes, c.mongodb_rank_sum) for c in report.albums}
    return streamed.keys() == by_album.keys() and all(
        streamed[k][0] == n and abs(streamed[k][1] - total) < 0.011
        for k, (n, total) in by_album.items()
    )


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
        for key, name, prefix in (
            ("seconds", f"certamen audit at {size:,} logged votes", "audit"),
            (
                "group_seconds",
                f"the recount it replaced (two $group passes), {size:,} votes",
                "group",
            ),
        ):
            cpu = row.get(f"{prefix}_server_cpu_s")
            on_server = (
                f"; FerretDB CPU {cpu:.1f} s, {cpu / size * 1e6:.0f} µs/vote, resident memory "
                f"at most {row[f'{prefix}_server_peak_mb']:,.0f} MB"
                if cpu is not None
                else ""
            )
            seconds = row[f"{prefix}_wall_s"]
            figures.append(
                benchkit.figure(
                    f"audit.{key}_{label}",
                    name,
                    round(seconds, 2),
                    "s",
                    command=command,
                    note=f"{size / seconds:,.0f} votes/s recounted{on_server}",
                )
            )
    load1, load5, _ = os.getloadavg()
    notes = [
        f"MongoDB: {settings.mongodb_uri_redacted} (a database of its own, with the consumer's "
        f"indexes); Redis {settings.redis_url_redacted}. Votes spread over the example "
        "catalog's albums and both channels; ranks 0 to 100 with two decimals.",
        f"Machine: {os.cpu_count()} cores shared with other work; load average {load1:.1f} "
        f"(5 min {load5:.1f}) at the end.",
        "The audit reads Redis in one MULTI/EXEC, then every vote's band, album, channel and "
        "rank in one streamed read of MongoDB's log (batches of 10,000), then counts the dead "
        "letters. The recount it replaced grouped the votes on the server twice (count, then "
        "rank sum: FerretDB v1 computes only the first accumulator of a $group); it runs "
        "second, on the same votes, and must agree.",
    ]
    if server:
        notes.append(
            f"FerretDB (pid {server['mongodb']}, {_go_runtime(server['mongodb'])}): CPU seconds "
            "and resident memory (sampled every 0.1 s, at the start and at the highest) during "
            "each recount. Compare the two recounts within one run: from hour to hour the "
            "machine's own speed changes too."
        )
    table = [
        "| votes | fill s | audit s | Redis s | streamed read s | FerretDB CPU s "
        "| FerretDB MB (start → highest) | two $group passes s | FerretDB CPU s "
        "| FerretDB MB (start → highest) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        cells = [f"{r['votes']:,}", f"{r['fill_s']:.1f}", f"{r['audit_s']:.2f}"]
        cells += [f"{r['audit_redis_s']:.3f}", f"{r['audit_mongodb_recount_s']:.2f}"]
        cells += _server_cells(r, "audit")
        cells += [f"{r['group_wall_s']:.2f}", *_server_cells(r, "group")]
        table.append(f"| {' | '.join(cells)} |")
    return figures, notes, {"Where the time goes": "\n".join(table)}


def _server_cells(row: dict[str, Any], prefix: str) -> list[str]:
    if f"{prefix}_server_cpu_s" not in row:
        return ["—", "—"]
    memory = f"{row[f'{prefix}_server_start_mb']:,.0f} → {row[f'{prefix}_server_peak_mb']:,.0f}"
    return [f"{row[f'{prefix}_server_cpu_s']:.1f}", memory]


def _go_runtime(pid: int) -> str:
    """The Go runtime's settings the server runs with (Go's defaults if unset)."""
    environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    found = dict(v.decode(errors="replace").partition("=")[::2] for v in environ if b"=" in v)
    return ", ".join(f"{k}={found.get(k, 'unset')}" for k in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS"))


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

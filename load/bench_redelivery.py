"""Redelivery benchmark: what a batch of already-logged votes costs the consumer's vote log.

After Redis or the consumer goes away, the source redelivers votes that MongoDB
logged but Redis did not count yet; the consumer's ``insert_many`` refuses them as
duplicates and ``VoteLog.insert_votes`` reads each earlier document back. Measured
here as the consumer does it (a full batch, ``MAX_BATCH`` votes, all logged before)
at two sizes of the vote log, beside the one-query ``$in`` read the log used before
2026-12-05. FerretDB v1 pushes down only ``{"_id": <id>}``, and only the index that
certamen-ferretdb adds (operations/stack/ferretdb/idindex.go) serves it; a ``$in``
scans the whole log, and at a contest's size it passed the 5 s socket timeout and
stalled the counting (load/results/chaos-2026-12-05.md). The figure must not grow
with the log. A database of its own, dropped at the end.

    python load/bench_redelivery.py --json out.json [--quick]
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import benchkit

from certamen.adapters.mongo_store import VOTES, VoteLog, make_mongo, vote_database
from certamen.consumer.startup import MAX_BATCH
from certamen.settings import load

FILL_BATCH = 5_000
REPEATS = 5


def main() -> int:
    parser = benchkit.bench_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    settings = replace(load(), mongodb_database=f"certamen_bench_redelivery_{uuid.uuid4().hex[:8]}")
    sizes = (2_000, 20_000) if args.quick else (10_000, 100_000)
    mongo = make_mongo(settings, timeout_s=120)
    db = vote_database(mongo, settings)
    log = VoteLog(db)
    rows: list[dict[str, Any]] = []
    try:
        logged = 0
        for size in sizes:
            logged = _fill(db, logged, size)
            # The last batch logged, redelivered: every vote a duplicate.
            batch = [_document(n) for n in range(size - MAX_BATCH, size)]
            by_key = _median_s(partial(log.insert_votes, batch))
            in_query = {"_id": {"$in": [d["_id"] for d in batch]}}
            scan = _median_s(partial(_read_all, db, in_query))
            rows.append({"votes_logged": size, "by_key_s": by_key, "in_query_s": scan})
            print(f"{size:,} votes logged: a redelivered batch of {MAX_BATCH} reads back in "
                  f"{by_key * 1000:.1f} ms by key, {scan * 1000:.1f} ms with one $in",
                  flush=True)  # fmt: skip
    finally:
        mongo.drop_database(settings.mongodb_database)
        mongo.close()
    command = benchkit.command_line("load/bench_redelivery.py", parser, args)
    figures = []
    for row in rows:
        size = row["votes_logged"]
        figures += [
            benchkit.figure(f"redelivered_batch_by_key_ms_{size}",
                            f"a redelivered batch of {MAX_BATCH}, read back by key, "
                            f"{size:,} votes logged",
                            round(row["by_key_s"] * 1000, 1), "ms", command=command),
            benchkit.figure(f"redelivered_batch_in_query_ms_{size}",
                            f"the same read as one $in (before 2026-12-05), {size:,} votes logged",
                            round(row["in_query_s"] * 1000, 1), "ms", command=command),
        ]  # fmt: skip
    notes = [
        f"median of {REPEATS} repeats each; the batch figure is all of insert_votes "
        "(the refused insert_many and the reads), the $in figure the read alone"
    ]
    benchkit.publish(args, "a redelivered batch and the vote log's size", figures, notes)
    return 0


def _document(n: int) -> dict[str, Any]:
    vote_id = f"redelivery-{n:09d}"
    return {
        "_id": vote_id,
        "vote_id": vote_id,
        "name": "Malacates Trébol Shop",
        "album": "Ni ahí te voy",
        "year": 2014,
        "rank": n % 100,
        "channel": "grpc",
        "received_at": "2026-12-05T17:00:00.000Z",
        "partition": n % 6,
        "offset": n // 6,
    }


def _read_all(db: Any, query: dict[str, Any]) -> list[Any]:
    return list(db[VOTES].find(query))


def _fill(db: Any, logged: int, size: int) -> int:
    while logged < size:
        batch = [_document(n) for n in range(logged, min(size, logged + FILL_BATCH))]
        db[VOTES].insert_many(batch, ordered=False)
        logged += len(batch)
    return logged


def _median_s(run: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    raise SystemExit(main())

"""``certamen demo``: the main job — stack up, a contest replayed through both routes, the tally.

1. Start the local stack (installing what is missing on first use).
2. Take a vote file (``--file``, or a generated contest of ``--votes`` votes for the catalog)
   and replay it once through producer-grpc and producer-wasm with Locust, headless.
3. Wait (at most ``--timeout`` s) until every acknowledged vote is counted, showing progress.
4. Print the standings of this run, Locust's figures, the end-to-end rate and delay and
   the verdict; exit 1 if an acknowledged vote is missing or counted twice.

A stack that already holds votes is left alone: the demo judges the *change* of the
counters during its run and finds its own votes in MongoDB by their ids (each run
has its own run id). ``--fresh`` first empties the contest (counters, dedup markers
and the vote log) for a clean board. The stack keeps running; ``--down`` stops it.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from pymongo.database import Database
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from certamen import tally
from certamen.adapters import redis_keys as keys
from certamen.adapters.errors import StoreUnavailable
from certamen.adapters.mongo_store import (
    DEAD_LETTERS,
    VOTES,
    count_dead_letters,
    make_mongo,
    recount_votes,
    vote_database,
)
from certamen.adapters.redis_store import TallyWriter, make_redis
from certamen.audit import AuditReport, compare
from certamen.contract import Catalog, ContractError, load_catalog
from certamen.demo_report import DemoResult, print_report, write_json
from certamen.loadgen import LedgerTotals, new_run_id, read_ledgers, replay_prefix
from certamen.loadgen.locust_run import LocustPlan, read_route_stats
from certamen.loadgen.runlog import count_run, read_run_log
from certamen.loadgen.verdict import judge
from certamen.settings import Settings
from certamen.stack import runner
from certamen.stack.console import make_console, print_error
from certamen.stack.errors import StackError
from certamen.votefiles import (
    AlbumId,
    VoteFile,
    VoteFileError,
    catalog_for,
    expected_tally,
    generate_votes,
    read_votes,
    write_votes,
)

_POLL_S = 0.5
_SETTLE_S = 1.0  # after the last count, a moment for a late duplicate to show
_MONGO_TIMEOUT_S = 60.0  # the audit's recount groups the whole vote log


class DemoError(RuntimeError):
    """The demo cannot run as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class _Stores:
    redis: redis.Redis
    db: Database[dict[str, Any]]


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the demo; 0 when every acknowledged vote was counted exactly once."""
    out = make_console()
    try:
        _check_args(args)
        return _demo(settings, args, out)
    except (
        DemoError,
        VoteFileError,
        StackError,
        ContractError,
        StoreUnavailable,
        redis.RedisError,
        PyMongoError,
    ) as e:
        print_error("demo", e)
        return 2 if isinstance(e, DemoError | VoteFileError) else 1
    finally:
        if args.down:
            runner.stop(settings, out)


def _check_args(args: argparse.Namespace) -> None:
    if args.file is None and args.votes < 1:
        raise DemoError(f"--votes must be at least 1, not {args.votes}")
    if args.users < 1:
        raise DemoError(f"--users must be at least 1, not {args.users}")
    if args.grpc_weight < 0 or args.wasm_weight < 0 or args.grpc_weight + args.wasm_weight == 0:
        raise DemoError("--grpc-weight and --wasm-weight must be 0 or more, not both 0")
    if args.timeout <= 0:
        raise DemoError(f"--timeout must be more than 0 s, not {args.timeout}")


def _demo(settings: Settings, args: argparse.Namespace, out: Console) -> int:
    out.rule("Certamen demo")
    runner.start(settings, [], out)
    catalog = catalog_for(settings)
    votes = _vote_file(settings, args, catalog)
    # The producers judge votes with CERTAMEN_CATALOG (none: an open contest); so does this.
    judged_by = (
        load_catalog(settings.catalog_path, year_now=_year()) if settings.catalog_path else None
    )
    expected = expected_tally(votes.records, judged_by)
    stores = _open_stores(settings)
    if args.fresh:
        _reset_contest(stores, catalog)
        out.print("--fresh: the contest's counters, markers and vote log were emptied")
    before = tally.read_standings(stores.redis, catalog)
    run_id = new_run_id()
    run_dir = settings.state_dir.resolve() / "demo" / run_id
    plan = LocustPlan(
        votes_file=votes.path,
        run_id=run_id,
        users=min(args.users, len(votes)) or 1,
        wasm_url=f"http://127.0.0.1:{settings.ports.producer_wasm}",
        grpc_target=f"127.0.0.1:{settings.ports.producer_grpc}",
        ledger_dir=run_dir / "ledger",
        report_prefix=run_dir / "locust",
        run_time_s=args.timeout,
        grpc_weight=args.grpc_weight,
        wasm_weight=args.wasm_weight,
    )
    out.print(
        f"replaying {len(votes)} votes of {votes.path} once, {plan.users} Locust users, "
        f"gRPC:HTTP users {args.grpc_weight}:{args.wasm_weight}, run {run_id}"
    )
    prefix = replay_prefix(run_id, votes.tag)
    ledger, waited = _replay_and_wait(plan, run_dir, stores, before.total, prefix, args, out)
    after = tally.read_standings(stores.redis, catalog)
    log = read_run_log(stores.db, prefix)
    delta = _album_delta(before, after)
    verdict = judge(ledger, log, delta, expected, records=len(votes))
    audit = _audit(stores, after)
    result = DemoResult(
        run_id=run_id,
        votes=votes,
        expected=expected,
        ledger=ledger,
        log=log,
        before=before,
        after=after,
        delta=delta,
        rank_delta=_rank_delta(before, after),
        routes=read_route_stats(plan.report_prefix),
        verdict=verdict,
        audit=audit,
        waited_s=waited,
        report=Path(f"{plan.report_prefix}.html"),
        streamlit=f"http://127.0.0.1:{settings.ports.streamlit}",
        stopping=args.down,
    )
    print_report(result, out)
    if args.json:
        write_json(result, Path(args.json))
    return 0 if verdict.ok and audit.ok else 1


def _vote_file(settings: Settings, args: argparse.Namespace, catalog: Catalog) -> VoteFile:
    if args.file:
        return read_votes(Path(args.file))
    path = settings.state_dir.resolve() / "demo" / f"contest-{args.votes}-seed{args.seed}.json"
    write_votes(path, generate_votes(catalog, count=args.votes, seed=args.seed))
    return read_votes(path)


def _open_stores(settings: Settings) -> _Stores:
    mongo = make_mongo(settings, timeout_s=_MONGO_TIMEOUT_S)
    return _Stores(make_redis(settings), vote_database(mongo, settings))


def _audit(stores: _Stores, standings: tally.Standings) -> AuditReport:
    """Every Redis counter against MongoDB's recount (Redis read first, as the audit does)."""
    groups = recount_votes(stores.db)
    return compare(standings, groups, dead_letters=count_dead_letters(stores.db))


def _reset_contest(stores: _Stores, catalog: Catalog) -> None:
    """Empty the contest: counters, dedup markers and the vote log (indexes are kept)."""
    stores.redis.delete(*keys.CONTEST_KEYS)
    batch: list[bytes] = []
    for key in stores.redis.scan_iter(match=f"{keys.COUNTED_PREFIX}*", count=1_000):
        batch.append(key)
        if len(batch) >= 1_000:
            stores.redis.delete(*batch)
            batch.clear()
    if batch:
        stores.redis.delete(*batch)
    stores.db[VOTES].delete_many({})
    stores.db[DEAD_LETTERS].delete_many({})
    TallyWriter(stores.redis).seed_candidates(catalog)


def _replay_and_wait(
    plan: LocustPlan,
    run_dir: Path,
    stores: _Stores,
    total_before: int,
    prefix: str,
    args: argparse.Namespace,
    out: Console,
) -> tuple[LedgerTotals, float]:
    """Run Locust, then wait for the counts; return the ledgers and the seconds waited."""
    process = plan.start(run_dir / "locust.log")
    records = 0  # this run's share of the file, known from the first ledger
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out, transient=False) as progress:
        sending = progress.add_task("sent (acknowledged)", total=None)
        counting = progress.add_task("counted / acknowledged", total=None)
        ledger = read_ledgers(plan.ledger_dir)
        deadline = time.monotonic() + args.timeout + 30
        while process.poll() is None and time.monotonic() < deadline:
            ledger = read_ledgers(plan.ledger_dir)
            records = ledger.share or records
            counted = _counted_since(stores, total_before)
            progress.update(sending, completed=ledger.done, total=records or None)
            progress.update(counting, completed=counted, total=max(ledger.accepted_total, 1))
            time.sleep(_POLL_S)
        if process.poll() is None:
            process.kill()
            process.wait()
            raise DemoError(f"Locust did not finish in time; see {run_dir / 'locust.log'}")
        ledger = read_ledgers(plan.ledger_dir)
        if not ledger.final:
            raise DemoError(f"Locust ended without a final ledger; see {run_dir / 'locust.log'}")
        progress.update(sending, completed=ledger.done, total=ledger.share)
        started = time.monotonic()
        deadline = started + args.timeout
        accepted = ledger.accepted_total
        while time.monotonic() < deadline:
            counted = _counted_since(stores, total_before)
            progress.update(counting, completed=counted, total=max(accepted, 1))
            if counted >= accepted and count_run(stores.db, prefix) >= accepted:
                time.sleep(_SETTLE_S)
                break
            time.sleep(_POLL_S)
        progress.update(counting, completed=_counted_since(stores, total_before))
    return ledger, time.monotonic() - started


def _counted_since(stores: _Stores, total_before: int) -> int:
    return int(stores.redis.get(keys.TOTAL) or 0) - total_before


def _album_delta(before: tally.Standings, after: tally.Standings) -> Counter[AlbumId]:
    old = {(s.band, s.album): s.votes for s in before.by_album}
    return Counter(
        {(s.band, s.album): s.votes - old.get((s.band, s.album), 0) for s in after.by_album}
    )


def _rank_delta(before: tally.Standings, after: tally.Standings) -> dict[AlbumId, float]:
    old = {(s.band, s.album): s.rank_sum for s in before.by_album}
    return {(s.band, s.album): s.rank_sum - old.get((s.band, s.album), 0.0) for s in after.by_album}


def _year() -> int:
    return datetime.now(UTC).year

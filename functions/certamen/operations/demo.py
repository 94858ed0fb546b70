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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import redis
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from certamen.adapters import redis_keys as keys
from certamen.adapters.dead_letter_store import dead_letter_counts
from certamen.adapters.errors import StoreUnavailable
from certamen.adapters.mongo_store import (
    DEAD_LETTER_REPLAYS,
    DEAD_LETTERS,
    VOTES,
    recount_votes,
)
from certamen.adapters.redis_store import TallyWriter
from certamen.contract import Catalog, ContractError
from certamen.operations.demo_report import DemoResult, print_report, write_json
from certamen.operations.loadgen import LOCUST_TICK_S, BurstPlan, new_run_id
from certamen.operations.loadgen.burstlog import BurstLog, Sample
from certamen.operations.loadgen.locust_run import LocustPlan
from certamen.operations.loadgen.replay import Progress as ReplayProgress
from certamen.operations.loadgen.replay import (
    ReplayError,
    Stores,
    open_stores,
    replay_and_count,
    report_paths,
)
from certamen.operations.stack import runner
from certamen.operations.stack.console import make_console, print_error
from certamen.operations.stack.errors import StackError
from certamen.operations.votefiles import (
    VoteFile,
    VoteFileError,
    catalog_for,
    contest_catalog,
    expected_tally,
    generate_votes,
    read_votes,
    write_votes,
)
from certamen.results.audit import AuditReport, compare
from certamen.results.tally import Standings
from certamen.settings import Settings


class DemoError(RuntimeError):
    """The demo cannot run as asked; the message says why."""


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the demo; 0 when every acknowledged vote was counted exactly once."""
    out = make_console()
    try:
        _check_args(args)
        return _demo(settings, args, out)
    except (
        DemoError,
        ReplayError,
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
    if args.bursts < 1:
        raise DemoError(f"--bursts must be at least 1, not {args.bursts}")
    if args.burst_rate <= 0 or args.burst_gap < 0:
        raise DemoError("--burst-rate must be more than 0 votes/s and --burst-gap 0 s or more")


def _demo(settings: Settings, args: argparse.Namespace, out: Console) -> int:
    out.rule("Certamen demo")
    runner.start(settings, [], out)
    votes = _vote_file(settings, args, catalog_for(settings))
    # The producers judge votes with CERTAMEN_CATALOG (none: an open contest); so does this.
    catalog = contest_catalog(settings)
    expected = expected_tally(votes.records, catalog)
    stores = open_stores(settings)
    if args.fresh:
        _reset_contest(stores, catalog)
        out.print("--fresh: the contest's counters, markers and vote log were emptied")
    run_id = new_run_id()
    ledger_dir, report_prefix = report_paths(settings.state_dir.resolve() / "demo" / run_id)
    bursts, burst_rate = contest_bursts(
        len(votes),
        bursts=args.bursts,
        rate=args.burst_rate,
        users=args.users,
        gap_s=args.burst_gap,
        tail_s=args.timeout,
    )
    plan = LocustPlan(
        votes_file=votes.path,
        run_id=run_id,
        users=min(args.users, len(votes)),
        wasm_url=f"http://127.0.0.1:{settings.ports.producer_wasm}",
        grpc_target=f"127.0.0.1:{settings.ports.producer_grpc}",
        ledger_dir=ledger_dir,
        report_prefix=report_prefix,
        run_time_s=bursts.duration_s + args.timeout,
        grpc_weight=args.grpc_weight,
        wasm_weight=args.wasm_weight,
        user_rate=burst_rate / bursts.peak_users,
        burst=bursts,
    )
    out.print(
        f"replaying {len(votes)} votes of {votes.path} once as {bursts.bursts} Locust bursts "
        f"of about {len(votes) / bursts.bursts:,.0f} votes ({bursts.ramp_s + bursts.hold_s:g} s "
        f"of {bursts.peak_users} users at {burst_rate:,.0f} votes/s), {bursts.gap_s:g} s "
        f"apart, gRPC:HTTP users {args.grpc_weight}:{args.wasm_weight}, run {run_id}"
    )
    burst_log = BurstLog(bursts)
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out) as bars:
        sent = bars.add_task("sent", total=len(votes))
        counted = bars.add_task("counted / acknowledged", total=None)

        def show(now: ReplayProgress) -> None:
            burst_log.add(Sample(now.elapsed_s, now.acknowledged, now.refused, now.counted))
            bars.update(sent, completed=now.done)
            bars.update(counted, completed=now.counted, total=max(now.acknowledged, 1))

        outcome = replay_and_count(
            plan,
            votes,
            expected,
            stores,
            catalog=catalog,
            count_timeout_s=args.timeout,
            progress=show,
        )
    with Progress(*columns, console=out) as bars:
        # The whole log, not only this run's votes: a million take minutes.
        recounted = bars.add_task("audit: votes recounted", total=outcome.after.total or None)

        def show_recount(read: int) -> None:
            bars.update(recounted, completed=read, total=max(read, outcome.after.total))

        audit = _audit(stores, outcome.after, show_recount)
    result = DemoResult(
        run_id=run_id,
        votes=votes,
        expected=expected,
        outcome=outcome,
        audit=audit,
        report=Path(f"{report_prefix}.html"),
        bursts=burst_log.bursts(),
        streamlit=f"http://127.0.0.1:{settings.ports.streamlit}",
        stopping=args.down,
    )
    print_report(result, out)
    if args.json:
        write_json(result, Path(args.json))
    return 0 if outcome.verdict.ok and audit.ok else 1


def contest_bursts(
    votes: int, *, bursts: int, rate: float, users: int, gap_s: float, tail_s: float
) -> tuple[BurstPlan, float]:
    """The shape of the contest and the votes/s a burst sends: each burst its share of the file.

    Locust asks the shape for its users once a second (:data:`LOCUST_TICK_S`) and spawns
    them at once, so a burst lasts whole ticks: its share of the file at the rate nearest
    to ``rate`` that sends that share in whole seconds (2,000 votes in 3 bursts at
    1,000 votes/s: 1 s at 667 votes/s each). Each phase starts half a tick off the ticks,
    so a tick a little late or early still lands in the phase it is meant for. The last
    burst holds up to ``tail_s`` longer, until the file is sent, so a machine slower than
    the rate still sends every vote (the replay then ends the run).
    """
    share = votes / bursts
    ticks = max(1, round(share / rate))
    half = LOCUST_TICK_S / 2
    hold_s = ticks * LOCUST_TICK_S - half
    plan = BurstPlan(
        idle_s=half,
        ramp_s=half,
        peak_users=max(1, min(users, int(share))),
        hold_s=hold_s,
        gap_s=max(0, round(gap_s)) * LOCUST_TICK_S,
        bursts=bursts,
        last_hold_s=hold_s + tail_s,
    )
    return plan, share / (ticks * LOCUST_TICK_S)


def _vote_file(settings: Settings, args: argparse.Namespace, catalog: Catalog) -> VoteFile:
    if args.file:
        return read_votes(Path(args.file))
    path = settings.state_dir.resolve() / "demo" / f"contest-{args.votes}-seed{args.seed}.json"
    write_votes(path, generate_votes(catalog, count=args.votes, seed=args.seed))
    return read_votes(path)


def _reset_contest(stores: Stores, catalog: Catalog | None) -> None:
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
    stores.db[DEAD_LETTER_REPLAYS].delete_many({})
    TallyWriter(stores.redis).seed_contest(catalog)


def _audit(stores: Stores, standings: Standings, progress: Callable[[int], None]) -> AuditReport:
    """Every Redis counter against MongoDB's recount (Redis read first, as the audit does)."""
    started = time.perf_counter()
    groups = recount_votes(stores.db, progress)
    report = compare(standings, groups, dead_letters=dead_letter_counts(stores.db))
    return replace(report, seconds=time.perf_counter() - started)

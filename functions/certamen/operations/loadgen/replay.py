"""Replay a vote file once through the running stack and wait until it is counted.

Shared by ``certamen demo`` and the end-to-end benchmark: start Locust headless
(:mod:`certamen.operations.loadgen.locust_run`), follow its ledgers while it sends, then wait
(bounded) until the tally has grown by the number of acknowledged votes, read the
run's votes back from the vote log once, and judge the run
(:mod:`certamen.operations.loadgen.verdict`). Progress goes to a callback so each caller shows
it its own way.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from pymongo.database import Database

from certamen.adapters import redis_keys as keys
from certamen.adapters.mongo_store import make_mongo, vote_database
from certamen.adapters.redis_store import make_redis
from certamen.contract import Catalog
from certamen.operations.loadgen.ledger import LedgerTotals, read_ledgers
from certamen.operations.loadgen.locust_run import LocustPlan, RouteStats, read_route_stats
from certamen.operations.loadgen.runlog import RunLog, read_marked, read_run_log
from certamen.operations.loadgen.verdict import Verdict, judge
from certamen.operations.votefiles import AlbumId, ExpectedTally, VoteFile
from certamen.results import tally
from certamen.results.audit import AUDIT_TIMEOUT_S
from certamen.settings import Settings

_POLL_S = 0.5
_SETTLE_S = 1.0  # after the last count, a moment for a late duplicate to show
_QUIET_S = 2.0  # the tally stands still this long before a run starts
_LOCUST_GRACE_S = 30.0  # beyond its own run time, before Locust is killed


class ReplayError(RuntimeError):
    """Locust did not finish its replay; the message points at its log."""


@dataclass(frozen=True, slots=True)
class Stores:
    """The clients a replay reads the tally and the vote log with."""

    redis: redis.Redis
    db: Database[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a replay stands: records done of this run's share, counted of acknowledged."""

    done: int
    share: int
    counted: int
    acknowledged: int
    sending: bool
    refused: int = 0  # answers that were not an acknowledgement, each retried with its key
    elapsed_s: float = 0.0  # since Locust started


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """A finished replay: the ledgers, the vote log, the tally's change and the verdict."""

    ledger: LedgerTotals
    log: RunLog
    before: tally.Standings
    after: tally.Standings
    delta: Counter[AlbumId]
    rank_delta: dict[AlbumId, float]
    routes: list[RouteStats]
    verdict: Verdict
    waited_s: float


def open_stores(settings: Settings) -> Stores:
    """Redis and the contest's MongoDB database, with room for the audit's recount.

    The demo recounts the whole vote log after its run, as ``certamen audit`` does: that
    takes FerretDB minutes past a million votes (a 60 s socket timeout failed the demo
    at 1.5 million).
    """
    mongo = make_mongo(settings, timeout_s=AUDIT_TIMEOUT_S)
    return Stores(make_redis(settings), vote_database(mongo, settings))


def replay_and_count(
    plan: LocustPlan,
    votes: VoteFile,
    expected: ExpectedTally | None,
    stores: Stores,
    *,
    catalog: Catalog | None,
    count_timeout_s: float,
    progress: Callable[[Progress], None] = lambda _: None,
    on_start: Callable[[], None] = lambda: None,
    on_counted: Callable[[], None] = lambda: None,
) -> ReplayOutcome:
    """Replay ``votes`` with ``plan``, wait for the counts, judge the run.

    The run is judged by how much the tally grows meanwhile, so it starts only once
    the tally stands still (a backlog of an earlier run would count as this one's).
    ``on_start`` and ``on_counted`` bracket the replay itself (for CPU accounting):
    after the tally stood still, and before the vote log is read back.
    """
    wait_until_quiet(stores, timeout_s=count_timeout_s)
    before = tally.read_standings(stores.redis, catalog)
    on_start()
    total = _TallyTotal(stores, before.total)
    log_file = plan.report_prefix.parent / "locust.log"
    process = plan.start(log_file)
    started_at = time.monotonic()
    deadline = time.monotonic() + plan.run_time_s + _LOCUST_GRACE_S
    ledger = read_ledgers(plan.ledger_dir)
    while process.poll() is None and time.monotonic() < deadline:
        ledger = read_ledgers(plan.ledger_dir)
        progress(_progress(ledger, total.read(), before.total, started_at, sending=True))
        time.sleep(_POLL_S)
    if process.poll() is None:
        process.kill()
        process.wait()
        raise ReplayError(f"Locust did not finish in time; see {log_file}")
    ledger = read_ledgers(plan.ledger_dir)
    if not ledger.final:
        raise ReplayError(f"Locust ended without a final ledger; see {log_file}")
    started = time.monotonic()
    while time.monotonic() < started + count_timeout_s:
        now = _progress(ledger, total.read(), before.total, started_at, sending=False)
        progress(now)
        # The consumer stores a vote in MongoDB before it counts it in Redis: once the
        # tally has grown by the acknowledged votes, the vote log holds them too.
        if now.counted >= now.acknowledged:
            time.sleep(_SETTLE_S)
            break
        time.sleep(_POLL_S)
    waited = time.monotonic() - started
    on_counted()
    progress(_progress(ledger, total.read(), before.total, started_at, sending=False))
    after = tally.read_standings(stores.redis, catalog)
    log, marked = _read_run(stores, plan.run_id, votes.tag, len(votes), ledger)
    delta = album_delta(before, after)
    return ReplayOutcome(
        ledger=ledger,
        log=log,
        before=before,
        after=after,
        delta=delta,
        rank_delta=_rank_delta(before, after),
        routes=read_route_stats(plan.report_prefix),
        verdict=judge(ledger, log, delta, expected, records=len(votes), marked=marked),
        waited_s=waited,
    )


def _read_run(
    stores: Stores, run_id: str, tag: str, records: int, ledger: LedgerTotals
) -> tuple[RunLog, frozenset[int]]:
    """The run's vote log (MongoDB), then which of its votes Redis counted (the markers).

    A vote being written right then is in MongoDB and not yet in Redis: when the two
    differ, both are read again once, a moment later, before they count as differing.
    """
    for last in (False, True):
        log = read_run_log(stores.db, run_id, tag, range(records))
        sent = ledger.accepted_indices | ledger.refused_indices | ledger.unknown_indices
        marked = read_marked(stores.redis, run_id, tag, sent | log.indices)
        if last or marked == log.indices:
            break
        time.sleep(_SETTLE_S)
    return log, marked


def wait_until_quiet(stores: Stores, *, timeout_s: float) -> bool:
    """Wait (at most ``timeout_s``) until the tally's total has not moved for a while."""
    deadline = time.monotonic() + timeout_s
    total = _TallyTotal(stores)
    last, still_since = total.read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(_POLL_S)
        now = total.read()
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= _QUIET_S:
            return True
    return False


class _TallyTotal:
    """``votes:total`` as last read: while Redis is away (restarting) the last value read."""

    def __init__(self, stores: Stores, start: int = 0) -> None:
        self._stores = stores
        self._last = start

    def read(self) -> int:
        with contextlib.suppress(redis.RedisError):
            self._last = int(self._stores.redis.get(keys.TOTAL) or 0)
        return self._last


def album_delta(before: tally.Standings, after: tally.Standings) -> Counter[AlbumId]:
    """How many votes each album gained between two snapshots."""
    old = {(s.band, s.album): s.votes for s in before.by_album}
    change = {(s.band, s.album): s.votes - old.get((s.band, s.album), 0) for s in after.by_album}
    return Counter(change)


def _rank_delta(before: tally.Standings, after: tally.Standings) -> dict[AlbumId, float]:
    old = {(s.band, s.album): s.rank_sum for s in before.by_album}
    return {(s.band, s.album): s.rank_sum - old.get((s.band, s.album), 0.0) for s in after.by_album}


def _progress(
    ledger: LedgerTotals, total: int, total_before: int, started_at: float, *, sending: bool
) -> Progress:
    counted = total - total_before
    refused = sum(ledger.retries.values()) + ledger.refused_total + ledger.unknown_total
    return Progress(
        ledger.done,
        ledger.share,
        counted,
        ledger.accepted_total,
        sending,
        refused=refused,
        elapsed_s=time.monotonic() - started_at,
    )


def report_paths(run_dir: Path) -> tuple[Path, Path]:
    """Where a run's ledgers and Locust reports go inside its folder."""
    return run_dir / "ledger", run_dir / "locust"

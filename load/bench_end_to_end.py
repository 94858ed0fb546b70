"""End-to-end benchmark: votes/s through the whole local stack, counted exactly, and the delay.

Locust -> producer-grpc / producer-wasm -> Kafka -> local KafkaSource -> consumer
-> Redis + MongoDB, all on this machine (the load generator too). Every run replays
a generated vote file once and is judged like ``certamen demo`` judges: acknowledged
= counted, per album, with nothing lost or counted twice.

1. saturation: gRPC ``CastBatch`` (100 votes a call) as fast as the stack takes it;
   the end-to-end rate is counted votes over the time from the first vote received
   to the last one stored (``received_at`` -> ``processed_at`` in MongoDB);
2. half load: paced at half the saturation rate; the vote-to-count delay p50/p99;
3. where the time goes: CPU seconds of every process per vote during saturation,
   and, when a goal is missed, a py-spy profile of the hottest process.

One vote per call, route by route (rates, call latency, CPU per vote by part), is
``bench_cost_per_vote.py``: it replays with this script's ``Bench``.

    python load/bench_end_to_end.py --json out.json [--quick]
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from dataclasses import dataclass, field

import benchkit
from rich.console import Console

from certamen.contract import Catalog
from certamen.operations.loadgen import new_run_id
from certamen.operations.loadgen.locust_run import LocustPlan
from certamen.operations.loadgen.replay import (
    ReplayOutcome,
    Stores,
    open_stores,
    replay_and_count,
    report_paths,
)
from certamen.operations.stack import runner
from certamen.operations.stack.parts import SERVERS
from certamen.operations.votefiles import (
    catalog_for,
    contest_catalog,
    expected_tally,
    generate_votes,
    read_votes,
    write_votes,
)
from certamen.settings import Settings, load

PARTS = ("consumer", "source", "producer-grpc", "producer-wasm")
PIPELINE = (*SERVERS, *PARTS)
GOAL_RATE = 2_000.0
GOAL_P99_MS = 1_000.0


@dataclass(frozen=True)
class Sizes:
    saturation_votes: int
    half_load_s: float
    profile_s: float


FULL = Sizes(saturation_votes=60_000, half_load_s=40.0, profile_s=15.0)
QUICK = Sizes(saturation_votes=4_000, half_load_s=8.0, profile_s=3.0)


@dataclass
class Measured:
    """One replay: its outcome, the CPU seconds and the context switches of each part
    meanwhile."""

    outcome: ReplayOutcome
    cpu: dict[str, float]
    locust_cpu: float
    switches: dict[str, int] = field(default_factory=dict)


class Bench:
    """The stack's settings, clients and catalog, and a folder for this run's files."""

    def __init__(self, settings: Settings, out: Console) -> None:
        self.settings = settings
        self.out = out
        self.catalog: Catalog = catalog_for(settings)
        self.judged_by = contest_catalog(settings)
        self.stores: Stores = open_stores(settings)
        self.folder = settings.state_dir.resolve() / "bench" / "end_to_end"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sessions = benchkit.part_pids(settings, PIPELINE)

    def replay(
        self,
        label: str,
        count: int,
        *,
        users: int,
        grpc_weight: int = 1,
        wasm_weight: int = 0,
        batch: int = 1,
        user_rate: float = 0.0,
        run_time_s: float = 900.0,
    ) -> Measured:
        """Generate ``count`` votes, replay them once, wait for the counts, judge."""
        path = self.folder / f"{label}-{count}.json"
        seed = zlib.crc32(label.encode())
        write_votes(path, generate_votes(self.catalog, count=count, seed=seed))
        votes = read_votes(path)
        run_id = new_run_id()
        ledger_dir, report_prefix = report_paths(self.folder / run_id)
        plan = LocustPlan(
            votes_file=path,
            run_id=run_id,
            users=users,
            wasm_url=f"http://127.0.0.1:{self.settings.ports.producer_wasm}",
            grpc_target=f"127.0.0.1:{self.settings.ports.producer_grpc}",
            ledger_dir=ledger_dir,
            report_prefix=report_prefix,
            run_time_s=run_time_s,
            grpc_weight=grpc_weight,
            wasm_weight=wasm_weight,
            grpc_batch=batch,
            user_rate=user_rate,
        )
        self.out.print(f"{label}: {count} votes, {users} users, batch {batch}, rate {user_rate}")
        cpu: dict[str, dict[str, float]] = {}
        switches: dict[str, dict[str, int]] = {}

        def snapshot(when: str) -> None:
            cpu[when] = benchkit.cpu_seconds(self.sessions)
            cpu[when]["locust"] = benchkit.children_cpu_seconds()
            switches[when] = benchkit.context_switches(self.sessions)

        outcome = replay_and_count(
            plan,
            votes,
            expected_tally(votes.records, self.judged_by),
            self.stores,
            catalog=self.judged_by,
            count_timeout_s=300.0,
            on_start=lambda: snapshot("before"),
            on_counted=lambda: snapshot("after"),
        )
        log = outcome.log
        self.out.print(
            f"  {log.count} counted in {log.span_s:.1f} s = {log.rate:,.0f} votes/s, "
            f"delay p50 {log.delay_ms(0.5)} ms p99 {log.delay_ms(0.99)} ms, " + _verdict(outcome)
        )
        used = {part: cpu["after"][part] - cpu["before"].get(part, 0.0) for part in cpu["after"]}
        switched = {p: n - switches["before"].get(p, 0) for p, n in switches["after"].items()}
        return Measured(outcome, used, used.pop("locust"), switched)


def main() -> int:
    args = benchkit.bench_args(__doc__ or "")
    sizes = QUICK if args.quick else FULL
    settings = load()
    out = Console()
    runner.start(settings, list(PARTS), out)
    bench = Bench(settings, out)
    command = "python load/bench_end_to_end.py" + (" --quick" if args.quick else "")

    saturation = bench.replay("saturation", sizes.saturation_votes, users=4, batch=100)
    rate = saturation.outcome.log.rate
    half_rate = rate / 2
    users, batch = 4, 10
    half = bench.replay(
        "half-load",
        max(100, round(half_rate * sizes.half_load_s)),
        users=users,
        batch=batch,
        user_rate=half_rate / (users * batch),
    )
    runs = {"saturation": saturation, "half load": half}
    inexact = {name: m for name, m in runs.items() if not m.outcome.verdict.ok}
    p99 = half.outcome.log.delay_ms(0.99) or 0.0
    p50 = half.outcome.log.delay_ms(0.5) or 0.0
    figures = [
        benchkit.figure(
            "end_to_end.votes_per_s", "sustained end-to-end votes/s (gRPC CastBatch 100, 4 users)",
            round(rate, 1), "votes/s", goal=f">= {GOAL_RATE:,.0f}", met=rate >= GOAL_RATE,
            command=command, note=f"{saturation.outcome.log.count:,} votes",
        ),
        benchkit.figure(
            "end_to_end.lost_or_double", "votes lost or counted twice (all runs)",
            sum(len(m.outcome.verdict.problems) for m in runs.values()), "problems",
            goal="= 0", met=not inexact, command=command,
        ),
        benchkit.figure(
            "end_to_end.delay_p50_ms", f"vote-to-count delay p50 at half load ({half_rate:,.0f}/s)",
            p50, "ms", command=command,
        ),
        benchkit.figure(
            "end_to_end.delay_p99_ms", f"vote-to-count delay p99 at half load ({half_rate:,.0f}/s)",
            p99, "ms", goal=f"<= {GOAL_P99_MS:,.0f}", met=p99 <= GOAL_P99_MS, command=command,
        ),
    ]  # fmt: skip
    sections = {"CPU per vote, by process": _cpu_table(runs)}
    notes = [
        f"{m.outcome.log.count:,} votes in {name}: "
        + ("exact" if m.outcome.verdict.ok else "; ".join(m.outcome.verdict.problems))
        for name, m in runs.items()
    ]
    if rate < GOAL_RATE:
        sections["Why the rate goal is missed, and what would close it"] = _gap(saturation)
    if rate < GOAL_RATE or p99 > GOAL_P99_MS:
        hottest = max(saturation.cpu, key=lambda part: saturation.cpu[part])
        python_parts = {p: s for p, s in saturation.cpu.items() if p in PARTS}
        hottest_python = max(python_parts, key=lambda part: python_parts[part])
        title = f"Profile of {hottest_python} during saturation (hottest process: {hottest})"
        sections[title] = _profile(bench, hottest_python, sizes)
    benchkit.write_results(
        args.json,
        "End to end: Locust -> producers -> Kafka -> source -> consumer -> Redis + MongoDB",
        figures,
        notes,
        sections,
    )
    return 0


def _gap(saturation: Measured) -> str:
    """The CPU arithmetic of the saturation run: what caps the rate on this machine."""
    votes = max(1, saturation.outcome.log.count)
    parts = {**saturation.cpu, "locust": saturation.locust_cpu}
    per_vote = 1000 * sum(parts.values()) / votes
    cores = os.cpu_count() or 1
    ranked = sorted(parts.items(), key=lambda item: -item[1])[:3]
    shares = ", ".join(
        f"{part} {1000 * seconds / votes:.2f} ms ({100 * 1000 * seconds / votes / per_vote:.0f} %)"
        for part, seconds in ranked
    )
    source_ms = 1000 * parts.get("source", 0.0) / votes
    consumer_ms = 1000 * parts.get("consumer", 0.0) / votes
    return (
        f"Every counted vote costs {per_vote:.2f} ms of CPU across the pipeline (the table "
        f"above, load generator included), so {cores} cores cap it at "
        f"{cores * 1000 / per_vote:,.0f} votes/s even with nothing else running; "
        f"{GOAL_RATE:,.0f} votes/s needs {GOAL_RATE * per_vote / 1000:.1f} cores, or at most "
        f"{cores * 1000 / GOAL_RATE:.2f} ms a vote on {cores}. The largest shares: {shares}.\n\n"
        f"The hop from Kafka to the counters costs {source_ms + consumer_ms:.2f} ms a vote: "
        f"the source {source_ms:.2f} ms (one CloudEvent POSTed per vote, as a KafkaSource "
        "does; measured alone by load/bench_source.py) and the consumer "
        f"{consumer_ms:.2f} ms. What would close the gap: (1) a cheaper hottest part "
        "(its profile below); (2) more cores: every part scales out (Knative pods and "
        "partitions, docs/capacity.md), so the cluster reaches the goal with pods, not "
        "tuning."
    )


def _per_vote_ms(measured: Measured, *, client: bool = False) -> float:
    """CPU milliseconds per counted vote: every part of the pipeline, or the load generator."""
    seconds = measured.locust_cpu if client else sum(measured.cpu.values())
    return 1000 * seconds / max(1, measured.outcome.log.count)


def _verdict(outcome: ReplayOutcome) -> str:
    return "exact" if outcome.verdict.ok else "NOT EXACT: " + "; ".join(outcome.verdict.problems)


def _cpu_table(runs: dict[str, Measured]) -> str:
    parts = [*next(iter(runs.values())).cpu, "locust"]
    rows = [
        "CPU milliseconds per counted vote (user + system, every process of the part); "
        "its inverse is the votes/s one core of that part sustains.",
        "",
        "| part | " + " | ".join(runs) + " |",
        "| --- |" + " ---: |" * len(runs),
    ]
    for part in parts:
        cells = []
        for measured in runs.values():
            seconds = measured.locust_cpu if part == "locust" else measured.cpu.get(part, 0.0)
            votes = max(1, measured.outcome.log.count)
            per_vote = 1000 * seconds / votes
            per_core = votes / seconds if seconds else 0.0
            cells.append(f"{per_vote:.3f} ms ({per_core:,.0f}/s a core)" if seconds else "-")
        rows.append(f"| {part} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _profile(bench: Bench, part: str, sizes: Sizes) -> str:
    """Replay a saturation run again while py-spy samples ``part``; the hottest functions."""
    pid = bench.sessions.get(part)
    if pid is None:
        return f"{part} was not started by `certamen up` here: no pid to profile."
    found: list[str] = []
    sampler = threading.Thread(
        target=lambda: (time.sleep(2.0), found.append(benchkit.profile(pid, sizes.profile_s))),
        daemon=True,
    )
    sampler.start()
    bench.replay("profile", sizes.saturation_votes // 2, users=4, batch=100)
    sampler.join(timeout=sizes.profile_s + 60)
    return (found or ["the profile did not finish"])[0]


if __name__ == "__main__":
    raise SystemExit(main())

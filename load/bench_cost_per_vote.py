"""Cost per vote: the whole pipeline's CPU per counted vote, one vote per call, by part.

Locust (32 users, one vote per call) -> producer-grpc or producer-wasm -> Kafka ->
source -> consumer -> Redis + MongoDB, all on this machine, replayed and judged exactly
with ``bench_end_to_end.py``'s ``Bench``. These are the route-by-route end-to-end
figures: each route's counted votes/s and call latency are reported here too. Each
route is run ``--runs`` times, the routes alternating, so that both see the same
machine; each part's CPU seconds (every process of its session, read from /proc) over
the run, divided by the votes counted, give its milliseconds per vote. The figures are
the medians, with the range of the runs beside them; the goal is the whole pipeline
without the load generator (issue 13): at most 0.5 ms a vote on each route.

Nothing is measured until the broker has warmed up: a freshly started broker cost 0.57
ms a vote 25 s after its start and 0.10 five minutes later (load/results/cost-per-vote.md,
2026-12-06 morning), so both routes are replayed, unmeasured, round after round until the
broker's CPU per vote of a round is within ``SETTLED`` of the round before (at most
``WARM_UP_ROUNDS``); the rounds are printed. A run's CPU covers the replay and the wait
until the last vote is counted, so each part's idle CPU in that time (Kafka's own
housekeeping, the source's empty fetches) is in its share; the idle CPU of each part is
measured first and shown beside it.

The same code has cost twice as much at one hour as at another on this machine (a VM),
so the machine's own speed is taken before and after the runs (``machine_reference.py``:
a wake-up round trip between two processes and a piece of pure Python, none of our
code) and reported beside the figures: compare two runs only where those agree. Each
route's cost is also given in those round trips (its milliseconds a vote over the mean
of the two wake-up readings), a figure that moves far less from hour to hour than the
milliseconds do (load/results/cost-per-vote.md, "The cost in the machine's own units").

    python load/bench_cost_per_vote.py --json OUT [--quick] [--runs N] [--votes N]
        [--markdown FILE]
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import benchkit
import machine_reference
from bench_end_to_end import PARTS, PIPELINE, Bench, Measured
from rich.console import Console

from certamen.operations.stack import runner
from certamen.settings import load

GOAL_MS = 0.5
# The fastest wake-up reading seen, the hour the HTTP route first met the goal (2026-12-06
# evening); the goal in the machine reference's round trips at that reading.
FASTEST_WAKEUP_US = 29.5
GOAL_WAKEUPS = round(GOAL_MS * 1000 / FASTEST_WAKEUP_US, 1)
USERS = 32
IDLE_S = 10.0
WARM_UP_VOTES = 4_000  # a route and a round, before anything is measured (quick: a tenth)
WARM_UP_ROUNDS = 12
SETTLED = 0.15  # the broker's CPU per vote changed by less than this from one round to the next
ROUTES = {"grpc": "gRPC Cast", "wasm": "HTTP POST /votes"}
LOAD_GENERATOR = "locust"


@dataclass(frozen=True)
class Run:
    """One route run: CPU milliseconds per counted vote of each part, and the rate."""

    per_vote_ms: dict[str, float]
    locust_ms: float
    votes: int
    rate: float
    call_p50_ms: float
    call_p99_ms: float
    exact: bool
    switches_per_vote: dict[str, float] = field(default_factory=dict)

    @property
    def pipeline_ms(self) -> float:
        """Every part of the pipeline, the load generator excluded."""
        return sum(self.per_vote_ms.values())

    @property
    def pipeline_switches(self) -> float:
        return sum(self.switches_per_vote.values())


def main() -> int:
    parser = benchkit.bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=0, help="runs of each route (3; quick 1)")
    parser.add_argument("--votes", type=int, default=0, help="votes a run (8,000; quick 600)")
    parser.add_argument("--markdown", help="also write the results as markdown here")
    args = parser.parse_args()
    runs_each = args.runs or (1 if args.quick else 3)
    votes = args.votes or (600 if args.quick else 8_000)
    settings = load()
    out = Console()
    runner.start(settings, list(PARTS), out)
    bench = Bench(settings, out)
    if args.quick:
        warm_up(bench, out, WARM_UP_VOTES // 10, rounds=1)
    else:
        warm_up(bench, out, WARM_UP_VOTES, rounds=WARM_UP_ROUNDS)
    load_before = os.getloadavg()
    reference_before = machine_reference.measure()
    idle = idle_ms_per_s(bench)
    runs: dict[str, list[Run]] = {route: [] for route in ROUTES}
    for _ in range(runs_each):
        for route in ROUTES:
            runs[route].append(run_figures(replay_route(bench, route, "cost", votes)))
    load_after = os.getloadavg()
    reference_after = machine_reference.measure()
    command = benchkit.command_line("load/bench_cost_per_vote.py", parser, args)
    wakeup_ms = (reference_before.wakeup_us + reference_after.wakeup_us) / 2 / 1000
    figures = []
    for route, label in ROUTES.items():
        pipeline = [r.pipeline_ms for r in runs[route]]
        median = round(statistics.median(pipeline), 3)
        rate = statistics.median(r.rate for r in runs[route])
        p50 = statistics.median(r.call_p50_ms for r in runs[route])
        p99 = statistics.median(r.call_p99_ms for r in runs[route])
        figures += [
            benchkit.figure(
                f"cost_per_vote.{route}_ms", f"{label}: CPU per counted vote, whole pipeline "
                "without the load generator", median, "ms", goal=f"<= {GOAL_MS}",
                met=median <= GOAL_MS, command=command, note=_spread(pipeline, runs_each),
            ),
            benchkit.figure(
                f"cost_per_vote.{route}_wakeups", f"{label}: the same in wake-up round trips "
                f"of the machine reference ({median} ms over {wakeup_ms * 1000:.1f} µs; the "
                f"goal at the fastest reading seen, {FASTEST_WAKEUP_US} µs, is {GOAL_WAKEUPS})",
                round(median / wakeup_ms, 1), "round trips", command=command,
            ),
            benchkit.figure(
                f"cost_per_vote.{route}_switches", f"{label}: context switches per counted "
                "vote, whole pipeline without the load generator (the table below, by part)",
                round(statistics.median(r.pipeline_switches for r in runs[route]), 1),
                "switches", command=command,
            ),
            benchkit.figure(
                f"cost_per_vote.{route}_votes_per_s", f"{label}: counted votes/s, {USERS} "
                "Locust users, one vote per call", round(rate, 1), "votes/s", command=command,
            ),
            benchkit.figure(
                f"cost_per_vote.{route}_call_p99_ms", f"{label}: call latency p99 (p50 "
                f"{p50:.0f} ms) under full load, {USERS} users", round(p99, 1), "ms",
                command=command,
            ),
        ]  # fmt: skip
    inexact = sum(not r.exact for route in runs.values() for r in route)
    figures.append(
        benchkit.figure(
            "cost_per_vote.inexact_runs",
            "runs with a vote lost or counted twice",
            inexact,
            "runs",
            goal="= 0",
            met=inexact == 0,
            command=command,
        )
    )
    figures += [
        benchkit.figure(
            "cost_per_vote.reference_wakeup_us", "machine reference: CPU per wake-up round "
            f"trip, before the runs (after: {reference_after.wakeup_us:.1f})",
            round(reference_before.wakeup_us, 1), "µs", command=command,
        ),
        benchkit.figure(
            "cost_per_vote.reference_python_us", "machine reference: CPU per pure Python "
            f"round, before the runs (after: {reference_after.python_us:.2f})",
            round(reference_before.python_us, 2), "µs", command=command,
        ),
    ]  # fmt: skip
    notes = [
        f"{runs_each} runs of each route, {votes:,} votes a run, the routes alternating; "
        "medians, the range of the runs in brackets",
        f"load average (1, 5, 15 min) {_load(load_before)} before, {_load(load_after)} after: "
        "CPU per vote is what to compare on a shared machine, not rates",
        "machine reference (load/machine_reference.py): a paced wake-up round trip between "
        "two processes over loopback TCP and a json round of a vote-sized dict, none of our "
        "code: compare two runs' costs only where these agree (load/results/cost-per-vote.md)",
        "what was changed to get here, and the approaches tried: load/results/cost-per-vote.md",
    ]
    sections = {
        "CPU per counted vote, by part": by_part_table(runs, idle),
        "Context switches per counted vote, by part": switches_table(runs),
    }
    title = "Cost per vote: the whole pipeline, one vote per call"
    benchkit.publish(args, title, figures, notes, sections)
    return 0


def replay_route(bench: Bench, route: str, label: str, votes: int) -> Measured:
    return bench.replay(
        f"{route}-{label}",
        votes,
        users=USERS,
        grpc_weight=int(route == "grpc"),
        wasm_weight=int(route == "wasm"),
    )


def warm_up(bench: Bench, out: Console, votes: int, *, rounds: int) -> None:
    """Replay both routes, unmeasured, until the broker's CPU per vote settles."""
    previous = None
    for round_ in range(1, rounds + 1):
        runs = [run_figures(replay_route(bench, route, "warm-up", votes)) for route in ROUTES]
        broker = [run.per_vote_ms.get("kafka", 0.0) for run in runs]
        cost = statistics.mean(broker)
        out.print(f"warm-up round {round_}: the broker {cost:.3f} ms a vote")
        if previous is not None and abs(cost - previous) <= SETTLED * previous:
            return
        previous = cost
    out.print(f"warm-up: the broker had not settled after {rounds} rounds; measuring anyway")


def run_figures(measured: Measured) -> Run:
    votes = max(1, measured.outcome.log.count)
    calls = [r for r in measured.outcome.routes if r.name != "Aggregated"]
    return Run(
        per_vote_ms={part: 1000 * s / votes for part, s in measured.cpu.items()},
        locust_ms=1000 * measured.locust_cpu / votes,
        votes=measured.outcome.log.count,
        rate=measured.outcome.log.rate,
        call_p50_ms=max((r.p50_ms for r in calls), default=0.0),
        call_p99_ms=max((r.p99_ms for r in calls), default=0.0),
        exact=measured.outcome.verdict.ok,
        switches_per_vote={part: n / votes for part, n in measured.switches.items()},
    )


def idle_ms_per_s(bench: Bench) -> dict[str, float]:
    """Each part's CPU milliseconds per second with no votes coming (after a quiet spell)."""
    time.sleep(2.0)
    before = benchkit.cpu_seconds(bench.sessions)
    time.sleep(IDLE_S)
    after = benchkit.cpu_seconds(bench.sessions)
    return {part: 1000 * (after[part] - before.get(part, 0.0)) / IDLE_S for part in after}


def by_part_table(runs: dict[str, list[Run]], idle: dict[str, float]) -> str:
    """The table by part, a column for each route of ``runs`` (all of ``ROUTES`` or some)."""
    routes = [route for route in ROUTES if route in runs]
    parts, pipeline = _by_part(runs, routes, lambda run: run.per_vote_ms, digits=3)
    header = " | ".join(ROUTES[route] for route in routes)
    rows = [
        "CPU milliseconds per counted vote (user + system, every process of the part), "
        "median of the runs (range); idle: the part's CPU with no votes coming.",
        "",
        f"| part | {header} | idle, ms CPU a second |",
        "| --- |" + " ---: |" * (len(routes) + 1),
    ]
    for part, cells in parts:
        rows.append(f"| {part} | {' | '.join(cells)} | {idle.get(part, 0.0):.1f} |")
    rows.append(f"| **pipeline without the load generator** | {' | '.join(pipeline)} | |")
    generator = [_cell([r.locust_ms for r in runs[route]]) for route in routes]
    rows.append(f"| {LOAD_GENERATOR} (load generator, not counted) | {' | '.join(generator)} | |")
    rates = [f"{statistics.median(r.rate for r in runs[route]):,.0f}" for route in routes]
    rows.append(f"| counted votes/s | {' | '.join(rates)} | |")
    return "\n".join(rows)


def switches_table(runs: dict[str, list[Run]]) -> str:
    """Context switches a counted vote by part, a column for each route of ``runs``."""
    routes = [route for route in ROUTES if route in runs]
    parts, pipeline = _by_part(runs, routes, lambda run: run.switches_per_vote, digits=2)
    rows = [
        "Context switches per counted vote (voluntary and not, every thread of the part), "
        "median of the runs (range): on this kind of virtual machine the switches, not the "
        "work between them, are most of a vote's CPU.",
        "",
        f"| part | {' | '.join(ROUTES[route] for route in routes)} |",
        "| --- |" + " ---: |" * len(routes),
    ]
    for part, cells in parts:
        rows.append(f"| {part} | {' | '.join(cells)} |")
    rows.append(f"| **pipeline without the load generator** | {' | '.join(pipeline)} |")
    return "\n".join(rows)


def _by_part(
    runs: dict[str, list[Run]],
    routes: list[str],
    per_vote: Callable[[Run], dict[str, float]],
    *,
    digits: int,
) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """One figure a vote (``per_vote`` of a run, by part) as table cells: each measured
    part's, in pipeline order, a median (range) for each route; then the whole pipeline's."""
    measured = {part for route in routes for run in runs[route] for part in per_vote(run)}
    parts = [
        (
            part,
            [_cell([per_vote(r).get(part, 0.0) for r in runs[route]], digits) for route in routes],
        )
        for part in PIPELINE
        if part in measured
    ]
    pipeline = [_cell([sum(per_vote(r).values()) for r in runs[route]], digits) for route in routes]
    return parts, pipeline


def _cell(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    middle, low, high = statistics.median(values), min(values), max(values)
    return f"{middle:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def _spread(values: list[float], runs: int) -> str:
    if runs == 1:
        return "one run"
    return f"median of {runs} runs, range {min(values):.3f}-{max(values):.3f}"


def _load(average: tuple[float, float, float]) -> str:
    return ", ".join(f"{value:.1f}" for value in average)


if __name__ == "__main__":
    raise SystemExit(main())

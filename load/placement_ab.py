"""The producers on CPUs of their own, or every part anywhere: the whole pipeline, side by side.

    python load/placement_ab.py [--ingress-cpus 1,0] [--rounds 2] [--runs 2] [--votes 8000]

Why: with ``CERTAMEN_INGRESS_CPUS`` (0, off, by default) ``certamen up`` starts the
producers on CPUs of their own and every other part on the rest. A
process's CPUs are set when it starts, so each variant restarts the stack (``certamen
down``, then ``certamen up`` with that value), warms the broker up as
``bench_cost_per_vote.py`` does, and replays ``--runs`` runs of each route; the variants
alternate round by round. Printed: the CPUs each part was given, each run's CPU
milliseconds per counted vote, and for each variant ``bench_cost_per_vote.py``'s table
by part (medians, range, idle CPU). Leaves the stack running as the last variant
started it: end with the value you use (the default, 0, last). Not run by ``certamen
bench``: it explains a choice, it is not one of the goals. Run it from the repository's
root, as the benchmarks are.
"""

from __future__ import annotations

import argparse
import os
import subprocess

from bench_cost_per_vote import (
    ROUTES,
    WARM_UP_ROUNDS,
    WARM_UP_VOTES,
    Run,
    by_part_table,
    idle_ms_per_s,
    replay_route,
    run_figures,
    warm_up,
)
from bench_end_to_end import Bench
from rich.console import Console

from certamen.settings import load

VARIABLE = "CERTAMEN_INGRESS_CPUS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingress-cpus", default="1,0", help="the values to compare, in order")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2, help="runs of each route a round")
    parser.add_argument("--votes", type=int, default=8_000, help="votes a run")
    args = parser.parse_args()
    out = Console()
    values = args.ingress_cpus.split(",")
    runs: dict[str, dict[str, list[Run]]] = {v: {route: [] for route in ROUTES} for v in values}
    idle: dict[str, dict[str, float]] = {}
    for round_ in range(1, args.rounds + 1):
        for value in values:
            bench = _restart(value, out)
            given = {p: sorted(os.sched_getaffinity(pid)) for p, pid in bench.sessions.items()}
            out.print(f"round {round_}, {VARIABLE}={value}: CPUs {given}")
            warm_up(bench, out, WARM_UP_VOTES, rounds=WARM_UP_ROUNDS)
            idle[value] = idle_ms_per_s(bench)
            for _ in range(args.runs):
                for route in ROUTES:
                    run = run_figures(replay_route(bench, route, "placement", args.votes))
                    runs[value][route].append(run)
                    out.print(f"  {route}: {_line(run)}")
    for value in values:
        out.print(f"\n{VARIABLE}={value} (idle: the last round's)\n")
        out.print(by_part_table(runs[value], idle[value]))
    return 0


def _restart(value: str, out: Console) -> Bench:
    """The stack started again with ``value``; the bench reads this process's settings."""
    os.environ[VARIABLE] = value
    subprocess.run(["certamen", "down"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["certamen", "up"], check=True, stdout=subprocess.DEVNULL)
    return Bench(load(), out)


def _line(run: Run) -> str:
    parts = ", ".join(f"{p} {ms:.3f}" for p, ms in sorted(run.per_vote_ms.items()))
    exact = "exact" if run.exact else "NOT EXACT"
    return f"pipeline {run.pipeline_ms:.3f} ms a vote, {run.rate:,.0f} votes/s, {exact}; {parts}"


if __name__ == "__main__":
    raise SystemExit(main())

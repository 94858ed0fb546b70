"""One setting or another, the whole pipeline side by side: restarted, warmed up, replayed.

    python load/setting_ab.py NAME=VALUE NAME=VALUE [...] [--restart PART,...]
        [--routes grpc,wasm] [--rounds 2] [--runs 2] [--votes 8000]

Each positional argument is a variant: one or more ``NAME=VALUE`` separated by spaces
(``NAME=`` sets the variable empty). Why: a setting that a process reads when it starts
(``CERTAMEN_INGRESS_CPUS``, ``GRPC_EXPERIMENTS``, ...) can only be compared by starting
the process again, and this machine's speed drifts within the hour, so the variants
alternate round by round. For each variant: ``certamen down`` of the ``--restart`` parts
(all of them by default), ``certamen up`` with the variant's variables, a warm-up as
``bench_cost_per_vote.py`` does, then ``--runs`` runs of each route. Printed: the CPUs each
part was given, each run's CPU milliseconds and context switches per counted vote, and for
each variant ``bench_cost_per_vote.py``'s two tables by part (CPU: medians, range, idle
CPU; context switches). Leaves the stack running as the last variant started it: end
with the value you use. Not run by ``certamen bench``: it explains a choice, it is not
one of the goals. Run it from the repository's root, as the benchmarks are. Examples
(load/results/cost-per-vote.md):

    python load/setting_ab.py CERTAMEN_INGRESS_CPUS=1 CERTAMEN_INGRESS_CPUS=0
    python load/setting_ab.py CERTAMEN_SCHED_POLICY=normal CERTAMEN_SCHED_POLICY=batch
    python load/setting_ab.py GRPC_EXPERIMENTS= GRPC_EXPERIMENTS=-event_engine_listener \\
        --restart producer-grpc --routes grpc --rounds 4
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
    switches_table,
    warm_up,
)
from bench_end_to_end import Bench
from benchkit import CERTAMEN
from rich.console import Console

from certamen.settings import load

Variant = dict[str, str]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", type=variant, help="NAME=VALUE [NAME=VALUE]")
    parser.add_argument("--restart", default="", help="parts to restart (default: all)")
    parser.add_argument("--routes", default=",".join(ROUTES), help="of: " + ", ".join(ROUTES))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2, help="runs of each route a round")
    parser.add_argument("--votes", type=int, default=8_000, help="votes a run")
    args = parser.parse_args()
    routes = args.routes.split(",")
    if unknown := set(routes) - set(ROUTES):
        parser.error(f"unknown route(s) {', '.join(sorted(unknown))}; routes: {', '.join(ROUTES)}")
    if len(args.variants) < 2:
        parser.error("give at least two variants to compare")
    restart = [part for part in args.restart.split(",") if part]
    out = Console()
    environment = dict(os.environ)
    names = [label(v) for v in args.variants]
    runs: dict[str, dict[str, list[Run]]] = {name: {r: [] for r in routes} for name in names}
    idle: dict[str, dict[str, float]] = {}
    for round_ in range(1, args.rounds + 1):
        for name, chosen in zip(names, args.variants, strict=True):
            bench = _restart({**environment, **chosen}, restart, out)
            given = {p: sorted(os.sched_getaffinity(pid)) for p, pid in bench.sessions.items()}
            out.print(f"round {round_}, {name}: CPUs {given}")
            warm_up(bench, out, WARM_UP_VOTES, rounds=WARM_UP_ROUNDS)
            idle[name] = idle_ms_per_s(bench)
            for _ in range(args.runs):
                for route in routes:
                    run = run_figures(replay_route(bench, route, "setting-ab", args.votes))
                    runs[name][route].append(run)
                    out.print(f"  {route}: {_line(run)}")
    for name in names:
        out.print(f"\n{name} (idle: the last round's)\n")
        out.print(by_part_table(runs[name], idle[name]))
        out.print()
        out.print(switches_table(runs[name]))
    return 0


def variant(text: str) -> Variant:
    """``NAME=VALUE [NAME=VALUE ...]`` as a mapping; a word without ``=`` is an error."""
    pairs = [word.partition("=") for word in text.split()]
    if not pairs or any(not name or not equals for name, equals, _ in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: a variant is NAME=VALUE [NAME=VALUE ...]")
    return {name: value for name, _, value in pairs}


def label(chosen: Variant) -> str:
    return " ".join(f"{name}={value}" for name, value in chosen.items())


def _restart(environment: dict[str, str], parts: list[str], out: Console) -> Bench:
    """The parts started again in ``environment`` (this process's, with the variant's
    variables and no other variant's); the bench reads the settings from it too."""
    os.environ.clear()
    os.environ.update(environment)
    subprocess.run([str(CERTAMEN), "down", *parts], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([str(CERTAMEN), "up"], check=True, stdout=subprocess.DEVNULL)
    return Bench(load(), out)


def _line(run: Run) -> str:
    parts = ", ".join(f"{p} {ms:.3f}" for p, ms in sorted(run.per_vote_ms.items()))
    exact = "exact" if run.exact else "NOT EXACT"
    return (
        f"pipeline {run.pipeline_ms:.3f} ms and {run.pipeline_switches:.1f} context switches "
        f"a vote, {run.rate:,.0f} votes/s, {exact}; {parts}"
    )


if __name__ == "__main__":
    raise SystemExit(main())

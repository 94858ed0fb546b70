"""The cost per vote round after round, beside the machine's speed at that moment.

    python load/cost_series.py --json OUT [--rounds 12] [--every 420] [--votes 8000]
        [--svg FILE]

Why: on this machine (a VM) a wake-up between two processes costs 29.5 µs of CPU at
one hour and 56 µs at another, and the pipeline's cost per vote follows it
(load/results/cost-per-vote.md, "The cost in the machine's own units"). One run of
``bench_cost_per_vote.py`` says what a route cost at one hour; whether a route meets the
goal of 0.5 ms a vote on this machine is a question about every hour. So this script
warms the stack up once, then every ``--every`` seconds, ``--rounds`` times, measures the
machine reference, one run of each route (as ``bench_cost_per_vote.py`` runs them), and
the reference again. Every round is kept, none chosen: the JSON (rewritten after each
round, so a series cut short keeps what it measured) and a picture (``--svg``), each
route's milliseconds a vote against the wake-up reference, the goal's line, and each
route's median cost in round trips drawn as a line through the origin. Not run by
``certamen bench``: it takes hours.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import benchkit
import machine_reference
from bench_cost_per_vote import (
    GOAL_MS,
    ROUTES,
    WARM_UP_ROUNDS,
    WARM_UP_VOTES,
    replay_route,
    run_figures,
    warm_up,
)
from bench_end_to_end import PARTS, Bench
from rich.console import Console

from certamen.operations.stack import runner
from certamen.settings import load

COLOURS = {"grpc": "#c0392b", "wasm": "#2471a3"}


@dataclass(frozen=True)
class Round:
    """One round: when, the machine's speed around it, each route's pipeline cost."""

    at: str
    wakeup_us: float  # the mean of the readings before and after the round
    python_us: float
    ms: dict[str, float]  # route -> CPU ms per counted vote, load generator excluded
    votes_per_s: dict[str, float]
    exact: bool

    def round_trips(self, route: str) -> float:
        return self.ms[route] * 1000 / self.wakeup_us


def main() -> int:
    parser = benchkit.bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--every", type=float, default=420.0, help="seconds from round to round")
    parser.add_argument("--votes", type=int, default=8_000, help="votes a run")
    parser.add_argument("--svg", help="also draw the rounds here")
    args = parser.parse_args()
    rounds_wanted = 2 if args.quick else args.rounds
    every = 0.0 if args.quick else args.every
    votes = 600 if args.quick else args.votes
    settings = load()
    out = Console()
    runner.start(settings, list(PARTS), out)
    bench = Bench(settings, out)
    warm_up(bench, out, WARM_UP_VOTES // 10 if args.quick else WARM_UP_VOTES,
            rounds=1 if args.quick else WARM_UP_ROUNDS)  # fmt: skip
    command = benchkit.command_line("load/cost_series.py", parser, args)
    rounds: list[Round] = []
    for number in range(1, rounds_wanted + 1):
        started = time.monotonic()
        rounds.append(measure_round(bench, votes))
        out.print(f"round {number}/{rounds_wanted}: {describe(rounds[-1])}")
        write(args, command, rounds)
        if number < rounds_wanted:
            time.sleep(max(0.0, every - (time.monotonic() - started)))
    return 0


def measure_round(bench: Bench, votes: int) -> Round:
    at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    before = machine_reference.measure()
    runs = {route: run_figures(replay_route(bench, route, "series", votes)) for route in ROUTES}
    after = machine_reference.measure()
    return Round(
        at=at,
        wakeup_us=round((before.wakeup_us + after.wakeup_us) / 2, 1),
        python_us=round((before.python_us + after.python_us) / 2, 2),
        ms={route: round(run.pipeline_ms, 3) for route, run in runs.items()},
        votes_per_s={route: round(run.rate, 1) for route, run in runs.items()},
        exact=all(run.exact for run in runs.values()),
    )


def describe(round_: Round) -> str:
    costs = ", ".join(f"{ROUTES[route]} {ms:.3f} ms" for route, ms in round_.ms.items())
    return f"{round_.at} UTC, wake-up {round_.wakeup_us} µs: {costs}" + (
        "" if round_.exact else ", NOT EXACT"
    )


def write(args: argparse.Namespace, command: str, rounds: list[Round]) -> None:
    figures = []
    for route, label in ROUTES.items():
        costs = [r.ms[route] for r in rounds]
        trips = median_round_trips(rounds, route)
        met = sum(cost <= GOAL_MS for cost in costs)
        figures += [
            benchkit.figure(
                f"cost_series.{route}_ms", f"{label}: CPU per counted vote, whole pipeline "
                f"without the load generator, over {len(rounds)} rounds",
                statistics.median(costs), "ms", command=command,
                note=benchkit.spread(costs, "ms"),
            ),
            benchkit.figure(
                f"cost_series.{route}_rounds_met", f"{label}: rounds at or under "
                f"{GOAL_MS} ms a vote", met, f"of {len(rounds)}", command=command,
            ),
            benchkit.figure(
                f"cost_series.{route}_round_trips", f"{label}: the same in wake-up round "
                "trips of the machine reference, median of the rounds", round(trips, 1),
                "round trips", command=command,
                note=benchkit.spread([r.round_trips(route) for r in rounds]),
            ),
            benchkit.figure(
                f"cost_series.{route}_meets_below_us", f"{label}: the wake-up reading at "
                f"or under which that median meets {GOAL_MS} ms ({GOAL_MS} ms over the "
                "round trips)", round(goal_reading_us(trips), 1), "µs", command=command,
            ),
        ]  # fmt: skip
    inexact = sum(not r.exact for r in rounds)
    figures.append(
        benchkit.figure(
            "cost_series.inexact_rounds", "rounds with a vote lost or counted twice", inexact,
            "rounds", goal="= 0", met=inexact == 0, command=command,
        )
    )  # fmt: skip
    wakeups = [r.wakeup_us for r in rounds]
    notes = [
        f"{len(rounds)} rounds, from {rounds[0].at} to {rounds[-1].at} UTC; the wake-up "
        f"reference read {benchkit.spread(wakeups, 'µs')}",
        "each round: the machine reference, one run of each route (load/"
        "bench_cost_per_vote.py's runs, 32 Locust users, one vote per call), the reference "
        "again; every round kept",
    ]
    sections = {"Every round": table(rounds)}
    benchkit.publish(args, "Cost per vote over the hours", figures, notes, sections)
    rounds_json = json.dumps([asdict(r) for r in rounds], indent=1)
    Path(args.json).with_suffix(".rounds.json").write_text(rounds_json + "\n")
    if args.svg:
        Path(args.svg).write_text(svg(rounds), encoding="utf-8")


def median_round_trips(rounds: list[Round], route: str) -> float:
    """A route's median cost over the rounds, in wake-up round trips (figures and picture)."""
    return statistics.median(r.round_trips(route) for r in rounds)


def goal_reading_us(round_trips: float) -> float:
    """The wake-up reading at or under which a cost of ``round_trips`` meets the goal."""
    return GOAL_MS * 1000 / round_trips


def table(rounds: list[Round]) -> str:
    header = " | ".join(f"{label}, ms a vote (round trips)" for label in ROUTES.values())
    rows = [
        f"| UTC | wake-up µs | {header} | exact |",
        "| --- | ---: |" + " ---: |" * len(ROUTES) + " --- |",
    ]
    for r in rounds:
        cells = " | ".join(f"{r.ms[route]:.3f} ({r.round_trips(route):.1f})" for route in ROUTES)
        rows.append(f"| {r.at} | {r.wakeup_us} | {cells} | {'yes' if r.exact else 'NO'} |")
    return "\n".join(rows)


def svg(rounds: list[Round]) -> str:
    """Each route's cost a vote against the wake-up reading, the goal, the median's line."""
    width, height, left, right, top, bottom = 760, 460, 70, 250, 40, 56
    x_low = 20.0
    x_high = max(60.0, 10 * ((max(r.wakeup_us for r in rounds) // 10) + 1))
    y_high = max(0.8, (max(max(r.ms.values()) for r in rounds) * 10 // 1 + 1) / 10)

    def x(us: float) -> float:
        return left + (us - x_low) / (x_high - x_low) * (width - left - right)

    def y(ms: float) -> float:
        return height - bottom - ms / y_high * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">CPU a counted vote against the machine\'s '
        f"speed: {len(rounds)} rounds, {rounds[0].at} to {rounds[-1].at[-5:]} UTC</text>",
    ]
    us = x_low
    while us <= x_high:
        parts.append(f'<line x1="{x(us):.1f}" y1="{top}" x2="{x(us):.1f}" '
                     f'y2="{height - bottom}" stroke="#ddd"/>')  # fmt: skip
        parts.append(f'<text x="{x(us):.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle">{us:.0f}</text>')  # fmt: skip
        us += 10
    ms = 0.0
    while ms <= y_high + 1e-9:
        parts.append(f'<line x1="{left}" y1="{y(ms):.1f}" x2="{width - right}" '
                     f'y2="{y(ms):.1f}" stroke="#ddd"/>')  # fmt: skip
        parts.append(f'<text x="{left - 8}" y="{y(ms) + 4:.1f}" text-anchor="end">{ms:.1f}</text>')
        ms += 0.1
    parts += [
        f'<text x="{(left + width - right) / 2}" y="{height - 14}" text-anchor="middle">'
        "machine reference: CPU µs per wake-up round trip (lower is a faster hour)</text>",
        f'<text transform="translate(18 {(top + height - bottom) / 2}) rotate(-90)" '
        'text-anchor="middle">ms of CPU per counted vote, whole pipeline</text>',
        f'<line x1="{left}" y1="{y(GOAL_MS):.1f}" x2="{width - right}" y2="{y(GOAL_MS):.1f}" '
        'stroke="black" stroke-dasharray="6 4"/>',
        f'<text x="{width - right + 8}" y="{y(GOAL_MS) + 4:.1f}">goal {GOAL_MS} ms</text>',
    ]
    for row, (route, label) in enumerate(ROUTES.items()):
        colour = COLOURS[route]
        trips = median_round_trips(rounds, route)
        end = min(x_high, y_high * 1000 / trips)  # the line leaves the plot at its top
        parts.append(
            f'<line x1="{x(x_low):.1f}" y1="{y(trips * x_low / 1000):.1f}" '
            f'x2="{x(end):.1f}" y2="{y(trips * end / 1000):.1f}" stroke="{colour}" '
            'stroke-width="1.5" opacity="0.6"/>'
        )
        for r in rounds:
            fill = colour if r.exact else "none"
            parts.append(f'<circle cx="{x(r.wakeup_us):.1f}" cy="{y(r.ms[route]):.1f}" r="4" '
                         f'fill="{fill}" stroke="{colour}"/>')  # fmt: skip
        label_y = top + 20 + 54 * row
        parts += [
            f'<circle cx="{width - right + 14}" cy="{label_y - 4}" r="4" fill="{colour}"/>',
            f'<text x="{width - right + 24}" y="{label_y}">{label}</text>',
            f'<text x="{width - right + 24}" y="{label_y + 16}">median {trips:.1f} round '
            "trips a vote:</text>",
            f'<text x="{width - right + 24}" y="{label_y + 32}">meets the goal at &#8804; '
            f"{goal_reading_us(trips):.1f} µs</text>",
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())

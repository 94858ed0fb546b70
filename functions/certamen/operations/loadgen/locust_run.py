"""Run the Locust users headless as a child process and read its report back.

Locust patches the process for gevent, so the demo and the benchmarks run it in a
child process (``python -m locust``) and follow it through the ledger files and
the reports it writes (CSV and HTML for people, JSON for the figures).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certamen.operations.loadgen.shape import BurstPlan

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
BURST_SHAPE = Path(__file__).with_name("burst.py")
STOP_TIMEOUT_S = 30  # a user stopped by the burst's drop finishes its vote (and retries)


@dataclass(frozen=True, slots=True)
class LocustPlan:
    """One headless Locust run of the Certamen users."""

    votes_file: Path
    run_id: str
    users: int
    wasm_url: str
    grpc_target: str
    ledger_dir: Path
    report_prefix: Path
    run_time_s: float
    grpc_weight: int = 1
    wasm_weight: int = 1
    mode: str = "replay"
    grpc_batch: int = 1
    processes: int = 1
    spawn_rate: float | None = None
    user_rate: float = 0.0  # calls per second per user; 0: as fast as possible
    burst: BurstPlan | None = None  # sent as bursts (load/burst.py's shape), users at peak

    def command(self) -> list[str]:
        """The ``python -m locust`` command line."""
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE) if self.burst is None else f"{LOCUSTFILE},{BURST_SHAPE}",
            "--headless",
            "--only-summary",
            "--exit-code-on-error",
            "0",
            "-u",
            str(self.users),
            "-r",
            str(self.spawn_rate or self.users),
            "-t",
            f"{max(1, round(self.run_time_s))}s",
            "--host",
            self.wasm_url,
            "--grpc-target",
            self.grpc_target,
            "--grpc-weight",
            str(self.grpc_weight),
            "--wasm-weight",
            str(self.wasm_weight),
            "--grpc-batch",
            str(self.grpc_batch),
            "--user-rate",
            str(self.user_rate),
            "--votes-file",
            str(self.votes_file),
            "--mode",
            self.mode,
            "--run-id",
            self.run_id,
            "--ledger-dir",
            str(self.ledger_dir),
            "--csv",
            str(self.report_prefix),
            "--html",
            f"{self.report_prefix}.html",
            "--json-file",
            str(self.report_prefix),  # Locust adds ".json"
        ]
        if self.processes > 1:
            command += ["--processes", str(self.processes)]
        if self.burst is not None:
            burst = self.burst
            command += [
                *("--burst-idle", str(burst.idle_s), "--burst-ramp", str(burst.ramp_s)),
                *("--burst-peak", str(burst.peak_users), "--burst-hold", str(burst.hold_s)),
                *("--burst-gap", str(burst.gap_s), "--burst-count", str(burst.bursts)),
                *("--burst-last-hold", str(burst.last_hold_s or burst.hold_s)),
                *("--stop-timeout", str(STOP_TIMEOUT_S)),
            ]
        return command

    def start(self, log_path: Path) -> subprocess.Popen[bytes]:
        """Start Locust with its output going to ``log_path``."""
        self.report_prefix.parent.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            return subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )


@dataclass(frozen=True, slots=True)
class RouteStats:
    """Locust's figures for one request name (``grpc Cast``, ``wasm /votes``, ``Aggregated``)."""

    name: str
    requests: int
    failures: int
    p50_ms: float
    p99_ms: float
    rps: float


def read_route_stats(report_prefix: Path) -> list[RouteStats]:
    """Each request name's figures, then their aggregate; empty when Locust wrote none.

    They come from ``<prefix>.json``, written at Locust's shutdown.
    The JSON, unlike the CSV (written on a timer), holds every request of the run.
    Percentiles come from Locust's response-time histogram (ms, rounded as Locust does).
    """
    path = Path(f"{report_prefix}.json")
    if not path.exists():
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))
    routes = [_route(entry["name"], [entry]) for entry in entries]
    if len(routes) > 1:
        routes.append(_route("Aggregated", entries))
    return routes


def _route(name: str, entries: list[dict[str, Any]]) -> RouteStats:
    histogram: Counter[float] = Counter()
    for entry in entries:
        histogram.update({float(ms): n for ms, n in entry["response_times"].items()})
    requests = sum(int(e["num_requests"]) for e in entries)
    started = min((float(e["start_time"]) for e in entries), default=0.0)
    ended = max((float(e["last_request_timestamp"] or 0) for e in entries), default=0.0)
    return RouteStats(
        name=name,
        requests=requests,
        failures=sum(int(e["num_failures"]) for e in entries),
        p50_ms=_quantile(histogram, 0.5),
        p99_ms=_quantile(histogram, 0.99),
        rps=requests / (ended - started) if ended > started else 0.0,
    )


def _quantile(histogram: Counter[float], quantile: float) -> float:
    total = sum(histogram.values())
    if not total:
        return 0.0
    rank = max(1, math.ceil(quantile * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)

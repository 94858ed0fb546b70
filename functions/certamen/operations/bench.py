"""``certamen bench``: run every benchmark script under ``load/`` and write ``load/RESULTS.md``.

The convention every ``load/bench_<name>.py`` follows (so this runner needs to know
nothing about what a script measures):

* invoked as ``python load/bench_<name>.py --json OUT [--quick]`` from the repository
  root, with the environment of ``certamen`` (the stack's settings); Kafka, Redis and
  MongoDB are up (``certamen bench`` starts them), anything else the script starts
  or reuses itself;
* writes to OUT a JSON object::

      {"title": "...",                       # one line: what was measured
       "figures": [{"key": "<name>.<figure>", "name": "...", "value": 1234.5,
                    "unit": "votes/s", "goal": ">= 2000", "met": true,
                    "command": "...", "note": "..."}],   # goal/met/command/note optional
       "notes": ["..."],                     # optional: conditions, caveats
       "sections": {"Profile": "markdown"}}  # optional: longer text (a profile, a table)

* exits 0 when it measured (a missed goal is a figure, not a failure), non-zero
  when it could not; ``--quick`` makes a short smoke run of the same code.

Ratios between scripts (gRPC vs HTTP) are computed here from the figures' keys,
so both sides always come from the same run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console

from certamen.operations.stack import runner
from certamen.operations.stack.console import make_console
from certamen.operations.stack.parts import SERVERS
from certamen.settings import Settings

LOAD_DIR = Path("load")
# Producers first (they need only Kafka), the whole pipeline next, any other script by
# name, and the chaos run (which kills and restarts every part) last of all.
ORDER = ("producer_wasm", "producer_grpc", "consumer", "audit", "end_to_end", "cost_per_vote")
LAST = "chaos"
TIMEOUT_S = 45 * 60
QUICK_TIMEOUT_S = 10 * 60
# (label, numerator key, denominator key): each a ratio of two figures of this run.
# The routes are compared by CPU per vote, never by the producer benchmarks' rates: those
# drive gRPC with Python clients and HTTP with wrk, load generators of different weights
# on the same cores (docs/grpc-vs-wasm.md). A rate ratio only within one generator.
RATIOS = (
    ("gRPC Cast / HTTP POST, producer server CPU per vote (producer benchmarks)",
     "producer_grpc.server_cpu_us_per_vote", "producer_wasm.server_cpu_us_per_vote"),
    ("gRPC CastBatch / gRPC Cast, votes/s (the same Python clients)",
     "producer_grpc.batch_votes_per_s", "producer_grpc.votes_per_s"),
    ("end to end, gRPC Cast / HTTP POST, pipeline CPU per vote without the load generator",
     "cost_per_vote.grpc_ms", "cost_per_vote.wasm_ms"),
)  # fmt: skip
PACKAGES = (
    "grpcio",
    "confluent-kafka",
    "kafka-python",
    "redis",
    "pymongo",
    "wasmtime",
    "locust",
    "functions-framework",
    "uvicorn",
)


@dataclass(slots=True)
class ScriptResult:
    """One script's run: its command, how long it took, its figures or why it failed."""

    name: str
    command: str
    seconds: float
    code: int
    data: dict[str, Any] = field(default_factory=dict)
    log: Path | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """The script measured and wrote its figures."""
        return self.code == 0 and bool(self.data.get("figures"))


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the scripts one after the other, write the results, exit 1 if one failed."""
    out = make_console()
    scripts = discover(LOAD_DIR, only=args.only)
    if not scripts:
        out.print(f"certamen bench: no load/bench_*.py matches {args.only or 'anything'}")
        return 2
    runner.start(settings, SERVERS, out)  # a script starts Certamen's own processes
    work = settings.state_dir.resolve() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    results = [_run_script(script, work, args.quick, out) for script in scripts]
    text = results_markdown(results, machine(settings), started=started, quick=args.quick)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    out.print(f"wrote {output}")
    return 0 if all(r.ok for r in results) else 1


def discover(folder: Path, *, only: list[str] | None = None) -> list[Path]:
    """``bench_*.py`` in ``folder``: the known ones in ORDER, any others by name, LAST last."""
    scripts = sorted(folder.glob("bench_*.py"))
    if only:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in only}
        scripts = [s for s in scripts if _name(s) in wanted]
    rank = {name: i for i, name in enumerate(ORDER)} | {LAST: len(ORDER) + 1}
    return sorted(scripts, key=lambda s: (rank.get(_name(s), len(ORDER)), s.name))


def _name(script: Path) -> str:
    return script.stem.removeprefix("bench_")


def _run_script(script: Path, work: Path, quick: bool, out: Console) -> ScriptResult:
    name = _name(script)
    output = work / f"{name}.json"
    log = work / f"{name}.log"
    output.unlink(missing_ok=True)
    command = [sys.executable, str(script), "--json", str(output), *(["--quick"] if quick else [])]
    shown = shlex.join(["python", str(script), *(["--quick"] if quick else [])])
    out.print(f"[bold]{name}[/]: {shown}  (log {log})")
    began = time.monotonic()
    try:
        with log.open("wb") as sink:
            code = subprocess.run(
                command,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=QUICK_TIMEOUT_S if quick else TIMEOUT_S,
                check=False,
            ).returncode
    except subprocess.TimeoutExpired:
        code = -1
    result = ScriptResult(name, shown, time.monotonic() - began, code, log=log)
    try:
        result.data = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        result.error = f"no JSON figures ({e.__class__.__name__})"
    if code == -1:
        result.error = f"timed out after {QUICK_TIMEOUT_S if quick else TIMEOUT_S} s"
    elif code != 0:
        result.error = f"exit code {code}: " + _tail(log)
    status = "[green]ok[/]" if result.ok else f"[red]failed[/] {result.error[:200]}"
    out.print(f"  {status} in {result.seconds:.0f} s")
    return result


def machine(settings: Settings) -> dict[str, str]:
    """Cores, memory, CPU model, OS and the versions that shape the figures."""
    info = {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": _memory(),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "load average at the start (1, 5, 15 min)": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
        "certamen": _version("certamen"),
    }
    info.update({package: _version(package) for package in PACKAGES})
    info.update(_server_versions(settings))
    return info


def results_markdown(
    results: list[ScriptResult], info: dict[str, str], *, started: datetime, quick: bool
) -> str:
    """The RESULTS.md text: machine, figures with their commands, ratios, notes, failures."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `certamen bench{' --quick' if quick else ''}` on "
        f"{started:%Y-%m-%d %H:%M} UTC. Every figure below comes from this one run on "
        "this one machine, everything local (load generator included).",
        "",
    ]
    if quick:
        lines += ["**Quick run (`--quick`): smoke figures, not the committed measurements.**", ""]
    lines += ["## Machine and versions", "", "| | |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in info.items()]
    figures = {f["key"]: f for r in results for f in r.data.get("figures", []) if "key" in f}
    for result in results:
        lines += ["", f"## {result.data.get('title') or result.name}", ""]
        lines += [f"Command: `{result.command}` ({result.seconds:.0f} s)", ""]
        if result.error:
            lines += [f"**Failed**: {result.error}", ""]
        if result.data.get("figures"):
            lines += ["| figure | value | goal | command |", "| --- | ---: | --- | --- |"]
            lines += [_figure_row(f) for f in result.data["figures"]]
            lines.append("")
        lines += [f"- {note}" for note in result.data.get("notes", [])]
        for title, text in result.data.get("sections", {}).items():
            lines += ["", f"### {title}", "", text.rstrip()]
    ratios = [
        (label, figures[a], figures[b])
        for label, a, b in RATIOS
        if a in figures and b in figures and figures[b]["value"]
    ]
    if ratios:
        lines += ["", "## Ratios (same run, side by side)", "", "| ratio | value | from |"]
        lines += ["| --- | ---: | --- |"]
        lines += [
            f"| {label} | {a['value'] / b['value']:.2f} | {_value(a)} / {_value(b)} |"
            for label, a, b in ratios
        ]
    return "\n".join(lines).rstrip() + "\n"


def _value(figure: dict[str, Any]) -> str:
    return f"{_number(figure['value'])} {figure.get('unit', '')}".strip()


def _figure_row(figure: dict[str, Any]) -> str:
    value = _value(figure)
    goal = figure.get("goal", "")
    if goal and "met" in figure:
        goal += " ✅" if figure["met"] else " ❌ missed"
    note = f" ({figure['note']})" if figure.get("note") else ""
    command = f"`{figure['command']}`" if figure.get("command") else ""
    return f"| {figure['name']}{note} | {value} | {goal} | {command} |"


def _number(value: float | int) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.3g}"


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _server_versions(settings: Settings) -> dict[str, str]:
    """Kafka (pinned by the stack), Redis and the MongoDB-protocol server, as they answer."""
    found: dict[str, str] = {}
    try:
        from certamen.operations.stack.builds import kafka_version

        found["Kafka"] = kafka_version()
    except (ImportError, OSError, AssertionError):
        found["Kafka"] = "unknown"
    try:
        import redis

        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
        found["Redis"] = str(client.info("server").get("redis_version", "unknown"))
        client.close()
    except redis.RedisError:
        found["Redis"] = "not reachable"
    try:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        mongo: MongoClient[dict[str, Any]] = MongoClient(
            settings.mongodb_uri, serverSelectionTimeoutMS=2000
        )
        build = mongo.admin.command("buildInfo")
        ferret = build.get("ferretdb", {}).get("version") if isinstance(build, dict) else None
        found["MongoDB protocol"] = f"FerretDB {ferret}" if ferret else str(build.get("version"))
        mongo.close()
    except PyMongoError:
        found["MongoDB protocol"] = "not reachable"
    return found

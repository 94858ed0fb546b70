"""Small helpers for the ``load/bench_*.py`` scripts: the common command line, the JSON
they write for ``certamen bench``, CPU accounting of the stack's processes and a
py-spy profile of the hottest one.

The JSON convention is documented in ``functions/certamen/operations/bench.py``; a script
calls :func:`bench_args`, measures, and ends with :func:`publish`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from kafka import KafkaProducer

from certamen.adapters.kafka import (
    contest_topics,
    ensure_topics,
    make_admin,
    send_message,
)
from certamen.contract import Vote, vote_to_kafka
from certamen.operations.stack.parts import cpu_split, pid_path
from certamen.operations.stack.procs import read_pid_file
from certamen.settings import Settings

Figure = dict[str, Any]
CERTAMEN = Path(sys.executable).with_name("certamen")  # the command, from this environment
_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")


def bench_parser(description: str) -> argparse.ArgumentParser:
    """The common command line (``--json OUT``, ``--quick``), for a script to add its
    own tuning flags to before parsing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", required=True, help="write the figures here")
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke check")
    return parser


def bench_args(description: str) -> argparse.Namespace:
    """``--json OUT`` (where the figures go) and ``--quick`` (a short smoke run)."""
    return bench_parser(description).parse_args()


def command_line(script: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The command that reproduces this run: ``python <script>`` with ``--quick`` and every
    tuning flag that differs from its default (not where the output goes)."""
    words = ["python", script]
    for action in parser._actions:
        if action.dest in ("help", "json", "markdown") or action.help == argparse.SUPPRESS:
            continue
        value = getattr(args, action.dest, None)
        if value == action.default or value is None:
            continue
        flag = max(action.option_strings, key=len)
        words += [flag] if action.nargs == 0 else [flag, str(value)]
    return shlex.join(words)


def figure(key: str, name: str, value: float, unit: str, **extra: Any) -> Figure:
    """One figure: ``extra`` may hold goal, met, command, note."""
    return {"key": key, "name": name, "value": value, "unit": unit, **extra}


def spread(values: Iterable[float], unit: str = "") -> str:
    """Where several runs exist: their median and range, ``"median 12.3 of 3 (11.9-13.0) µs"``."""
    ordered = sorted(values)
    suffix = f" {unit}" if unit else ""
    if len(ordered) == 1:
        return f"one run: {_short(ordered[0])}{suffix}"
    middle = statistics.median(ordered)
    return (
        f"median {_short(middle)} of {len(ordered)} "
        f"({_short(ordered[0])}-{_short(ordered[-1])}){suffix}"
    )


def _short(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def write_results(
    path: str | Path,
    title: str,
    figures: list[Figure],
    notes: Iterable[str] = (),
    sections: dict[str, str] | None = None,
) -> None:
    """Write the script's JSON for ``certamen bench`` and echo it for the log."""
    document = {
        "title": title,
        "figures": figures,
        "notes": list(notes),
        "sections": sections or {},
    }
    text = json.dumps(document, indent=2, ensure_ascii=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
    print(text)


def write_markdown(
    path: str | Path,
    title: str,
    figures: list[Figure],
    notes: Iterable[str] = (),
    sections: dict[str, str] | None = None,
) -> None:
    """The same results as a markdown page of their own (``--markdown``)."""
    lines = [f"# {title}", "", "| figure | measured | goal | command |",
             "| --- | ---: | --- | --- |"]  # fmt: skip
    for f in figures:
        goal = f.get("goal", "")
        if goal and "met" in f:
            goal += " (met)" if f["met"] else " (**missed**)"
        note = f" ({f['note']})" if f.get("note") else ""
        command = f"`{f['command']}`" if f.get("command") else ""
        lines.append(f"| {f['name']}{note} | {f['value']} {f['unit']} | {goal} | {command} |")
    lines += ["", *[f"- {n}" for n in notes], ""]
    for heading, text in (sections or {}).items():
        lines += [f"## {heading}", "", text.rstrip(), ""]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines), encoding="utf-8")


def publish(
    args: argparse.Namespace,
    title: str,
    figures: list[Figure],
    notes: Iterable[str] = (),
    sections: dict[str, str] | None = None,
) -> None:
    """The end of a script: its JSON (``--json``) and, when asked, its markdown page
    (``--markdown``, an option a script may add to :func:`bench_parser`'s)."""
    notes = list(notes)
    write_results(args.json, title, figures, notes, sections)
    if getattr(args, "markdown", None):
        write_markdown(args.markdown, title, figures, notes, sections)


@contextlib.contextmanager
def off_the_ingress_cpus(settings: Settings) -> Iterator[None]:
    """Run what this thread starts inside (a load generator) off the CPUs `certamen up`
    keeps for the producers (``CERTAMEN_INGRESS_CPUS``; anywhere when it keeps none):
    a voter's device never takes a producer's CPU."""
    _, rest = cpu_split(settings)
    before = os.sched_getaffinity(0)
    if rest:
        os.sched_setaffinity(0, rest)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at this moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, process: subprocess.Popen[bytes], within_s: float = 60) -> None:
    """Until ``process`` listens on ``port`` of 127.0.0.1; a clear error if it exits first
    or does not within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"port {port}: the server exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} not open within {within_s} s")


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 right now (a readiness probe: any failure is a no)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stop_session(process: subprocess.Popen[bytes], grace_s: float = 30) -> None:
    """Stop a server started with ``start_new_session=True`` and every process of its
    session: SIGTERM, then SIGKILL if it is still there after ``grace_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def fill_topic(settings: Settings, producer: KafkaProducer, votes: Iterable[Vote]) -> None:
    """Create the run's topics and write ``votes`` to its votes topic (flushed): the
    backlog a drain starts from."""
    admin = make_admin(settings)
    try:
        ensure_topics(admin, contest_topics(settings))
    finally:
        admin.close()
    for vote in votes:
        send_message(producer, settings.votes_topic, vote_to_kafka(vote))
    producer.flush()


def drop_topics(settings: Settings) -> None:
    """Delete the run's votes and dead-letter topics (best effort: a leftover topic of a
    benchmark costs nothing)."""
    admin = make_admin(settings)
    with contextlib.suppress(Exception):
        admin.delete_topics([settings.votes_topic, settings.dlq_topic])
    admin.close()


def part_pids(settings: Settings, parts: Iterable[str]) -> dict[str, int]:
    """The session leader's pid of each running part that ``certamen up`` started."""
    found = {}
    for part in parts:
        record = read_pid_file(pid_path(settings, part))
        if record is not None and (_PROC / str(record.pid)).exists():
            found[part] = record.pid
    return found


def cpu_seconds(sessions: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by every process of each part's session.

    A process's finished children count too (``cutime``, ``cstime``): a child that ends
    between two readings (Redis's background save) moves its CPU into its parent's, so
    the difference of two readings keeps it instead of going negative.
    """
    used: collections.defaultdict[str, float] = collections.defaultdict(float)
    for part, _, cpu in _processes(sessions):
        used[part] += cpu
    return {part: used[part] for part in sessions}


def context_switches(sessions: dict[str, int]) -> dict[str, int]:
    """Context switches so far (voluntary and not) of every thread of each part's session.

    On this kind of virtual machine a switch, not the work between two, is the dear part
    of a vote's hand-offs between processes and threads (load/results/cost-per-vote.md,
    2026-12-07 night), so the count explains a part's CPU a vote. Threads that ended
    took their counts with them.
    """
    counted: collections.defaultdict[str, int] = collections.defaultdict(int)
    for part, folder, _ in _processes(sessions):
        try:
            counted[part] += sum(_switches(task) for task in (folder / "task").iterdir())
        except OSError:
            continue
    return {part: counted[part] for part in sessions}


def _processes(sessions: dict[str, int]) -> Iterator[tuple[str, Path, float]]:
    """Each process of each part's session: the part, its ``/proc`` folder, its CPU seconds."""
    by_session = {str(pid): part for part, pid in sessions.items()}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            session, cpu = _session_and_cpu(entry / "stat")
        except OSError:
            continue
        part = by_session.get(session)
        if part is not None:
            yield part, entry, cpu


def _switches(task: Path) -> int:
    """A thread's ``voluntary_ctxt_switches`` plus ``nonvoluntary_ctxt_switches``."""
    found = 0
    for line in (task / "status").read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition(":")
        if name.endswith("ctxt_switches"):
            found += int(value)
    return found


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by one process, its finished children too."""
    return _session_and_cpu(_PROC / str(pid) / "stat")[1]


def _session_and_cpu(stat: Path) -> tuple[str, float]:
    """A process's session id and CPU seconds from its ``/proc/<pid>/stat``."""
    text = stat.read_text(encoding="utf-8", errors="replace")
    fields = text[text.rfind(")") + 2 :].split()
    return fields[3], sum(int(f) for f in fields[11:15]) / _TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory of ``pid`` now and at its peak (``VmHWM``: since it started), in MB."""
    found: dict[str, float] = {}
    for line in (_PROC / str(pid) / "status").read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


class Sampler:
    """Calls :meth:`sample` every 0.1 s on a thread of its own while the block runs, and
    once more at its end."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.sample()

    def sample(self) -> None:
        raise NotImplementedError


class PeakMemory(Sampler):
    """The highest resident memory of ``pid`` while the block runs (0 for no process:
    ``None``, or one that is gone).

    ``VmHWM`` is the peak since the process started, so it cannot tell two phases of
    one run apart; this can.
    """

    def __init__(self, pid: int | None) -> None:
        super().__init__()
        self._pid = pid
        self.start_mb = self._resident_mb()
        self.peak_mb = self.start_mb

    def sample(self) -> None:
        self.peak_mb = max(self.peak_mb, self._resident_mb())

    def _resident_mb(self) -> float:
        if self._pid is None:
            return 0.0
        try:
            return memory_mb(self._pid)[0]
        except (OSError, KeyError):
            return 0.0


def children_cpu_seconds() -> float:
    """CPU seconds used by this process's finished children (Locust, once it exited)."""
    times = os.times()
    return times.children_user + times.children_system


def py_spy() -> str | None:
    """py-spy's path: on PATH, or beside this interpreter (``.venv/bin``, not activated)."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def profile(pid: int, seconds: float, *, top: int = 15) -> str:
    """The hottest functions of ``pid`` (and its children) by own time, as a markdown table.

    py-spy samples only the thread holding the GIL (``--gil``): Python's CPU time, not
    threads waiting on a socket. A sentence says why when there is no profile.
    """
    spy = py_spy()
    if spy is None:
        return "py-spy is not installed (`pip install py-spy`): no profile."
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "profile.txt"
        command = [
            spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
            "--rate", "100", "--format", "raw", "--output", str(output),
            "--subprocesses", "--nonblocking", "--gil",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not output.exists():
            return f"py-spy failed: {(result.stderr or result.stdout).strip()[-300:]}"
        own: collections.Counter[str] = collections.Counter()
        total = 0
        for line in output.read_text(encoding="utf-8", errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frame = stack.split(";")[-1]
            if frame.startswith("process "):  # a sample with no Python frame
                continue
            total += int(count)
            own[frame] += int(count)
    if not total:
        return "py-spy took no samples."
    rows = ["| share of GIL-holding samples | function (file:line) |", "| ---: | --- |"]
    rows += [f"| {100 * n / total:.1f} % | `{frame}` |" for frame, n in own.most_common(top)]
    return "\n".join(rows)

"""Processes started by ``certamen up``: pid files, liveness, start in the background, stop.

A pid file holds the pid and the process's start time (from ``/proc``), so a
pid reused by an unrelated program after a crash or reboot is never mistaken
for ours, and never signalled. A part is started through a double fork, so it is
not our child (it outlives ``certamen up`` and init reaps it), in its own session
(process group), which ``stop`` signals as a whole: SIGTERM, a grace period, SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class PidRecord:
    """A process we started: its pid (also its process group and session id) and start time."""

    pid: int
    started: str


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in a pid file, or None when there is none (or it is unreadable)."""
    try:
        pid_text, _, started = path.read_text(encoding="utf-8").strip().partition(" ")
        return PidRecord(int(pid_text), started)
    except (OSError, ValueError):
        return None


def is_alive(record: PidRecord) -> bool:
    """True while that very process runs (a zombie or a reused pid counts as gone)."""
    stat = _stat(record.pid)
    if stat is None:
        if _PROC.is_dir():
            return False
        try:  # no /proc (not Linux): the best we can do is ask the kernel
            os.kill(record.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state, started = stat[0], stat[19]
    return state not in ("Z", "X") and started == record.started


def start(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    pid_path: Path,
    nice: int = 0,
    cpus: frozenset[int] = frozenset(),
    batch: bool = False,
) -> PidRecord:
    """Start ``command`` detached, in its own session, appending its output to ``log_path``,
    ``nice`` steps below our own CPU priority, on ``cpus`` only (any CPU when empty), under
    Linux's ``SCHED_BATCH`` policy if ``batch`` (its threads inherit it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n=== certamen up {stamp}: {' '.join(command)}\n".encode())
    launcher = subprocess.run(
        [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(log_path),
            str(nice),
            _cpu_list(cpus),
            str(int(batch)),
            *command,
        ],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid = int(launcher.stdout.strip())
    stat = _stat(pid)
    record = PidRecord(pid, stat[19] if stat else "")
    pid_path.write_text(f"{record.pid} {record.started}\n", encoding="utf-8")
    return record


# Double fork: the part is not our child, so it outlives us without zombies or
# "still running" warnings, and init reaps it whenever it ends.
_LAUNCHER = """
import os, sys
log = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
pid = os.fork()
if pid:
    print(pid, flush=True)
    os._exit(0)
os.setsid()
os.nice(int(sys.argv[2]))
if sys.argv[3]:
    os.sched_setaffinity(0, {int(cpu) for cpu in sys.argv[3].split(",")})
if sys.argv[4] == "1":
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
os.dup2(log, 1)
os.dup2(log, 2)
try:
    os.execvp(sys.argv[5], sys.argv[5:])
except OSError as e:
    print(f"certamen: cannot start {sys.argv[5]}: {e}", file=sys.stderr, flush=True)
    os._exit(127)
"""


def _cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def stop(record: PidRecord, *, grace_s: float) -> bool:
    """Stop a process we started and its group; True if SIGKILL was needed."""
    if not is_alive(record) and not _members(record.pid):
        return False
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_alive(record) and not _members(record.pid):
            return False
        time.sleep(0.1)
    kill(record)
    return True


def kill(record: PidRecord) -> None:
    """SIGKILL a process we started and its whole group at once, as a crash would end it
    (no grace: the chaos run's way); returns when they are gone (at most 5 s)."""
    _signal_group(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and (is_alive(record) or _members(record.pid)):
        time.sleep(0.05)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _members(session: int) -> list[int]:
    """Live processes of a session we created (children left behind by a killed leader)."""
    if not _PROC.is_dir():
        return []
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None and stat[0] not in ("Z", "X") and stat[3] == str(session):
            found.append(int(entry.name))
    return found


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, session, ...]."""
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()

"""Start, stop and inspect the parts of the local stack; shared by ``certamen`` and the tests.

``start`` is idempotent: a part whose recorded process still runs is left alone
(and waited for), a stale pid file is replaced, an external server is only
checked. A file lock makes concurrent ``up`` runs take turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console

from certamen.operations.stack import procs
from certamen.operations.stack.errors import PartFailed, StackError
from certamen.operations.stack.parts import (
    Part,
    all_parts,
    cpus,
    is_external,
    log_path,
    named,
    pid_path,
    select,
    state_dir,
)
from certamen.operations.stack.probes import port_open
from certamen.operations.stack.topics import create_contest_topics
from certamen.settings import Settings

State = Literal["running", "starting", "down", "external", "unreachable"]
_MARKER = "CERTAMEN_STATE"  # only a folder holding it is ever wiped
_STOP_GRACE_S = 20.0


@dataclass(frozen=True, slots=True)
class PartState:
    """What ``status`` shows about one part."""

    name: str
    state: State
    address: str
    pid: int | None
    log: Path
    note: str = ""


def start(settings: Settings, names: Iterable[str], out: Console) -> list[PartState]:
    """Start the named parts (and what they need) that are not running; wait until ready."""
    chosen = select(all_parts(settings), names)
    with _lock(settings):
        for part in chosen:
            _start_one(settings, part, out)
            if part.name == "kafka":
                create_contest_topics(settings, out, deadline_s=60.0)
    return states(settings, [part.name for part in chosen])


def stop(settings: Settings, out: Console, names: Iterable[str] = ()) -> list[str]:
    """Stop the named parts ``up`` started (no names: every part), last first; return
    the names stopped.

    Only the named parts: the parts that use them keep running and reconnect when
    ``up`` brings them back, as they do after a crash.
    """
    chosen = named(all_parts(settings), names)
    stopped = []
    with _lock(settings):
        for part in reversed(chosen):
            record = procs.read_pid_file(pid_path(settings, part.name))
            if record is None:
                continue
            if procs.is_alive(record):
                out.print(f"stopping {part.name} (pid {record.pid})")
                if procs.stop(record, grace_s=_STOP_GRACE_S):
                    out.print(f"  {part.name} ignored SIGTERM for {_STOP_GRACE_S:.0f} s: killed")
                stopped.append(part.name)
            else:
                procs.stop(record, grace_s=2.0)  # children a killed leader left behind
            pid_path(settings, part.name).unlink(missing_ok=True)
    return stopped


def wipe(settings: Settings) -> Path:
    """Delete the state folder (after ``stop``); refuses a folder that is not ours."""
    root = state_dir(settings)
    if not root.exists():
        return root
    if not (root / _MARKER).exists():
        raise StackError(f"{root} does not look like a Certamen state folder; not deleting it")
    shutil.rmtree(root)
    return root


def states(settings: Settings, names: Iterable[str] = ()) -> list[PartState]:
    """Each part as it is now: running (and answering), starting, down or external."""
    return [_state(settings, part) for part in select(all_parts(settings), names)]


def _state(settings: Settings, part: Part) -> PartState:
    log = log_path(settings, part.name)
    if is_external(settings, part):
        reachable = part.ready()
        return PartState(
            part.name,
            "external" if reachable else "unreachable",
            part.address,
            None,
            log,
            f"from {part.external_var}",
        )
    record = procs.read_pid_file(pid_path(settings, part.name))
    if record is None or not procs.is_alive(record):
        note = "stale pid file" if record is not None else ""
        return PartState(part.name, "down", part.address, None, log, note)
    state: State = "running" if part.ready() else "starting"
    return PartState(part.name, state, part.address, record.pid, log)


def _start_one(settings: Settings, part: Part, out: Console) -> None:
    if is_external(settings, part):
        if not _wait_ready(part, deadline_s=10.0, record=None):
            raise PartFailed(
                part.name,
                f"{part.external_var} points at {part.address}, which does not answer. "
                f"Start that server, or unset {part.external_var} to let `certamen up` run one.",
            )
        return
    log = log_path(settings, part.name)
    record = procs.read_pid_file(pid_path(settings, part.name))
    if record is not None and procs.is_alive(record):
        out.print(f"{part.name} already running (pid {record.pid})")
        if not _wait_ready(part, deadline_s=part.timeout_s, record=record):
            raise PartFailed(part.name, f"runs (pid {record.pid}) but does not answer; see {log}")
        return
    _check_can_start(settings, part)
    launch = part.launch(out)
    out.print(f"starting {part.name} on {part.address}")
    record = procs.start(
        launch.command,
        env=launch.env,
        cwd=launch.cwd,
        log_path=log,
        pid_path=pid_path(settings, part.name),
        nice=launch.nice,
        cpus=cpus(settings, part),
        batch=settings.sched_policy == "batch",
    )
    began = time.monotonic()
    with out.status(f"waiting for {part.name} on {part.address}"):
        ready = _wait_ready(part, deadline_s=part.timeout_s, record=record)
    if ready:
        out.print(f"  {part.name} ready in {time.monotonic() - began:.1f} s (pid {record.pid})")
        return
    tail = _tail(log, 15)
    if procs.is_alive(record):
        procs.stop(record, grace_s=5.0)
        problem = f"not ready after {part.timeout_s:.0f} s; stopped it"
    else:
        problem = "exited while starting"
    pid_path(settings, part.name).unlink(missing_ok=True)
    raise PartFailed(part.name, f"{problem}. Last lines of {log}:\n{tail}")


def _check_can_start(settings: Settings, part: Part) -> None:
    if part.module is not None:
        try:
            found = importlib.util.find_spec(part.module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise PartFailed(part.name, f"its module {part.module} is not installed (yet)")
    for port in part.ports:
        if port_open("127.0.0.1", port):
            hint = (
                f" To use the server there, set {part.external_var}." if part.external_var else ""
            )
            raise PartFailed(
                part.name,
                f"port {port} is taken by another program (not started by `certamen up`).{hint} "
                "To run ours on other ports, set CERTAMEN_<PART>_PORT (see README).",
            )


def _wait_ready(part: Part, *, deadline_s: float, record: procs.PidRecord | None) -> bool:
    deadline = time.monotonic() + deadline_s
    while True:
        if part.ready():
            return True
        if record is not None and not procs.is_alive(record):
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _lock(settings: Settings) -> Iterator[None]:
    root = state_dir(settings)
    if not root.exists() or not any(root.iterdir()):
        root.mkdir(parents=True, exist_ok=True)
        (root / _MARKER).write_text(
            "Created by `certamen up`; `certamen down --wipe` deletes this folder.\n",
            encoding="utf-8",
        )
    with (root / "stack.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""``certamen up | down | status | logs``: the local stack from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from certamen.operations.stack import runner
from certamen.operations.stack.console import make_console, print_error
from certamen.operations.stack.errors import StackError
from certamen.operations.stack.parts import all_parts, log_path
from certamen.settings import Settings

_STYLE = {
    "running": "green",
    "external": "cyan",
    "starting": "yellow",
    "down": "red",
    "unreachable": "red",
}
_FOLLOW_POLL_S = 0.5
_SOURCE_STATUS_TIMEOUT_S = 2.0


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Dispatch on ``args.command``; a stack error is printed as one clear message."""
    out = make_console()
    try:
        if args.command == "up":
            return _up(settings, args.parts, out)
        if args.command == "down":
            return _down(settings, args.parts, args.wipe, out)
        if args.command == "status":
            return _status(settings, args.json, out)
        if args.command == "logs":
            return _logs(settings, args.part, args.lines, args.follow, out)
    except StackError as e:
        print_error(args.command, e)
        return 1
    raise ValueError(f"not a stack command: {args.command}")


def _up(settings: Settings, names: Sequence[str], out: Console) -> int:
    began = time.monotonic()
    states = runner.start(settings, names, out)
    out.print(_table(states))
    out.print(f"up in {time.monotonic() - began:.1f} s; state in {settings.state_dir.resolve()}")
    return 0


def _down(settings: Settings, names: Sequence[str], wipe: bool, out: Console) -> int:
    if wipe and names:
        raise StackError(
            "--wipe deletes the whole state folder: run `certamen down --wipe` without parts"
        )
    stopped = runner.stop(settings, out, names)
    out.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    if names:
        out.print("`certamen up` starts them again")
    elif wipe:
        out.print(f"deleted {runner.wipe(settings)}")
    else:
        out.print(
            f"data kept in {settings.state_dir.resolve()} (`certamen down --wipe` deletes it)"
        )
    return 0


def _status(settings: Settings, as_json: bool, out: Console) -> int:
    states = runner.states(settings)
    source_running = any(s.name == "source" and s.state == "running" for s in states)
    delivery = _source_status(settings) if source_running else None
    if as_json:
        rows = [
            {
                "part": s.name,
                "state": s.state,
                "address": s.address,
                "pid": s.pid,
                "log": str(s.log),
                "note": s.note,
                **({"delivery": delivery} if s.name == "source" and delivery else {}),
            }
            for s in states
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        out.print(_table(states))
        if delivery is not None:
            out.print(_lag_table(delivery))
    return 0


def _source_status(settings: Settings) -> dict[str, Any] | None:
    """The running source's ``/status`` (lag per partition), or None if it does not answer."""
    url = f"http://127.0.0.1:{settings.ports.source_metrics}/status"
    try:
        with urllib.request.urlopen(url, timeout=_SOURCE_STATUS_TIMEOUT_S) as response:
            answer: dict[str, Any] = json.load(response)
            return answer
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _lag_table(delivery: dict[str, Any]) -> Table:
    table = Table(
        title=f"Source: {delivery['topic']} -> {delivery['sink']} "
        f"(lag {delivery['lag']}, in flight {delivery['in_flight']}, "
        f"delivered {delivery['delivered']}, dead-lettered {delivery['dead_lettered']})"
    )
    for column in ("partition", "committed", "end", "lag", "in flight"):
        table.add_column(column, justify="right")
    for p in delivery["partitions"]:
        cells = (p["partition"], p["committed"], p["end"], p["lag"], p["in_flight"])
        table.add_row(*("-" if c is None else str(c) for c in cells))
    return table


def _logs(settings: Settings, part: str, lines: int, follow: bool, out: Console) -> int:
    names = [p.name for p in all_parts(settings)]
    if part not in names:
        raise StackError(f"unknown part {part!r}; parts: {', '.join(names)}")
    path = log_path(settings, part)
    if not path.exists():
        raise StackError(f"{part} has no log yet ({path}); `certamen up {part}` starts it")
    with path.open("r", encoding="utf-8", errors="replace") as log:
        text = log.read()
        sys.stdout.write("".join(text.splitlines(keepends=True)[-lines:] if lines > 0 else []))
        sys.stdout.flush()
        if follow:
            _follow(log)
    return 0


def _follow(log: TextIO) -> None:
    """Print what is appended until Ctrl-C, like ``tail -f``."""
    try:
        while True:
            chunk = log.read()
            if chunk:
                sys.stdout.write(chunk)
                sys.stdout.flush()
            else:
                time.sleep(_FOLLOW_POLL_S)
    except KeyboardInterrupt:
        pass


def _table(states: Sequence[runner.PartState]) -> Table:
    table = Table(title="Certamen local stack")
    for column in ("part", "state", "address", "pid", "log"):
        table.add_column(column, overflow="fold")
    for s in states:
        style = _STYLE.get(s.state, "")
        state = f"[{style}]{s.state}[/]" + (f" ({s.note})" if s.note else "")
        table.add_row(s.name, state, s.address, str(s.pid or "-"), str(s.log))
    return table

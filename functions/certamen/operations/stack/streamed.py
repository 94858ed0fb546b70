"""Run a long setup command (Maven, go build) so the user sees that it progresses.

On a terminal the latest output line is shown on one live status line; elsewhere
(CI logs) every line is printed. The full output always goes to a log file, and a
failure quotes its last lines.
"""

from __future__ import annotations

import subprocess
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from certamen.operations.stack.errors import StackError

_TAIL_LINES = 25


def run_streamed(
    out: Console,
    command: Sequence[str],
    *,
    what: str,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 1800.0,
) -> None:
    """Run ``command`` to completion, showing progress; raise :class:`StackError` on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    out.print(f"[bold]{escape(what)}[/] (full output: {log_path})")
    # Popen as a context manager closes the pipe, or an unclosed file is left to the collector.
    with (
        log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            list(command),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process,
    ):
        watchdog = threading.Timer(timeout_s, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            if out.is_terminal:
                with out.status(escape(what)) as status:
                    for line in process.stdout:
                        log.write(line)
                        tail.append(line.rstrip())
                        status.update(f"{escape(what)}: {escape(line.strip()[:100])}")
            else:
                for line in process.stdout:
                    log.write(line)
                    tail.append(line.rstrip())
                    out.print(f"  {escape(line.rstrip())}", highlight=False)
            code = process.wait()
        finally:
            watchdog.cancel()
    if code != 0:
        last = "\n".join(tail)
        raise StackError(
            f"{what} failed (exit {code}); last lines:\n{last}\nfull output: {log_path}"
        )

"""Server processes for integration tests: a free port, a start with a log file, a stop.

Each test harness runs its server as a real ``certamen`` child process, as in
production, so start-up and SIGTERM are the real ones; these are the parts every
harness does the same way.
"""

from __future__ import annotations

import itertools
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_ports(ports: range) -> Iterator[int]:
    """The ports of ``ports`` that nothing listens on right now, in random order.

    Random, so that suites sharing a range (or runs in parallel) rarely pick the same one.
    """
    for port in random.sample(ports, len(ports)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        yield port


_handed_out: set[int] = set()


def free_port(ports: range) -> int:
    """A port of ``ports`` that nothing listens on right now (each test suite has its range)."""
    return take_free_ports(ports, 1)[0]


def take_free_ports(ports: range, count: int) -> list[int]:
    """``count`` different ports of ``ports`` that nothing listens on right now.

    Never one handed out before in this test session: two picks made one after the
    other (a server's port, then its metrics port) were both free when probed and
    could be the same one, and the server then found its second port taken.
    """
    unused = (port for port in free_ports(ports) if port not in _handed_out)
    found = list(itertools.islice(unused, count))
    if len(found) < count:  # the whole range handed out once: reuse ports free now
        again = (port for port in free_ports(ports) if port not in found)
        found += itertools.islice(again, count - len(found))
    if len(found) < count:
        raise RuntimeError(f"not {count} free ports in {ports.start}-{ports.stop - 1}")
    _handed_out.update(found)
    return found


def launch(command: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` with stdout and stderr both into ``log`` (read it when a test fails)."""
    with log.open("wb") as out:
        return subprocess.Popen(command, env=dict(env), stdout=out, stderr=subprocess.STDOUT)


@contextmanager
def serving(
    command: Sequence[str],
    env: Mapping[str, str],
    log: Path,
    *,
    ready: Callable[[], bool],
    within_s: float,
    what: str,
    grace_s: float,
) -> Iterator[subprocess.Popen[bytes]]:
    """A server for the length of a block: launched, waited for until ``ready``, then stopped."""
    process = launch(command, env, log)
    try:
        wait_for(ready, process, log, within_s=within_s, what=what)
        yield process
    finally:
        stop(process, grace_s=grace_s)


def stop(process: subprocess.Popen[bytes], *, grace_s: float) -> None:
    """SIGTERM, as Knative does; SIGKILL if it is still running after ``grace_s``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(
    check: Callable[[], bool],
    process: subprocess.Popen[bytes],
    log: Path,
    *,
    within_s: float,
    what: str,
) -> float:
    """Poll ``check`` until true; return the seconds it took.

    Fails at once, with the server's log, if the process exits meanwhile, and with
    ``what`` (what did not happen) and the log after ``within_s``.
    """
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        assert process.poll() is None, f"server exited:\n{log.read_text()}"
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{what} within {within_s} s:\n{log.read_text()}")

"""load/benchkit.py's process helpers, shared by the bench scripts: a real child server."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from load import benchkit

# Listens on the port it is given and ignores SIGTERM when asked to: a stubborn server.
SERVER = """
import signal, socket, sys, time
if sys.argv[2] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(120)
"""


def _server(port: int, mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", SERVER, str(port), mode], start_new_session=True)


@pytest.mark.parametrize("mode", ["polite", "stubborn"])
def test_a_server_is_waited_for_then_stopped(mode: str) -> None:
    port = benchkit.free_port()
    server = _server(port, mode)
    benchkit.wait_port(port, server, within_s=30)
    benchkit.stop_session(server, grace_s=0.5)
    expected = signal.SIGKILL if mode == "stubborn" else signal.SIGTERM
    assert server.returncode == -expected


def test_waiting_for_a_server_that_exits_says_so() -> None:
    server = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="exited with 3"):
        benchkit.wait_port(benchkit.free_port(), server, within_s=30)


def test_answers_is_true_only_for_a_200(tmp_path: Path) -> None:
    port = benchkit.free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        benchkit.wait_port(port, server, within_s=30)
        assert benchkit.answers(f"http://127.0.0.1:{port}/")
        assert not benchkit.answers(f"http://127.0.0.1:{port}/no-such-file")  # a 404
    finally:
        benchkit.stop_session(server, grace_s=5)
    assert not benchkit.answers(f"http://127.0.0.1:{port}/")  # nothing listens now


def test_spread_gives_the_median_and_the_range_never_the_best_run() -> None:
    assert benchkit.spread([13.0, 11.9, 12.3], "µs") == "median 12.3 of 3 (11.9-13) µs"
    assert benchkit.spread([14_402, 13_192, 13_824]) == "median 13,824 of 3 (13,192-14,402)"
    assert benchkit.spread([3.0]) == "one run: 3"


# Holds 120 MB for a moment, then lets it go: a phase that peaks between two readings.
GROWS = """
import time
time.sleep(0.3)
block = b"x" * (120 * 1024 * 1024)
time.sleep(0.6)
del block
time.sleep(60)
"""


def test_peak_memory_sees_a_peak_that_is_gone_by_the_end_of_the_block() -> None:
    child = subprocess.Popen([sys.executable, "-c", GROWS])
    try:
        with benchkit.PeakMemory(child.pid) as memory:
            time.sleep(1.6)
        after_mb, _ = benchkit.memory_mb(child.pid)
    finally:
        child.kill()
        child.wait()
    assert memory.start_mb < 60
    assert memory.peak_mb > memory.start_mb + 100
    assert after_mb < memory.peak_mb - 100

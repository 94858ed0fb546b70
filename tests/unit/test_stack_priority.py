"""`certamen up` gives the counting side's processes a lower CPU priority than the ingress."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from certamen.operations.stack import procs
from certamen.operations.stack.parts import all_parts
from certamen.settings import Settings

APPS = ("consumer", "source", "producer-grpc", "producer-wasm", "streamlit")


@pytest.mark.parametrize("nice", [10, 0])
def test_the_counting_side_is_niced_and_the_ingress_is_not(nice: int) -> None:
    settings = replace(Settings(), counting_nice=nice)
    parts = {part.name: part for part in all_parts(settings) if part.name in APPS}

    niceness = {name: part.launch(Console(quiet=True)).nice for name, part in parts.items()}

    assert niceness == {
        "consumer": nice,
        "source": nice,
        "streamlit": nice,
        "producer-grpc": 0,
        "producer-wasm": 0,
    }


def test_a_part_started_with_a_niceness_runs_with_it(tmp_path: Path) -> None:
    record = procs.start(
        ["sleep", "30"],
        env=dict(os.environ),
        cwd=tmp_path,
        log_path=tmp_path / "sleep.log",
        pid_path=tmp_path / "sleep.pid",
        nice=7,
    )
    try:
        stat = (Path("/proc") / str(record.pid) / "stat").read_text()
        assert int(stat[stat.rfind(")") + 2 :].split()[16]) == os.nice(0) + 7
    finally:
        os.kill(record.pid, signal.SIGKILL)
        time.sleep(0.1)

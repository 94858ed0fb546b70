"""`certamen up` gives the counting side's processes a lower CPU priority than the ingress,
runs every part under Linux's batch scheduling policy, and, when asked, gives the
producers CPUs of their own."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from certamen.operations.stack import procs
from certamen.operations.stack.parts import all_parts, cpus
from certamen.settings import Settings, load

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


@contextlib.contextmanager
def sleeping(tmp_path: Path, **how: Any) -> Iterator[int]:
    """A ``sleep`` started as `certamen up` starts a part, with ``how``; its pid."""
    record = procs.start(
        ["sleep", "30"],
        env=dict(os.environ),
        cwd=tmp_path,
        log_path=tmp_path / "sleep.log",
        pid_path=tmp_path / "sleep.pid",
        **how,
    )
    try:
        yield record.pid
    finally:
        os.kill(record.pid, signal.SIGKILL)
        time.sleep(0.1)


def test_a_part_started_with_a_niceness_runs_with_it(tmp_path: Path) -> None:
    with sleeping(tmp_path, nice=7) as pid:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
        assert int(stat[stat.rfind(")") + 2 :].split()[16]) == os.nice(0) + 7


@pytest.mark.parametrize(
    ("kept", "ingress", "rest"),
    [(2, {0, 1}, {2, 3}), (1, {0}, {1, 2, 3}), (0, set(), set()), (4, set(), set())],
)
def test_the_producers_run_on_cpus_of_their_own_and_the_rest_on_the_others(
    monkeypatch: pytest.MonkeyPatch, kept: int, ingress: set[int], rest: set[int]
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    settings = replace(Settings(), ingress_cpus=kept)

    placed = {part.name: set(cpus(settings, part)) for part in all_parts(settings)}

    assert placed == {
        "producer-grpc": ingress,
        "producer-wasm": ingress,
        "kafka": rest,
        "redis": rest,
        "mongodb": rest,
        "consumer": rest,
        "source": rest,
        "streamlit": rest,
    }


def test_by_default_every_part_runs_on_any_cpu() -> None:
    settings = load({})
    assert settings.ingress_cpus == 0
    assert {cpus(settings, part) for part in all_parts(settings)} == {frozenset()}


def test_a_part_started_on_some_cpus_runs_on_them(tmp_path: Path) -> None:
    one = frozenset({max(os.sched_getaffinity(0))})
    with sleeping(tmp_path, cpus=one) as pid:
        assert os.sched_getaffinity(pid) == one


@pytest.mark.parametrize(("batch", "policy"), [(True, os.SCHED_BATCH), (False, os.SCHED_OTHER)])
def test_a_part_started_in_batch_runs_under_sched_batch(
    tmp_path: Path, batch: bool, policy: int
) -> None:
    with sleeping(tmp_path, batch=batch) as pid:
        assert os.sched_getscheduler(pid) == policy


def test_batch_is_the_default_policy_and_normal_can_be_chosen() -> None:
    assert load({}).sched_policy == "batch"
    assert load({"CERTAMEN_SCHED_POLICY": "normal"}).sched_policy == "normal"

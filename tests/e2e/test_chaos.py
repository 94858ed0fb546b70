"""The chaos run's quick variant (`load/bench_chaos.py --quick`) on a whole stack of its own.

Under load through both producers, every part (the Kafka broker, Redis, FerretDB, the
consumer, the source, each producer) is SIGKILLed once at a seeded random moment and
brought back with ``certamen up``; the run then drains and judges every vote (its
ledger against MongoDB and Redis, and ``certamen audit``). These tests read that
verdict from the run's JSON figures. The stack, servers included, is the test's own
(its state folder, free ports): a stack already running on the machine is never touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.own_stack import whole_stack_environment

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(19000, 19100)
CERTAMEN = [sys.executable, "-m", "certamen.operations.cli"]
PARTS = ("kafka", "redis", "mongodb", "consumer", "source", "producer_grpc", "producer_wasm")


@dataclass(frozen=True)
class ChaosRun:
    """The run's exit code, its output and its figures by key."""

    code: int
    output: str
    figures: dict[str, dict[str, Any]]

    def value(self, key: str) -> float:
        return float(self.figures[f"chaos.{key}"]["value"])

    def why(self) -> str:
        return self.output[-4000:]


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRun]:
    state = tmp_path_factory.mktemp("chaos-stack")
    env = whole_stack_environment(state, PORTS)
    try:
        subprocess.run([*CERTAMEN, "up"], env=env, check=True, timeout=900)
        figures = state / "chaos.json"
        done = subprocess.run(
            [sys.executable, "load/bench_chaos.py", "--quick", "--json", str(figures)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1_800, check=False,
        )  # fmt: skip
        found = json.loads(figures.read_text()) if figures.exists() else {"figures": []}
        yield ChaosRun(
            done.returncode,
            done.stdout + done.stderr,
            {f["key"]: f for f in found["figures"]},
        )
    finally:
        subprocess.run([*CERTAMEN, "down"], env=env, timeout=300, check=False)


def test_every_part_was_killed_and_brought_back(chaos: ChaosRun) -> None:
    assert chaos.figures, chaos.why()
    assert {part: chaos.value(f"kills_{part}") for part in PARTS} == dict.fromkeys(PARTS, 1.0)
    assert "FAILED" not in chaos.output, chaos.why()  # every `certamen up` brought it back


def test_no_acknowledged_vote_lost_none_counted_twice_and_the_audit_agrees(
    chaos: ChaosRun,
) -> None:
    assert chaos.value("acknowledged") > 0, chaos.why()
    assert chaos.value("lost") == 0, chaos.why()
    assert chaos.value("doubled") == 0, chaos.why()
    assert chaos.value("half_counted") == 0, chaos.why()
    assert chaos.value("audit") == 1, chaos.why()


def test_no_refused_vote_was_counted_and_the_run_says_so(chaos: ChaosRun) -> None:
    """Refused = 503 / UNAVAILABLE (never reached Kafka): never counted. Unknown = 504 /
    DEADLINE_EXCEEDED or a cut connection, retried with its key: at most once (the
    doubled check above)."""
    assert chaos.value("refused_counted") == 0, chaos.why()
    assert chaos.code == 0, chaos.why()

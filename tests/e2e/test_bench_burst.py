"""``load/bench_burst.py --quick`` against the whole local stack: no vote lost, doubled or
falsely answered (a rate is never judged here: the benchmark's figures are the lead's).

The real script, in a child process, against a stack of the test's own
(``tests/support/own_stack.py``: the session's servers, its own topic, databases and
app ports), so that a stack running beside the tests (the demo's) is left as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from certamen.settings import Settings
from tests.support.own_stack import empty_own_stack, own_stack_environment

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "load" / "bench_burst.py"
EXACTNESS = ("counted", "overload_exact", "overload_other")
CERTAMEN = [sys.executable, "-m", "certamen.operations.cli"]
PORTS = range(18900, 19000)


def test_the_quick_burst_benchmark_loses_doubles_and_falsely_answers_nothing(
    infra: Settings, tmp_path: Path
) -> None:
    output = tmp_path / "burst.json"
    env = own_stack_environment(infra, tmp_path / "stack", PORTS, catalog=None)
    empty_own_stack(env)
    try:
        result = subprocess.run(
            [sys.executable, str(SCRIPT), "--quick", "--json", str(output)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        subprocess.run([*CERTAMEN, "down"], env=env, timeout=120, check=False)
        empty_own_stack(env)
    log = (result.stdout + result.stderr)[-5000:]
    assert result.returncode == 0, log
    document = json.loads(output.read_text(encoding="utf-8"))
    figures = {figure["key"]: figure for figure in document["figures"]}
    for route in ("grpc", "http"):
        accepted = figures[f"burst.{route}.accepted"]["value"]
        assert accepted > 0, log
        assert figures[f"burst.{route}.counted"]["value"] == accepted, log
        for name in EXACTNESS:
            assert figures[f"burst.{route}.{name}"]["met"], (name, log)
    assert all(note.endswith("exact") for note in document["notes"]), document["notes"]

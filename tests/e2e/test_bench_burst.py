"""``load/bench_burst.py --quick`` against the whole local stack: no vote lost, doubled or
falsely answered (a rate is never judged here: the benchmark's figures are the lead's).

The real script, in a child process, against whatever stack the environment names (on
a fresh machine it starts the parts it needs, as ``certamen up`` does).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "load" / "bench_burst.py"
EXACTNESS = ("counted", "overload_exact", "overload_other")


def test_the_quick_burst_benchmark_loses_doubles_and_falsely_answers_nothing(
    tmp_path: Path,
) -> None:
    output = tmp_path / "burst.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
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

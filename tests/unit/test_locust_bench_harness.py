"""``certamen bench``: scripts found in order, run by the convention, results written."""

from __future__ import annotations

import io
import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from certamen.operations.bench import _run_script, discover, results_markdown

FAKE = """
import argparse, json
parser = argparse.ArgumentParser()
parser.add_argument("--json", required=True)
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
figures = [
    {"key": "producer_grpc.votes_per_s", "name": "Cast", "value": 3000.0, "unit": "votes/s",
     "goal": ">= 2000", "met": True, "command": "python load/bench_producer_grpc.py"},
    {"key": "producer_grpc.p50_ms", "name": "p50", "value": 2.0, "unit": "ms"},
]
notes = ["quick" if args.quick else "full"]
json.dump({"title": "gRPC producer", "figures": figures, "notes": notes,
           "sections": {"Profile": "| a | b |"}}, open(args.json, "w"))
"""

OTHER = """
import argparse, json
parser = argparse.ArgumentParser()
parser.add_argument("--json", required=True)
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
figures = [{"key": "producer_wasm.votes_per_s", "name": "POST", "value": 1500, "unit": "votes/s",
            "goal": ">= 2000", "met": False}]
json.dump({"title": "HTTP producer", "figures": figures}, open(args.json, "w"))
"""


def _write(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return path


def test_scripts_run_in_the_pipelines_order_then_by_name(tmp_path: Path) -> None:
    for name in ("bench_zeta.py", "bench_end_to_end.py", "bench_producer_grpc.py", "other.py"):
        _write(tmp_path, name, "")

    found = [p.name for p in discover(tmp_path)]

    assert found == ["bench_producer_grpc.py", "bench_end_to_end.py", "bench_zeta.py"]
    assert [p.name for p in discover(tmp_path, only=["end_to_end"])] == ["bench_end_to_end.py"]


def test_results_hold_machine_figures_goals_and_same_run_ratios(tmp_path: Path) -> None:
    console = Console(file=io.StringIO())
    grpc = _run_script(_write(tmp_path, "bench_producer_grpc.py", FAKE), tmp_path, True, console)
    wasm = _run_script(_write(tmp_path, "bench_producer_wasm.py", OTHER), tmp_path, True, console)
    failing = _write(tmp_path, "bench_broken.py", "raise SystemExit(3)")
    broken = _run_script(failing, tmp_path, True, console)

    text = results_markdown(
        [grpc, wasm, broken], {"cores": "2", "CPU": "test"}, started=datetime.now(UTC), quick=True
    )

    assert grpc.ok and wasm.ok and not broken.ok
    assert "| cores | 2 |" in text
    assert "## gRPC producer" in text
    assert "| Cast | 3,000 votes/s | >= 2000 ✅ | `python load/bench_producer_grpc.py` |" in text
    assert "| POST | 1,500 votes/s | >= 2000 ❌ missed |  |" in text
    assert "- quick" in text
    assert "### Profile" in text
    assert (
        "| gRPC / HTTP, votes/s, one vote a call | 2.00 | 3,000 votes/s / 1,500 votes/s |" in text
    )
    assert "**Failed**: exit code 3" in text
    assert json.loads((tmp_path / "producer_grpc.json").read_text())["title"] == "gRPC producer"

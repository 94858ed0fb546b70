"""load/cost_series.py's pure parts: a round in round trips, its table and its picture."""

from __future__ import annotations

import importlib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

LOAD = Path(__file__).resolve().parents[2] / "load"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def series(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script as ``python load/cost_series.py`` imports it: load/ first on the path."""
    monkeypatch.syspath_prepend(str(LOAD))
    return importlib.import_module("cost_series")


def rounds(series: ModuleType) -> list[object]:
    return [
        series.Round("2026-12-08 01:00", 50.0, 3.9, {"grpc": 0.700, "wasm": 0.500},
                     {"grpc": 2000.0, "wasm": 2400.0}, True),
        series.Round("2026-12-08 01:07", 35.0, 3.6, {"grpc": 0.490, "wasm": 0.350},
                     {"grpc": 2300.0, "wasm": 2800.0}, True),
        series.Round("2026-12-08 01:14", 40.0, 3.7, {"grpc": 0.600, "wasm": 0.420},
                     {"grpc": 2100.0, "wasm": 2600.0}, False),
    ]  # fmt: skip


def test_a_rounds_cost_in_round_trips_is_its_ms_over_the_wakeup(series: ModuleType) -> None:
    first = rounds(series)[0]
    assert first.round_trips("grpc") == pytest.approx(14.0)  # type: ignore[attr-defined]
    assert first.round_trips("wasm") == pytest.approx(10.0)  # type: ignore[attr-defined]


def test_the_table_has_every_round_and_says_which_was_not_exact(series: ModuleType) -> None:
    text = series.table(rounds(series))
    lines = text.splitlines()
    assert len(lines) == 2 + 3
    assert "| 2026-12-08 01:07 | 35.0 | 0.490 (14.0) | 0.350 (10.0) | yes |" in lines
    assert lines[-1].endswith("| NO |")


def test_the_picture_draws_every_round_of_each_route_the_goal_and_the_medians(
    series: ModuleType,
) -> None:
    picture = ET.fromstring(series.svg(rounds(series)))
    circles = picture.findall(f"{SVG}circle")
    texts = " ".join(t.text or "" for t in picture.iter(f"{SVG}text"))
    # three rounds a route, and one key mark a route
    assert len(circles) == 3 * 2 + 2
    hollow = [c for c in circles if c.get("fill") == "none"]
    assert len(hollow) == 2, "the round that was not exact is drawn hollow on both routes"
    assert "goal 0.5 ms" in texts
    # the median of 14.0, 14.0 and 15.0 round trips (gRPC) meets 0.5 ms at 35.7 µs
    assert "median 14.0 round trips a vote:" in texts
    assert "meets the goal at ≤ 35.7 µs" in texts

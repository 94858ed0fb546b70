"""Every Redis query of the contest dashboard, run on real Redis after the consumer code counted.

The panels' answers (after their transformations) must equal what MongoDB's
vote log implies: counts per band, album and channel, average ranks, dead
letters, and the votes per second in the rate stream.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from certamen.contract import album_key
from certamen.settings import Settings
from tests.support.grafana_frames import Frame, run_target, transform
from tests.support.tally_fill import (
    Pipeline,
    example_catalog,
    pipeline,
    sample_votes,
)

pytestmark = pytest.mark.integration

CONTEST = Path(__file__).resolve().parents[2] / "grafana" / "dashboards" / "contest.json"


def _panels() -> dict[str, dict[str, Any]]:
    return {panel["title"]: panel for panel in json.loads(CONTEST.read_text())["panels"]}


def _answer(pipe: Pipeline, title: str) -> Frame:
    """What a panel shows: its targets run on Redis, then its transformations."""
    panel = _panels()[title]
    now_ms = int(time.time() * 1000)
    frames = [run_target(pipe.redis, t, now_ms - 15 * 60_000, now_ms) for t in panel["targets"]]
    result = transform(frames, panel.get("transformations", []))
    assert len(result) == 1
    return result[0]


def _single_value(frame: Frame) -> float:
    assert len(frame.rows) == 1
    return float(next(iter(frame.rows[0].values())))


def _next_second(pipe: Pipeline) -> None:
    """Wait (at most a second) until Redis's clock enters a new second."""
    start = pipe.redis.time()[0]
    deadline = time.monotonic() + 2
    while pipe.redis.time()[0] == start and time.monotonic() < deadline:
        time.sleep(0.01)


def test_every_redis_panel_shows_what_the_vote_log_implies(store_contest: Settings) -> None:
    catalog = example_catalog()
    with pipeline(store_contest) as pipe:
        first_batch = sample_votes(catalog, 60)
        pipe.count(first_batch)
        pipe.poison("letter-1", rank=101)
        pipe.poison("letter-2", rank=-1)
        pipe.poison("letter-3", name="Nadie")
        _next_second(pipe)
        pipe.count(sample_votes(catalog, 1, seed=3))  # seals the first batch's seconds

        logged = list(pipe.db["votes"].find())
        letters = list(pipe.db["dead_letters"].find())
        assert len(logged) == 61

        assert _single_value(_answer(pipe, "Total votes")) == len(logged)
        assert _single_value(_answer(pipe, "Dead letters")) == len(letters)

        channels = _answer(pipe, "Votes by channel").rows[0]
        assert channels == {c: float(n) for c, n in Counter(d["channel"] for d in logged).items()}

        reasons = _answer(pipe, "Dead letters by reason")
        assert [(r["Reason"], r["Dead letters"]) for r in reasons.rows] == [
            ("range", 2.0),
            ("not_in_catalog", 1.0),
        ]

        bands = _answer(pipe, "Votes by band")
        per_band = {band: 0 for band in catalog.bands} | Counter(d["name"] for d in logged)
        assert {r["Band"]: r["Votes"] for r in bands.rows} == per_band  # zero bars included
        assert [r["Votes"] for r in bands.rows] == sorted(per_band.values(), reverse=True)

        votes: Counter[str] = Counter()
        rank_sums: dict[str, float] = defaultdict(float)
        for d in logged:
            votes[album_key(d["name"], d["album"])] += 1
            rank_sums[album_key(d["name"], d["album"])] += d["rank"]
        candidates = [album_key(c.band, c.album) for c in catalog.candidates]

        albums = _answer(pipe, "Votes by album")
        assert {r["Album"]: r["Votes"] for r in albums.rows} == {
            label: votes.get(label, 0) for label in candidates
        }

        ranks = _answer(pipe, "Average rank by album")
        assert ranks.columns == ["Album", "Average rank"]
        shown = {r["Album"]: r["Average rank"] for r in ranks.rows}
        assert set(shown) == set(candidates)
        for label in candidates:
            if votes.get(label):
                assert shown[label] == pytest.approx(rank_sums[label] / votes[label])
            else:
                assert math.isnan(shown[label])  # no votes yet: no average, but the bar is there

        rate = _answer(pipe, "Votes per second")
        assert rate.rows, "the rate stream has sealed seconds"
        assert all(r["$time"] % 1000 == 0 for r in rate.rows)
        assert sum(r["votes"] for r in rate.rows) == len(first_batch)


def test_an_unvoted_contest_has_every_bar_at_zero(store_contest: Settings) -> None:
    catalog = example_catalog()
    with pipeline(store_contest) as pipe:
        assert _single_value(_answer(pipe, "Total votes")) == 0
        bands = _answer(pipe, "Votes by band")
        assert {r["Band"]: r["Votes"] for r in bands.rows} == dict.fromkeys(catalog.bands, 0)
        albums = _answer(pipe, "Votes by album")
        assert len(albums.rows) == len(catalog.candidates)
        assert _answer(pipe, "Votes by channel").rows[0] == {"grpc": 0, "wasm": 0, "legacy": 0}

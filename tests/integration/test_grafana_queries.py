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
from certamen.results.i18n import LANGUAGES, messages
from certamen.settings import Settings
from tests.support.grafana_frames import Frame, run_target, transform
from tests.support.tally_fill import (
    Pipeline,
    example_catalog,
    pipeline,
    sample_votes,
)

pytestmark = pytest.mark.integration

# The English board; the Spanish one has the same targets and transformations (a unit test),
# its own texts (the channels' names among them: checked here too).
BOARDS = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"
CHANNEL_NAMES = {language: messages(language).channels.of for language in LANGUAGES}


def _panels(language: str) -> dict[str, dict[str, Any]]:
    board = json.loads((BOARDS / language / "contest.json").read_text())
    return {panel["title"]: panel for panel in board["panels"]}


def _answer(pipe: Pipeline, title: str, language: str = "en") -> Frame:
    """What a panel shows: its targets run on Redis, then its transformations."""
    panel = _panels(language)[title]
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
        named = CHANNEL_NAMES["en"]
        logged_by_channel = Counter(d["channel"] for d in logged)
        assert channels == {named(c): float(n) for c, n in logged_by_channel.items()}

        reasons = [
            (r["Reason"], r["Dead letters"]) for r in _answer(pipe, "Dead letters by reason").rows
        ]
        assert reasons[:2] == [("range", 2.0), ("not_in_catalog", 1.0)]
        assert sorted(reasons[2:]) == [("conflict", 0.0), ("unknown_type", 0.0)]  # from the start

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
        zero = {"gRPC": 0, "WebAssembly": 0}
        english, spanish = _answer(pipe, "Votes by channel"), _answer(pipe, "Votos por canal", "es")
        assert english.rows[0] == {**zero, "legacy producer": 0}
        assert spanish.rows[0] == {**zero, "productor anterior": 0}
        _assert_counters_from_zero(pipe)


def test_an_open_contest_starts_with_its_counters_at_zero(store_contest: Settings) -> None:
    """No catalog: no band is known yet, but totals, channels, dead letters and the rate are."""
    with pipeline(store_contest, closed_contest=False) as pipe:
        assert _single_value(_answer(pipe, "Total votes")) == 0
        assert _answer(pipe, "Votes by channel").rows[0] == {
            "gRPC": 0,
            "WebAssembly": 0,
            "legacy producer": 0,
        }
        _assert_counters_from_zero(pipe)


def _assert_counters_from_zero(pipe: Pipeline) -> None:
    """The panels a contest shows before anything happened: 0, never "No data"."""
    assert _single_value(_answer(pipe, "Dead letters")) == 0
    reasons = _answer(pipe, "Dead letters by reason")
    assert reasons.rows and {r["Dead letters"] for r in reasons.rows} == {0}
    assert "conflict" in {r["Reason"] for r in reasons.rows}
    rate = _answer(pipe, "Votes per second")
    assert rate.rows and {r["votes"] for r in rate.rows} == {0}

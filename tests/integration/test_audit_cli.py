"""``certamen audit`` and the consumer's start-up with a catalog, against real servers.

With a catalog every candidate's counters exist at 0 before the first vote; the
audit agrees then, and exits non-zero naming the counter once Redis and MongoDB
disagree.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from certamen.adapters import redis_keys as keys
from certamen.contract import album_key, load_catalog
from certamen.settings import Settings
from tests.support.pipeline import consumer, environment, free_port, isolated, run_cli

pytestmark = pytest.mark.integration

CATALOG = Path(__file__).resolve().parents[2] / "load" / "data" / "catalog.yaml"


def test_catalog_counters_start_at_zero_and_the_audit_flags_a_difference(
    contest: Settings, tmp_path: Path
) -> None:
    settings = replace(isolated(contest), catalog_path=CATALOG)
    catalog = load_catalog(CATALOG, year_now=2026)
    store = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    service = consumer(settings, free_port(), tmp_path).start()
    try:
        albums = store.hgetall(keys.BY_ALBUM)
        assert albums == {album_key(c.band, c.album): "0" for c in catalog.candidates}
        assert store.hgetall(keys.BY_BAND) == dict.fromkeys(catalog.bands, "0")
        assert store.hgetall(keys.BY_CHANNEL) == {"grpc": "0", "wasm": "0", "legacy": "0"}
        assert set(store.hgetall(keys.RANK_SUM)) == set(albums)
        assert store.get(keys.TOTAL) == "0"

        code, report = run_cli(settings, "audit")
        assert (code, report["ok"], report["differences"]) == (0, True, 0)
        assert len(report["albums"]) == len(catalog.candidates)

        first = catalog.candidates[0]
        store.hincrby(keys.BY_ALBUM, album_key(first.band, first.album), 1)
        store.incr(keys.TOTAL)
        code, report = run_cli(settings, "audit")
    finally:
        service.stop()
        store.close()
    assert code == 1 and report["ok"] is False
    assert report["differences"] == 2
    wrong = [a for a in report["albums"] if a["votes_difference"]]
    assert [(a["band"], a["album"], a["redis_votes"], a["mongodb_votes"]) for a in wrong] == [
        (first.band, first.album, 1, 0)
    ]
    total = next(t for t in report["totals"] if t["counter"] == "total")
    assert (total["redis"], total["mongodb"], total["difference"]) == (1, 0, 1)


def test_audit_without_redis_says_so_and_exits_2(contest: Settings) -> None:
    settings = replace(contest, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    done = subprocess.run(
        [sys.executable, "-m", "certamen.operations.cli", "audit"],
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "redis unavailable" in done.stderr
    assert "Traceback" not in done.stderr

"""The whole local stack and a browser: a vote sent to a producer shows on Results by itself.

``certamen up`` starts the producers, the local KafkaSource, the consumer and the
app on free ports of 17600-17699 (state in a temporary folder, its own topic,
consumer group and MongoDB database; Kafka, Redis and MongoDB are the session's).
Votes go in over HTTP to the WebAssembly producer, as a person's client would send
them; the clock starts when the producer has acknowledged the last one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from selenium import webdriver

from certamen.adapters import redis_keys as keys
from certamen.settings import Settings, load
from tests.browser.chromium import LIVE_UPDATE_WAIT_S, Snapshot, results_when, save, settled
from tests.support.own_stack import empty_own_stack, own_stack_environment
from tests.support.tally_fill import CATALOG_PATH

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PORTS = range(17600, 17700)
STACK_TIMEOUT_S = 600  # a fresh machine may build the WebAssembly kernel first
BALLOTS = (
    {"name": "Alux Nahual", "album": "Leyenda", "year": "1989", "rank": "9.5"},
    {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": 1997, "rank": 100},
    {"name": "viernes verde", "album": "ENTRE LA BASURA", "year": "2001", "rank": "72.25"},
)


@pytest.fixture(scope="module")
def stack(infra: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """``certamen up`` in its own state folder, on free ports; ``certamen down`` afterwards."""
    env = own_stack_environment(
        infra, tmp_path_factory.mktemp("stack"), PORTS, catalog=CATALOG_PATH
    )
    settings = load(env)
    empty_own_stack(env)
    certamen = [sys.executable, "-m", "certamen.operations.cli"]
    try:
        subprocess.run([*certamen, "up"], env=env, check=True, timeout=STACK_TIMEOUT_S)
        yield settings
    finally:
        subprocess.run([*certamen, "down"], env=env, timeout=120)
        empty_own_stack(env)


def _cast(settings: Settings, ballot: dict[str, object]) -> dict[str, str]:
    """POST a ballot to the WebAssembly producer; its answer means Kafka has the vote."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.ports.producer_wasm}/votes",
        data=json.dumps(ballot).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status in (200, 201, 202)
        receipt: dict[str, str] = json.loads(answer.read())
    return receipt


def test_votes_sent_to_a_producer_show_on_results_without_a_reload(
    stack: Settings, browser: webdriver.Chrome
) -> None:
    browser.get(f"http://127.0.0.1:{stack.ports.streamlit}")
    first_paint = results_when(
        browser,
        settled,
        timeout_s=60,
    )
    before = int(first_paint["metrics"]["Total votes"])

    for ballot in BALLOTS:
        _cast(stack, ballot)
    acknowledged = time.monotonic()
    expected = before + len(BALLOTS)
    counter = redis.Redis.from_url(stack.redis_url)
    in_redis: list[float] = []

    def on_screen(snapshot: Snapshot) -> bool:
        """The total and the bands table, both drawn from the new counts."""
        if not in_redis and int(counter.get(keys.TOTAL) or 0) == expected:
            in_redis.append(time.monotonic() - acknowledged)
        return bool(
            snapshot["metrics"].get("Total votes") == str(expected)
            and snapshot["tables"]
            and sum(int(votes) for _, votes in snapshot["tables"][0]) == expected
        )

    shown = results_when(browser, on_screen, timeout_s=LIVE_UPDATE_WAIT_S)
    elapsed = time.monotonic() - acknowledged
    counter.close()
    counted = f"{in_redis[0]:.2f} s" if in_redis else "before the first look"
    print(f"\nacknowledged -> counted in Redis: {counted}; -> on screen: {elapsed:.2f} s")

    bands = dict(shown["tables"][0])
    assert int(bands["Alux Nahual"]) == 1
    assert int(bands["Viernes Verde"]) == 1  # the catalog's spelling, whatever the voter typed
    assert int(shown["metrics"]["Votes via WebAssembly"]) == len(BALLOTS)
    browser.get(f"http://127.0.0.1:{stack.ports.streamlit}")  # a fresh, complete drawing
    results_when(browser, settled, timeout_s=60)
    save(browser, "results-live-stack.png")

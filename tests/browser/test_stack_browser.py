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
import uuid
from collections.abc import Iterator

import pytest
import redis
from selenium import webdriver

from certamen.adapters import redis_keys as keys
from certamen.adapters.mongo_store import make_mongo
from certamen.settings import Settings, child_environment, load
from tests.browser.chromium import LIVE_UPDATE_WAIT_S, Snapshot, results_when, save, settled
from tests.support.processes import take_free_ports
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
    suffix = uuid.uuid4().hex[:8]
    grpc, wasm, consumer, streamlit, metrics, consumer_metrics, wasm_metrics = take_free_ports(
        PORTS, 7
    )
    env = child_environment(
        {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
            "REDIS_URL": infra.redis_url,
            "MONGODB_URI": infra.mongodb_uri,
            "MONGODB_DATABASE": f"certamen_stack_{suffix}",
            "CERTAMEN_TOPIC": f"votes-stack-{suffix}",
            "CERTAMEN_DLQ_TOPIC": f"votes-dlq-stack-{suffix}",
            "CERTAMEN_SOURCE_GROUP": f"stack-{suffix}",
            "CERTAMEN_STATE_DIR": str(tmp_path_factory.mktemp("stack")),
            "CERTAMEN_CATALOG": str(CATALOG_PATH),
            "CERTAMEN_PRODUCER_GRPC_PORT": str(grpc),
            "CERTAMEN_PRODUCER_WASM_PORT": str(wasm),
            "CERTAMEN_PRODUCER_WASM_METRICS_PORT": str(wasm_metrics),
            "CERTAMEN_CONSUMER_PORT": str(consumer),
            "CERTAMEN_CONSUMER_METRICS_PORT": str(consumer_metrics),
            "CERTAMEN_STREAMLIT_PORT": str(streamlit),
            "CERTAMEN_SOURCE_METRICS_PORT": str(metrics),
        }
    )
    env.pop("PORT", None)
    settings = load(env)
    store = redis.Redis.from_url(settings.redis_url)
    store.flushdb()
    certamen = [sys.executable, "-m", "certamen.operations.cli"]
    try:
        subprocess.run([*certamen, "up"], env=env, check=True, timeout=STACK_TIMEOUT_S)
        yield settings
    finally:
        subprocess.run([*certamen, "down"], env=env, timeout=120)
        store.flushdb()
        store.close()
        mongo = make_mongo(settings)
        mongo.drop_database(settings.mongodb_database)
        mongo.close()


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
    assert int(shown["metrics"]["Votes via wasm"]) == len(BALLOTS)
    browser.get(f"http://127.0.0.1:{stack.ports.streamlit}")  # a fresh, complete drawing
    results_when(browser, settled, timeout_s=60)
    save(browser, "results-live-stack.png")

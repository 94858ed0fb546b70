"""The consumer changes Redis and MongoDB once per vote, whatever is delivered how often.

Duplicates, 20 concurrent copies, a retry after either store kept only half the
write: one document, one count. The consumer runs as ``certamen consumer``.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from pymongo import MongoClient

from certamen.adapters import redis_keys as keys
from certamen.adapters.redis_store import TallyWriter
from certamen.consumer.documents import vote_document
from certamen.contract import VOTE_EVENT_TYPE, Vote
from certamen.results.tally import read_standings
from certamen.settings import Settings
from tests.support.pipeline import (
    Service,
    consumer,
    free_port,
    make_votes,
    produce,
    source,
    source_status,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def sink(pipeline: Settings, tmp_path: Path, metrics_port: int) -> Iterator[str]:
    port = free_port()
    service = consumer(pipeline, port, tmp_path, metrics_port).start()
    yield f"http://127.0.0.1:{port}/"
    service.stop()


def _post(url: str, vote: Vote) -> int:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": vote.vote_id,
        "ce-type": VOTE_EVENT_TYPE,
        "ce-source": f"/producers/{vote.channel}",
        "Content-Type": "application/json",
    }
    request = urllib.request.Request(url, data=vote.to_json(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def _documents(settings: Settings, vote: Vote) -> int:
    with MongoClient(settings.mongodb_uri) as client:
        return client[settings.mongodb_database]["votes"].count_documents({"_id": vote.vote_id})


def _album_votes(store: redis.Redis, vote: Vote) -> int:
    return int(store.hget(keys.BY_ALBUM, vote.album_key) or 0)


def test_the_same_event_twice_is_counted_once(
    pipeline: Settings, store: redis.Redis, sink: str
) -> None:
    (vote,) = make_votes(1)
    assert _post(sink, vote) == 200
    assert _post(sink, vote) == 200
    standings = read_standings(store)
    assert (standings.total, _album_votes(store, vote), _documents(pipeline, vote)) == (1, 1, 1)
    assert standings.by_channel[vote.channel] == 1
    assert store.exists(keys.COUNTED_PREFIX + vote.vote_id)
    assert 0 < store.ttl(keys.COUNTED_PREFIX + vote.vote_id) <= 31 * 24 * 3600


def test_a_request_that_is_no_cloudevent_is_400_and_changes_nothing(
    pipeline: Settings, store: redis.Redis, sink: str
) -> None:
    request = urllib.request.Request(
        sink, data=b"hello", headers={"Content-Type": "text/plain"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    assert b"CloudEvent" in refused.value.read()
    with MongoClient(pipeline.mongodb_uri) as client:
        database = client[pipeline.mongodb_database]
        assert database["votes"].count_documents({}) == 0
        assert database["dead_letters"].count_documents({}) == 0
    assert (read_standings(store).total, read_standings(store).dead_letters) == (0, 0)


def test_20_concurrent_copies_are_counted_once(
    pipeline: Settings, store: redis.Redis, sink: str
) -> None:
    (vote,) = make_votes(1, seed=20)
    start = threading.Barrier(20)
    statuses: list[int] = []

    def deliver() -> None:
        start.wait()
        statuses.append(_post(sink, vote))

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 20
    assert (read_standings(store).total, _album_votes(store, vote)) == (1, 1)
    assert _documents(pipeline, vote) == 1
    rank_sum = float(store.hget(keys.RANK_SUM, vote.album_key) or 0)
    assert rank_sum == pytest.approx(float(vote.rank))


def test_a_retry_after_only_redis_counted_adds_the_document_not_a_count(
    pipeline: Settings, store: redis.Redis, sink: str
) -> None:
    (vote,) = make_votes(1, seed=3)
    assert TallyWriter(store).count_votes([vote]) == [True]  # as if MongoDB failed after Redis
    assert _post(sink, vote) == 200
    assert (read_standings(store).total, _documents(pipeline, vote)) == (1, 1)


def test_a_retry_after_only_mongodb_logged_adds_the_count_not_a_document(
    pipeline: Settings, store: redis.Redis, sink: str
) -> None:
    (vote,) = make_votes(1, seed=4)
    with MongoClient(pipeline.mongodb_uri) as client:  # as if Redis had failed after MongoDB
        document = vote_document(vote, processed_at=datetime.now(UTC))
        client[pipeline.mongodb_database]["votes"].insert_one(document)
    assert read_standings(store).total == 0
    assert _post(sink, vote) == 200
    assert _post(sink, vote) == 200
    assert (read_standings(store).total, _documents(pipeline, vote)) == (1, 1)


def test_a_vote_written_twice_to_kafka_is_counted_once(
    pipeline: Settings, store: redis.Redis, sink: str, metrics_port: int, tmp_path: Path
) -> None:
    votes = make_votes(50, seed=5)
    produce(pipeline, votes + votes[:10])
    port = free_port()
    service: Service = source(pipeline, sink, port, tmp_path).start()
    try:
        wait_until(lambda: source_status(port)["delivered"] == 60, 60, "60 records delivered")
    finally:
        service.stop()
    assert read_standings(store).total == 50
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        metrics = response.read().decode()
    assert 'certamen_consumer_events_total{outcome="duplicate"} 10.0' in metrics
    assert 'certamen_consumer_events_total{outcome="counted"} 50.0' in metrics

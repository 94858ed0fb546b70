"""Records of the original Go producer, accepted as votes of channel ``legacy`` when told to.

The records are written exactly as that producer wrote them: ``json.Marshal`` of
``struct{Name, Album, Year, Rank string}`` (capitalised keys, all strings, Go's
escaping of ``&``, ``<`` and ``>``, other text as UTF-8), with no key and no
headers, to whatever partition. Real Kafka, source, consumer, Redis and FerretDB.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from kafka import KafkaProducer
from pymongo import MongoClient

from certamen.adapters import redis_keys as keys
from certamen.adapters.kafka import make_producer
from certamen.contract import format_timestamp
from certamen.settings import Settings
from tests.support.pipeline import deliver

pytestmark = pytest.mark.integration

# (partition, value) as the Go producer's json.Marshal wrote them.
VALID = (
    (0, b'{"Name":"Bohemia Suburbana","Album":"Mis palabras","Year":"1997","Rank":"9.5"}'),
    (1, '{"Name":"Malacates Trébol Shop","Album":"Niño de la Calle","Year":"2008","Rank":"100"}'
        .encode()),
    (2, b'{"Name":"Rock \\u0026 Roll","Album":"\\u003cEn vivo\\u003e","Year":"2001","Rank":"7"}'),
)  # fmt: skip
BROKEN = (
    (0, b'{"Name":"","Album":"Mis palabras","Year":"1997","Rank":"5"}', ("name", "empty")),
    (1, b'{"Name":"Alux Nahual","Album":"Conquista","Year":"83","Rank":"5"}', ("year", "format")),
    (2, b'{"Name":"Alux Nahual","Album":"Conquista","Year":"1983","Rank":"101"}',
        ("rank", "range")),
)  # fmt: skip


@pytest.fixture
def store(pipeline: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
    yield client
    client.close()


def _write(settings: Settings, records: list[tuple[int, bytes]]) -> list[tuple[int, int, int]]:
    """Write as the Go producer did; (partition, offset, timestamp ms) of each record."""
    producer: KafkaProducer = make_producer(settings)
    try:
        written = []
        for partition, value in records:
            meta = producer.send(settings.votes_topic, value=value, partition=partition).get(30)
            written.append((meta.partition, meta.offset, meta.timestamp))
        return written
    finally:
        producer.close()


def test_legacy_records_are_counted_once_and_broken_ones_dead_lettered(
    pipeline: Settings, store: redis.Redis, tmp_path: Path
) -> None:
    accepting = replace(pipeline, legacy_records="accept")
    written = _write(accepting, [*VALID, *((p, v) for p, v, _ in BROKEN)])
    deliver(accepting, 6, tmp_path)

    assert store.get(keys.TOTAL) == "3"
    assert store.hget(keys.BY_CHANNEL, "legacy") == "3"
    assert store.hget(keys.BY_ALBUM, "Rock & Roll \u2014 <En vivo>") == "1"
    assert store.get(keys.DEAD_LETTERS) == "3"
    assert store.hgetall(keys.DEAD_LETTERS_BY_REASON) == {"empty": "1", "format": "1", "range": "1"}
    with MongoClient(pipeline.mongodb_uri) as client:
        db = client[pipeline.mongodb_database]
        votes = {d["_id"]: d for d in db["votes"].find()}
        letters = list(db["dead_letters"].find())
    topic = pipeline.votes_topic
    for partition, offset, timestamp in written[:3]:
        vote = votes[f"legacy:{topic}:{partition}:{offset}"]
        assert vote["channel"] == "legacy"
        received = datetime.fromtimestamp(timestamp / 1000, UTC)
        assert vote["received_at"] == format_timestamp(received)
    assert votes[f"legacy:{topic}:1:{written[1][1]}"]["name"] == "Malacates Trébol Shop"
    assert votes[f"legacy:{topic}:0:{written[0][1]}"]["rank"] == 9.5
    rules = {(d["reason"]["field"], d["reason"]["rule"]) for d in letters}
    assert rules == {reason for _, _, reason in BROKEN}

    # Delivered again from the start (another consumer group): counted once all the same.
    again = replace(accepting, source=replace(accepting.source, consumer_group=f"again-{topic}"))
    deliver(again, 6, tmp_path)
    assert store.get(keys.TOTAL) == "3" and store.get(keys.DEAD_LETTERS) == "3"


def test_legacy_records_are_dead_letters_by_default(
    pipeline: Settings, store: redis.Redis, tmp_path: Path
) -> None:
    _write(pipeline, list(VALID[:1]))
    deliver(pipeline, 1, tmp_path)
    assert store.get(keys.TOTAL) in (None, "0")
    assert store.hgetall(keys.DEAD_LETTERS_BY_REASON) == {"unknown_type": "1"}

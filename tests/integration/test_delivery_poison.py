"""Poison on the topic: a record that is no CloudEvent and an invalid vote become dead letters
with their reasons, are acknowledged, and the votes behind them in the partition are counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kafka import KafkaProducer
from pymongo import MongoClient

from certamen.adapters.kafka import make_producer, send_message
from certamen.contract import Vote, vote_to_kafka
from certamen.results.tally import read_standings
from certamen.settings import Settings
from tests.support.pipeline import (
    consumer,
    free_port,
    isolated,
    make_votes,
    source,
    source_status,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(contest: Settings) -> Settings:
    return isolated(contest, ordering="ordered")  # poison must not block its partition


@pytest.fixture
def producer(pipeline: Settings) -> Iterator[KafkaProducer]:
    client = make_producer(pipeline)
    yield client
    client.close()


def _send_votes(producer: KafkaProducer, topic: str, votes: list[Vote]) -> None:
    for vote in votes:
        message = vote_to_kafka(vote)
        headers = list(message.headers.items())
        producer.send(
            topic, partition=0, key=vote.vote_id.encode(), value=message.value, headers=headers
        )


def test_poison_is_dead_lettered_with_reasons_and_the_stream_continues(
    pipeline: Settings, producer: KafkaProducer, tmp_path: Path
) -> None:
    before, after = make_votes(100, seed=1), make_votes(100, seed=2)
    (invalid,) = make_votes(1, seed=3)
    topic = pipeline.votes_topic
    _send_votes(producer, topic, before)
    producer.send(topic, partition=0, key=b"not-a-vote", value=b"hello, not a CloudEvent")
    bad = vote_to_kafka(invalid)
    value = invalid.to_json().replace(b'"channel":', b'"rank_extra":1,"channel":')
    send_message(producer, topic, type(bad)(headers=bad.headers, key=bad.key, value=value))
    _send_votes(producer, topic, after)
    producer.flush()

    consumer_port, status_port = free_port(), free_port()
    services = [
        consumer(pipeline, consumer_port, tmp_path),
        source(pipeline, f"http://127.0.0.1:{consumer_port}", status_port, tmp_path),
    ]
    store = redis.Redis.from_url(pipeline.redis_url)
    try:
        for service in services:
            service.start()
        wait_until(lambda: source_status(status_port)["delivered"] == 202, 90, "202 deliveries")
        standings = read_standings(store)
    finally:
        for service in reversed(services):
            service.stop()
        store.close()

    assert standings.total == 200  # the 100 votes behind the poison were counted too
    assert standings.dead_letters == 2
    assert standings.dead_letters_by_reason == {"unknown_field": 1, "unknown_type": 1}
    with MongoClient(pipeline.mongodb_uri) as client:
        letters = {
            d["reason"]["rule"]: d for d in client[pipeline.mongodb_database]["dead_letters"].find()
        }
    foreign = letters["unknown_type"]
    assert foreign["reason"]["field"] == "type"
    assert foreign["event"]["attributes"]["type"] == "dev.knative.kafka.event"
    assert foreign["event"]["attributes"]["key"] == "not-a-vote"
    assert foreign["event"]["data"] == "hello, not a CloudEvent"
    assert foreign["partition"] == 0 and foreign["topic"] == topic
    wrong = letters["unknown_field"]
    assert wrong["reason"]["field"] == "rank_extra"
    assert wrong["event"]["attributes"]["id"] == invalid.vote_id
    assert wrong["event"]["data"] == value.decode()
    assert wrong["failed_at"] is not None

"""``certamen smoke``: one vote through the running stack, from Kafka into Redis and MongoDB.

It produces a vote CloudEvent to ``votes`` as a producer would (acks=all), then
waits, bounded, until the consumer counted it in Redis and logged it in MongoDB.
A failure says which of the two did not happen and where to look.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import redis
from kafka.errors import KafkaError
from pymongo import MongoClient
from rich.console import Console

from certamen.adapters import redis_keys
from certamen.adapters.kafka import make_producer, send_message
from certamen.contract import Vote, new_vote_id, parse_ballot, vote_to_kafka
from certamen.operations.stack.console import make_console, print_error
from certamen.operations.stack.errors import StackError
from certamen.settings import Settings

WAIT_S = 20.0
_BALLOT = b'{"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}'


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Send one vote and wait until Redis and MongoDB both show it."""
    out = make_console()
    store = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    mongo: MongoClient[dict[str, object]] = MongoClient(
        settings.mongodb_uri, serverSelectionTimeoutMS=5000
    )
    try:
        smoke_vote(settings, store, mongo, out)
    except (StackError, redis.RedisError) as e:
        print_error("smoke", e)
        return 1
    finally:
        store.close()
        mongo.close()
    return 0


def smoke_vote(
    settings: Settings,
    store: redis.Redis,
    mongo: MongoClient[dict[str, object]],
    out: Console,
) -> Vote:
    """The smoke test itself, with its clients passed in."""
    now = datetime.now(UTC)
    ballot = parse_ballot(_BALLOT, year_now=now.year)
    vote = Vote.from_ballot(ballot, vote_id=new_vote_id(), channel="grpc", received_at=now)
    before = int(store.get(redis_keys.TOTAL) or 0)
    producer = make_producer(settings)
    try:
        metadata = send_message(producer, settings.votes_topic, vote_to_kafka(vote)).get(
            timeout=settings.kafka_timeout_s * 2
        )
    except KafkaError as e:
        raise StackError(f"Kafka did not acknowledge the vote: {e}") from e
    finally:
        producer.close()
    out.print(
        f"sent vote {vote.vote_id} to {settings.votes_topic} "
        f"(partition {metadata.partition}, offset {metadata.offset}); acknowledged by Kafka"
    )
    votes = mongo[settings.mongodb_database]["votes"]
    out.print(
        f"waiting up to {WAIT_S:.0f} s for Redis {redis_keys.TOTAL} > {before} and "
        f"MongoDB {settings.mongodb_database}.votes {{_id: {vote.vote_id}}}"
    )
    deadline = time.monotonic() + WAIT_S
    counted = logged = False
    while time.monotonic() < deadline and not (counted and logged):
        counted = counted or int(store.get(redis_keys.TOTAL) or 0) > before
        logged = logged or votes.find_one({"_id": vote.vote_id}) is not None
        time.sleep(0.25)
    if not (counted and logged):
        missing = [
            what
            for what, done in (("counted in Redis", counted), ("logged in MongoDB", logged))
            if not done
        ]
        raise StackError(
            f"the vote was not {' nor '.join(missing)} within {WAIT_S:.0f} s; "
            "check `certamen status` and `certamen logs source` / `certamen logs consumer`"
        )
    out.print(f"[green]smoke ok[/]: Redis {redis_keys.TOTAL} > {before}, MongoDB has the vote")
    return vote

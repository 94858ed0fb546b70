"""Kafka through kafka-python: clients created once, records mapped to cloudevents' KafkaMessage.

Nothing here knows what a vote is; the contract's codecs turn KafkaMessage into votes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from cloudevents.kafka import KafkaMessage
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from certamen.settings import Settings

VOTES_PARTITIONS = 6


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """The one producer of a process: every record acknowledged by all in-sync replicas."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 64 * 1024,
        "max_block_ms": int(settings.kafka_timeout_s * 1000),
        "request_timeout_ms": int(settings.kafka_timeout_s * 1000),
        "retry_backoff_ms": 100,
        "client_id": "certamen-producer",
    }
    options.update(overrides)
    return KafkaProducer(**options)


def make_admin(settings: Settings) -> KafkaAdminClient:
    """An admin client, for topics and health checks."""
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        request_timeout_ms=int(settings.kafka_timeout_s * 1000),
        client_id="certamen-admin",
    )


def ensure_topics(admin: KafkaAdminClient, topics: Iterable[tuple[str, int]]) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    existing = set(admin.list_topics())
    wanted = [NewTopic(name, partitions, 1) for name, partitions in topics if name not in existing]
    if not wanted:
        return []
    with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
        admin.create_topics(wanted)
    return [t.name for t in wanted]


def contest_topics(settings: Settings) -> list[tuple[str, int]]:
    """The topics a contest needs: ``votes`` (6 partitions) and ``votes-dlq``."""
    return [(settings.votes_topic, VOTES_PARTITIONS), (settings.dlq_topic, 1)]


def send_message(producer: KafkaProducer, topic: str, message: KafkaMessage) -> Any:
    """Send a KafkaMessage; returns kafka-python's future (``.get()`` waits for the ack)."""
    key = message.key.encode() if isinstance(message.key, str) else message.key
    value = message.value.encode() if isinstance(message.value, str) else message.value
    return producer.send(
        topic, key=key, value=value, headers=[(k, v) for k, v in message.headers.items()]
    )

"""Reading Kafka back in a test: a consumer, every record of a topic, records as KafkaMessage."""

from __future__ import annotations

import time
from typing import Any

from cloudevents.kafka import KafkaMessage
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from certamen.settings import Settings


def read_records(settings: Settings, topic: str, *, within_s: float) -> list[ConsumerRecord]:
    """Every record on ``topic`` right now; fails if the end is not reached within ``within_s``."""
    consumer = make_consumer(settings, group_id=None, client_id="test-reader")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + within_s
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            assert time.monotonic() < deadline, "could not read the topic to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def make_consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    """A group consumer that never commits on its own: callers commit what they finished."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "group_id": settings.source.consumer_group,
        "enable_auto_commit": False,
        "auto_offset_reset": settings.source.initial_offset,
        "client_id": "certamen-consumer",
    }
    options.update(overrides)
    return KafkaConsumer(*topics, **options)


def message_from_record(record: Any) -> KafkaMessage:
    """A kafka-python ConsumerRecord as a client-independent KafkaMessage."""
    headers = {k: bytes(v) for k, v in (record.headers or [])}
    return KafkaMessage(headers=headers, key=record.key, value=record.value or b"")

"""Reading a Kafka topic back in a test: every record on it, all partitions, from the start."""

from __future__ import annotations

import time

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from certamen.adapters.kafka import make_consumer
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

"""The producers' Kafka client: librdkafka through confluent-kafka, delivery reports in a thread.

Why not kafka-python here (the rest of the project uses it): a producer's CPU went
mostly into kafka-python building, checksumming and sending record batches in
Python, competing with the request handlers for the GIL. librdkafka does that in
C threads of its own; from Python a vote costs one ``produce()`` call and one
delivery callback (load/results/producer-grpc.md has the figures).

``produce()`` never waits for the network (it only queues), so it is safe on an
event loop. Delivery reports are served by one daemon thread calling ``poll()``:
each vote's callback runs there with ``None`` (Kafka acknowledged it with
``acks=all``) or the name of the error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from cloudevents.kafka import KafkaMessage
from confluent_kafka import KafkaError, KafkaException, Message, Producer

Delivered = Callable[[str | None], None]
"""Called once per record from the delivery thread: None when acknowledged, else the error."""


class SendFailed(Exception):
    """The record could not even be queued (local queue full, producer closed, ...)."""


class KafkaRecordProducer:
    """One librdkafka producer and the thread that serves its delivery reports."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def send(self, topic: str, message: KafkaMessage, on_delivery: Delivered) -> None:
        """Queue a record for ``topic``; ``on_delivery`` tells how it ended."""

        def report(error: KafkaError | None, _: Message) -> None:
            on_delivery(None if error is None else error.name())

        try:
            self._producer.produce(
                topic,
                value=message.value,
                key=message.key,
                headers=list(message.headers.items()),
                on_delivery=report,
            )
        except (BufferError, KafkaException, RuntimeError) as e:
            raise SendFailed(type(e).__name__) from e

    def flush(self, timeout: float) -> int:
        """Wait until every queued record is delivered or failed; return how many are left."""
        return self._producer.flush(timeout)

    def close(self, timeout: float) -> int:
        """Flush, then stop the delivery thread; return how many records were left undelivered."""
        left = self.flush(timeout)
        self._stopping.set()
        self._poller.join(timeout=5)
        return left

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.1)


def client_config(bootstrap_servers: str, role: str) -> dict[str, Any]:
    """What every librdkafka client of ours shares: where Kafka is, who we are, fast recovery."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": f"certamen-{role}",
        # librdkafka backs off up to 10 s between reconnects by default; Kafka coming
        # back after a restart should be noticed within a second.
        "reconnect.backoff.max.ms": 1000,
        "logger": logging.getLogger("kafka.librdkafka"),
    }


def producer_config(
    bootstrap_servers: str, *, compression: str, role: str, **overrides: Any
) -> dict[str, Any]:
    """librdkafka settings for votes: acks=all, idempotent, small linger, bounded delivery."""
    config: dict[str, Any] = {
        **client_config(bootstrap_servers, role),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": compression,
        # A record not delivered within 2 minutes fails (it was answered UNAVAILABLE long
        # before); the client retries with the same vote_id.
        "message.timeout.ms": 120_000,
    }
    config.update(overrides)
    return config

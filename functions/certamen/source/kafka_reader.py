"""The source's side of Kafka: every partition of one topic, read with librdkafka (confluent-kafka).

Why librdkafka: with kafka-python the source decoded record batches and ran its
network loop in Python, on the same GIL as the deliveries; librdkafka fetches and
decodes in C threads of its own, and a batch of records costs one ``consume()``.

The source takes every partition itself (``assign``, no group membership) and keeps
its offsets under the consumer group: one local source needs no rebalances, and
several sources on one topic would each deliver every record (counted once by the
idempotent consumer, but twice the work): run one.

Every call on the reading consumer comes from the event loop's thread and never
waits: confluent-kafka serializes the calls on one client, so a fetch waiting on a
worker thread would hold up a commit on the loop. ``fetch`` takes what librdkafka
has already fetched (the caller sleeps a little when there is nothing), commits are
asynchronous and their outcome comes back through ``on_commit``, served by the
fetches. The end offsets and the group's committed offsets, which wait for the
broker, are asked by a second client of the same group on a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from certamen.adapters.kafka_producer import client_config
from certamen.logs import Sparing
from certamen.settings import Settings
from certamen.source.events import KafkaRecord, PartitionKey
from certamen.source.stopping import wait_or_stop

log = logging.getLogger("certamen.source")

Committed = Callable[[dict[PartitionKey, int]], None]
"""Called on the event loop with the offsets Kafka confirmed."""

# Every blocking call is bounded, so a Kafka that went away stalls nothing for long.
CALL_TIMEOUT_S = 2.0
RETRY_S = 0.5  # between attempts to read the committed offsets at start-up
WARN_EVERY_S = 30.0  # Kafka away: a failing offsets call or commit is said this often
# The broker answers a fetch once this much is there or this long has passed. librdkafka's
# defaults (1 byte, 500 ms) have it answer every produce request with a fetch of its own:
# a request for the broker per batch of a few votes. Waiting up to 25 ms for 100 KB
# makes it at most 40 fetches a second while votes flow (a vote is counted up to 25 ms
# later; the voter's answer does not wait for it) and 40 a second when idle.
FETCH_WAIT_MS = 25
FETCH_MIN_BYTES = 100_000


class TopicUnavailable(Exception):
    """The topic to read does not exist, has no partitions, or Kafka cannot be reached."""


class TopicReader:
    """One librdkafka consumer assigned every partition of ``topic``; see the module's docstring."""

    def __init__(
        self,
        consumer: Consumer,
        offsets: Consumer,
        topic: str,
        partitions: list[int],
        initial_offset: str,
    ) -> None:
        self.topic = topic
        self.partitions = [TopicPartition(topic, p) for p in partitions]
        self._consumer = consumer
        self._offsets = offsets
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-offsets")
        self._on_committed: Committed = lambda _: None
        self._fetch_failing = False
        self._warnings = Sparing(WARN_EVERY_S)
        self._initial_offset = initial_offset
        self._starts: dict[PartitionKey, int] = {}

    @classmethod
    def open(cls, settings: Settings) -> TopicReader:
        """Connect and find the topic's partitions (blocking, at start-up)."""
        box: list[TopicReader] = []

        def on_commit(error: KafkaError | None, partitions: list[TopicPartition]) -> None:
            if box:
                box[0]._commit_reported(error, partitions)

        source = settings.source
        config = {
            **client_config(settings.kafka_bootstrap_servers, "source"),
            "group.id": source.consumer_group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": source.initial_offset,
        }
        consumer = Consumer(
            {
                **config,
                "on_commit": on_commit,
                "fetch.wait.max.ms": FETCH_WAIT_MS,
                "fetch.min.bytes": FETCH_MIN_BYTES,
            }
        )
        offsets = Consumer({**config, "client.id": "certamen-source-offsets"})
        topic = settings.votes_topic
        try:
            metadata = consumer.list_topics(topic, timeout=settings.kafka_timeout_s)
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                why = found.error if found is not None and found.error else "no partitions"
                raise TopicUnavailable(f"the topic {topic!r} cannot be read: {why}")
        except KafkaException as e:
            consumer.close()
            offsets.close()
            raise TopicUnavailable(f"Kafka at {settings.kafka_bootstrap_servers}: {e}") from e
        except TopicUnavailable:
            consumer.close()
            offsets.close()
            raise
        reader = cls(consumer, offsets, topic, sorted(found.partitions), source.initial_offset)
        box.append(reader)
        return reader

    async def assign(self, on_committed: Committed, stopping: asyncio.Event) -> bool:
        """Take every partition from the group's committed offsets (else ``initialOffset``).

        We read the committed offsets ourselves, until Kafka answers, and assign them
        explicitly: left to librdkafka, an offset fetch answered "not coordinator" (a
        Kafka just started) leaves the partitions unfetched for good (librdkafka issue
        5586). False if ``stopping`` was set first.
        """
        self._on_committed = on_committed
        loop = asyncio.get_running_loop()
        while (positions := await loop.run_in_executor(self._thread, self._read_positions)) is None:
            if await wait_or_stop(stopping, RETRY_S):
                return False
        self._consumer.assign(
            [TopicPartition(t, p, offset) for (t, p), offset in positions.items()]
        )
        return True

    @property
    def starts(self) -> dict[PartitionKey, int]:
        """Where delivery began in each partition that had no committed offset (``initialOffset``
        resolved at assignment): what the group has to deliver counts from there."""
        return dict(self._starts)

    def fetch(self, max_records: int) -> list[KafkaRecord]:
        """Up to ``max_records`` records librdkafka holds now (never waits)."""
        records = []
        for message in self._consumer.consume(max_records, 0):
            error = message.error()
            if error is None:
                records.append(_record(message))
            elif not self._fetch_failing:  # say it once per outage, not per fetch
                log.warning("fetching from Kafka: %s", error)
                self._fetch_failing = True
        if records and self._fetch_failing:
            log.info("fetching from Kafka again")
            self._fetch_failing = False
        return records

    def commit(self, offsets: dict[PartitionKey, int]) -> None:
        """Commit asynchronously; the offsets Kafka confirmed reach ``on_committed``."""
        listed = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            self._consumer.commit(offsets=listed, asynchronous=True)
        except KafkaException as e:  # the next commit covers these offsets
            self._warn("commit failed (%s); it is tried again", e)

    def serve(self) -> None:
        """Serve callbacks (commit outcomes) without taking records: for after ``pause_all``."""
        self._consumer.poll(0)

    def pause_all(self) -> None:
        """Stop fetching (at shutdown, before the last commit)."""
        with contextlib.suppress(KafkaException):  # never assigned: stopped at start-up
            self._consumer.pause(self.partitions)

    async def end_offsets(self) -> dict[PartitionKey, int]:
        """The end of the log of each partition Kafka answered for."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._end_offsets)

    async def committed(self) -> dict[PartitionKey, int]:
        """The group's committed offset of each partition that has one."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._committed)

    def close(self) -> None:
        """Leave Kafka (after the worker thread's call returned)."""
        self._thread.shutdown(wait=True)
        self._offsets.close()
        self._consumer.close()

    def _end_offsets(self) -> dict[PartitionKey, int]:
        ends = {}
        for tp in self.partitions:
            try:
                _, high = self._offsets.get_watermark_offsets(tp, timeout=CALL_TIMEOUT_S)
            except KafkaException as e:
                self._warn("cannot read the end offsets (%s)", e)
                break
            ends[(tp.topic, tp.partition)] = high
        return ends

    def _committed(self) -> dict[PartitionKey, int]:
        return self._read_committed() or {}

    def _read_positions(self) -> dict[PartitionKey, int] | None:
        """Where to start each partition: the committed offset, else ``initialOffset`` as an
        offset (the log's start or its end right now); None if Kafka did not say."""
        committed = self._read_committed()
        if committed is None:
            return None
        positions = {}
        for tp in self.partitions:
            key = (tp.topic, tp.partition)
            if key in committed:
                positions[key] = committed[key]
                continue
            try:
                low, high = self._offsets.get_watermark_offsets(tp, timeout=CALL_TIMEOUT_S)
            except KafkaException as e:
                self._warn("cannot read the start of the log (%s)", e)
                return None
            positions[key] = self._starts[key] = low if self._initial_offset == "earliest" else high
        return positions

    def _read_committed(self) -> dict[PartitionKey, int] | None:
        """The committed offsets (partitions without one left out); None if Kafka did not say."""
        try:
            found = self._offsets.committed(self.partitions, timeout=CALL_TIMEOUT_S)
        except KafkaException as e:
            self._warn("cannot read the committed offsets (%s)", e)
            return None
        failed = [tp.error for tp in found if tp.error is not None]
        if failed:
            self._warn("cannot read the committed offsets (%s)", failed[0])
            return None
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}

    def _commit_reported(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """From librdkafka, inside a fetch on the loop's thread: the offsets confirmed."""
        if error is not None:
            self._warn("commit failed (%s); it is tried again", error)
            return
        confirmed = {
            (tp.topic, tp.partition): tp.offset
            for tp in partitions
            if tp.error is None and tp.offset >= 0
        }
        if confirmed:
            self._on_committed(confirmed)

    def _warn(self, message: str, error: object) -> None:
        """While Kafka is away these fail on every try: say each kind every 30 s, with a count."""
        held = self._warnings.due(message)
        if held is not None:
            suffix = f" ({held} more like it held back)" if held else ""
            log.warning(message + suffix, error)


def _record(message: Message) -> KafkaRecord:
    """librdkafka's message as a client-independent :class:`KafkaRecord`."""
    _, timestamp = message.timestamp()
    headers: Any = message.headers()
    return KafkaRecord(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        timestamp_ms=timestamp,
        key=message.key(),
        value=message.value(),
        headers=tuple((k, v or b"") for k, v in headers) if headers else (),
    )

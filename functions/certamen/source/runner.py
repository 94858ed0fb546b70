"""``certamen source``: the local KafkaSource, from the ``votes`` topic to the sink (``K_SINK``).

One thread owns the Kafka consumer (kafka-python's is not thread-safe): it fetches,
hands records to the dispatcher's delivery threads, collects their outcomes and
commits, per partition, the offset after the contiguous prefix of finished records.
A record is finished when the sink took it or the dead-letter topic did, so a crash
or a rebalance redelivers and never skips (at-least-once; the consumer is idempotent).
SIGTERM stops fetching, ends the retries, waits for the requests in flight,
commits and leaves the group.
"""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import sys
import threading
import time
from collections import deque
from types import FrameType
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry

from certamen.adapters.kafka import make_consumer, make_producer
from certamen.logs import configure_json_logging
from certamen.settings import Settings
from certamen.source.backoff import RetryPolicy
from certamen.source.delivery import Answer, DeadLetterSink, HttpSink, deliver
from certamen.source.dispatcher import Dispatcher, PartitionKey
from certamen.source.events import (
    KafkaRecord,
    origin_headers,
    outgoing_event,
    record_from_kafka,
)
from certamen.source.offsets import PartitionProgress
from certamen.source.status import SourceMetrics, StatusServer

log = logging.getLogger("certamen.source")

POLL_TIMEOUT_MS = 100
# With the window full we do not fetch, but kafka-python wants a poll now and then
# (max.poll.interval.ms): such a poll takes one record, kept until there is room.
KEEPALIVE_POLL_S = 30.0
COMMIT_EVERY_S = 0.2
# Every blocking call of the consumer's thread is bounded: kafka-python retries an
# offset fetch or commit forever while a rebalance is under way, and a thread stuck
# there stops polling, so the group drops the source and nothing is delivered.
CALL_TIMEOUT_MS = 2_000
LAG_EVERY_S = 1.0


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run until SIGTERM or SIGINT; 1 if Kafka cannot be reached at start-up."""
    configure_json_logging()
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO is per connection
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        source = Source.open(settings)
    except (KafkaError, OSError) as e:
        print(f"certamen source: cannot start: {e}", file=sys.stderr)
        return 1
    try:
        source.run(stop)
    except KafkaError as e:
        print(f"certamen source: {e}", file=sys.stderr)
        return 1
    return 0


def status_port(settings: Settings) -> int:
    """Where /metrics and /status listen: ``PORT`` if set, else the source's metrics port."""
    return settings.port if settings.port is not None else settings.ports.source_metrics


class Source:
    """Kafka to the sink with KafkaSource's semantics; see the module's docstring."""

    def __init__(
        self,
        settings: Settings,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        registry: CollectorRegistry,
    ) -> None:
        source = settings.source
        self._settings = settings
        self._consumer = consumer
        self._producer = producer
        self._ordered = source.ordering == "ordered"
        self._window = source.window
        self._policy = RetryPolicy.from_settings(source)
        self._sink = HttpSink(source.sink, connections=source.window)
        self._dead_letters = DeadLetterSink(
            producer, settings.dlq_topic, timeout_s=settings.kafka_timeout_s
        )
        self._metrics = SourceMetrics(registry)
        self._stopping = threading.Event()
        self._dispatcher = Dispatcher(self._work, ordered=self._ordered, threads=source.window)
        # Owned by the consumer's thread:
        self._progress: dict[PartitionKey, PartitionProgress] = {}
        self._in_flight: dict[PartitionKey, int] = {}
        self._committed: dict[PartitionKey, int] = {}
        self._ends: dict[PartitionKey, int] = {}
        self._backlog: deque[KafkaRecord] = deque()
        self._last_poll = time.monotonic()
        self._outcomes = {"delivered": 0, "dead_lettered": 0}
        self._last_commit = 0.0
        self._last_lag = 0.0
        self._snapshot: dict[str, Any] = self._status()
        self._server = StatusServer(
            settings.bind_host, status_port(settings), self._metrics, lambda: self._snapshot
        )

    @classmethod
    def open(cls, settings: Settings) -> Source:
        """Connect to Kafka (consumer and dead-letter producer) and bind the status port."""
        consumer = make_consumer(
            settings,
            client_id="certamen-source",
            max_poll_records=settings.source.window,
            # A killed source's partitions move to its successor after this long.
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
        )
        try:
            producer = make_producer(settings, client_id="certamen-source-dlq")
        except BaseException:
            consumer.close()
            raise
        try:
            return cls(settings, consumer, producer, CollectorRegistry())
        except BaseException:
            consumer.close()
            producer.close()
            raise

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set, then stop gracefully."""
        source = self._settings.source
        # The source takes every partition of the topic itself (assign, not subscribe)
        # and keeps its offsets under the consumer group. kafka-python 3.0.12 can stall
        # in a group rebalance (commits refused "undergoing a rebalance" until the
        # broker drops the member), which stopped all delivery; one local source needs
        # no group membership. Several sources on one topic would each deliver every
        # record: the consumer is idempotent, but run one.
        topic = self._settings.votes_topic
        partitions = sorted(self._consumer.partitions_for_topic(topic) or ())
        if not partitions:
            raise KafkaError(f"the topic {topic!r} does not exist or has no partitions")
        assigned = [TopicPartition(topic, p) for p in partitions]
        self._consumer.assign(assigned)
        log.info("partitions assigned: %s", partitions)
        self._server.start()
        log.info(
            "delivering %s to %s (group %s, %s, window %d, retry %d, %s backoff %.3gs)",
            self._settings.votes_topic,
            source.sink,
            source.consumer_group,
            source.ordering,
            source.window,
            source.retry,
            source.backoff_policy,
            source.backoff_delay_s,
        )
        try:
            while not stop.is_set():
                self._commit()
                self._refresh_lag()
                self._hand_out()
                room = self._window - sum(self._in_flight.values())
                overdue = time.monotonic() - self._last_poll > KEEPALIVE_POLL_S
                if (room > 0 and not self._backlog) or overdue:
                    self._poll(max_records=max(1, room), timeout_ms=POLL_TIMEOUT_MS if room else 0)
                    self._collect(wait_s=0.0)
                else:
                    self._collect(wait_s=POLL_TIMEOUT_MS / 1000)
        finally:
            self._shutdown()

    # -- the consumer's thread -------------------------------------------------------------

    def _poll(self, *, max_records: int, timeout_ms: int) -> None:
        """Fetch at most what the window has room for.

        We never pause partitions: kafka-python 3.0.12 stops fetching a partition for
        good once it was paused with fetched records buffered (its KAFKA-7548 port
        tests ``is None`` on an exhausted batch). Not polling is our back-pressure.
        """
        batch = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        self._last_poll = time.monotonic()
        for records in batch.values():
            self._backlog.extend(record_from_kafka(record) for record in records)
        self._hand_out()

    def _hand_out(self) -> None:
        """Give fetched records to the dispatcher while the window has room."""
        while self._backlog and sum(self._in_flight.values()) < self._window:
            record = self._backlog.popleft()
            key = (record.topic, record.partition)
            if self._progress.setdefault(key, PartitionProgress()).start(record.offset):
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
                self._dispatcher.submit(record)
        self._metrics.in_flight.set(sum(self._in_flight.values()))

    def _collect(self, *, wait_s: float) -> None:
        """Take the outcomes the delivery threads reported, waiting up to ``wait_s`` for one."""
        finished = self._dispatcher.finished
        try:
            done = finished.get(timeout=wait_s) if wait_s > 0 else finished.get_nowait()
        except queue.Empty:
            return
        while True:
            key = done.partition
            if done.generation == self._dispatcher.generation(key) and key in self._progress:
                self._in_flight[key] -= 1
                if done.outcome in self._outcomes:
                    self._outcomes[done.outcome] += 1
                    self._progress[key].finish(done.offset)
            try:
                done = finished.get_nowait()
            except queue.Empty:
                return

    def _commit(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_commit < COMMIT_EVERY_S:
            return
        self._last_commit = now
        offsets = {}
        for key in self._progress:
            position = self._progress[key].committable
            if position is not None and position > self._committed.get(key, -1):
                offsets[TopicPartition(*key)] = OffsetAndMetadata(position, "", -1)
        if not offsets:
            return
        try:
            self._consumer.commit(offsets, timeout_ms=CALL_TIMEOUT_MS)
        except KafkaError as e:  # e.g. a time-out: the next commit covers these offsets
            log.warning("commit failed (%s); those records will be delivered again", e)
            return
        for tp, meta in offsets.items():
            key = (tp.topic, tp.partition)
            self._committed[key] = meta.offset
            self._metrics.committed.labels(tp.topic, str(tp.partition)).set(meta.offset)

    def _refresh_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag < LAG_EVERY_S:
            return
        self._last_lag = now
        assigned = list(self._consumer.assignment())
        if assigned:
            try:
                ends = self._consumer.end_offsets(assigned, timeout_ms=CALL_TIMEOUT_MS)
            except KafkaError as e:
                log.warning("cannot read the end offsets (%s)", e)
                ends = {}
            for tp, end in ends.items():
                key = (tp.topic, tp.partition)
                self._ends[key] = end
                if key not in self._committed:
                    self._committed_before_us(tp)
                lag = max(0, end - self._committed.get(key, end))
                self._metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)
        self._snapshot = self._status()

    def _committed_before_us(self, tp: TopicPartition) -> None:
        """The group's committed offset of a partition we have not committed yet (for its lag)."""
        try:
            committed = self._consumer.committed(tp, timeout_ms=CALL_TIMEOUT_MS)
        except KafkaError:
            return
        if committed is not None:
            self._committed[(tp.topic, tp.partition)] = committed

    def _status(self) -> dict[str, Any]:
        partitions = []
        for key in sorted(set(self._ends) | set(self._progress)):
            end, committed = self._ends.get(key), self._committed.get(key)
            partitions.append(
                {
                    "topic": key[0],
                    "partition": key[1],
                    "committed": committed,
                    "end": end,
                    "lag": None if end is None else max(0, end - (committed or end)),
                    "in_flight": self._in_flight.get(key, 0),
                }
            )
        source = self._settings.source
        return {
            "topic": self._settings.votes_topic,
            "group": source.consumer_group,
            "sink": source.sink,
            "ordering": source.ordering,
            "window": source.window,
            "delivered": self._outcomes["delivered"],
            "dead_lettered": self._outcomes["dead_lettered"],
            "in_flight": sum(self._in_flight.values()),
            "lag": sum(p["lag"] or 0 for p in partitions),
            "partitions": partitions,
        }

    def _shutdown(self) -> None:
        log.info("stopping: finishing the deliveries in flight")
        self._stopping.set()
        self._dispatcher.shutdown()
        self._collect(wait_s=0.0)
        self._commit(force=True)
        for closing in (
            lambda: self._consumer.close(autocommit=False),
            lambda: self._producer.close(timeout=self._settings.kafka_timeout_s),
            self._sink.close,
            self._server.close,
        ):
            try:
                closing()
            except Exception as e:  # closing is best effort; the offsets are committed
                log.warning("while closing: %s", e)
        log.info("stopped: %s", {k: v for k, v in self._outcomes.items()})

    # -- the delivery threads ----------------------------------------------------------------

    def _work(self, record: KafkaRecord) -> str:
        """Deliver one record; returns delivered, dead_lettered or abandoned (stopping)."""
        while True:
            try:
                return self._deliver(record)
            except Exception:
                log.exception(
                    "unexpected failure delivering partition %d offset %d; trying again",
                    record.partition,
                    record.offset,
                )
                if self._stopping.wait(1.0):
                    return "abandoned"

    def _deliver(self, record: KafkaRecord) -> str:
        started = time.perf_counter()
        event = outgoing_event(record)
        origin = origin_headers(record)

        def on_retry(answer: Answer) -> None:
            self._metrics.retries.labels(
                "none" if answer.status is None else str(answer.status)
            ).inc()

        verdict = deliver(
            event,
            lambda e: self._sink.post(e, origin),
            self._policy,
            self._stopping.wait,
            self._sink.url,
            on_retry,
        )
        if verdict.delivered:
            outcome = "delivered"
        elif verdict.error is None:
            return "abandoned"
        else:
            log.warning(
                "partition %d offset %d (event %s): status %s after %d attempt(s); dead-lettered",
                record.partition,
                record.offset,
                event.event_id,
                verdict.error.status,
                verdict.attempts,
            )
            if not self._dead_letters.put(event, record.key, verdict.error, self._stopping):
                return "abandoned"
            outcome = "dead_lettered"
        self._metrics.deliveries.labels(outcome).inc()
        self._metrics.latency.observe(time.perf_counter() - started)
        return outcome

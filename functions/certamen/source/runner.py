"""``certamen source``: the local KafkaSource, from the ``votes`` topic to the sink (``K_SINK``).

One event loop does the work: it fetches records (librdkafka, ``kafka_reader.py``),
hands them to the dispatcher's delivery tasks while the window has room, collects
their outcomes and commits, per partition, the offset after the contiguous prefix
of finished records. A record is finished when the sink took it or the dead-letter
topic did, so a crash redelivers and never skips (at-least-once; the consumer is
idempotent). SIGTERM stops fetching, ends the retries, waits for the requests in
flight, commits and closes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections import deque
from typing import Any

import uvloop
from confluent_kafka import KafkaException
from prometheus_client import CollectorRegistry

from certamen.adapters.kafka_producer import KafkaRecordProducer, producer_config
from certamen.logs import configure_json_logging
from certamen.settings import Settings
from certamen.source.backoff import RetryPolicy
from certamen.source.delivery import DeadLetterSink, deliver
from certamen.source.dispatcher import Dispatcher
from certamen.source.events import KafkaRecord, PartitionKey, outgoing_event
from certamen.source.http_sink import HttpSink
from certamen.source.kafka_reader import TopicReader, TopicUnavailable
from certamen.source.offsets import PartitionProgress
from certamen.source.sink import Answer
from certamen.source.status import SourceMetrics, StatusServer
from certamen.source.stopping import wait_or_stop

log = logging.getLogger("certamen.source")

# With nothing fetched, look again after 1 ms, doubling up to 20 ms while idle: the
# delay a record can wait before it is handed out (librdkafka has no wake-up we can await).
FETCH_IDLE_MIN_S = 0.001
FETCH_IDLE_MAX_S = 0.02
# Records fetched ahead of the window (not yet handed out, so nothing to commit).
FETCH_AHEAD = 500
COMMIT_EVERY_S = 0.2
LAG_EVERY_S = 1.0


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run until SIGTERM or SIGINT; 1 if Kafka cannot be reached at start-up."""
    configure_json_logging()
    logging.getLogger("kafka").setLevel(logging.WARNING)  # librdkafka's INFO is per connection
    return uvloop.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        source = Source.open(settings)
    except (TopicUnavailable, KafkaException, OSError, ValueError) as e:  # ValueError: K_SINK
        print(f"certamen source: cannot start: {e}", file=sys.stderr)
        return 1
    await source.run(stop)
    return 0


def status_port(settings: Settings) -> int:
    """Where /metrics and /status listen: ``PORT`` if set, else the source's metrics port."""
    return settings.port if settings.port is not None else settings.ports.source_metrics


class Source:
    """Kafka to the sink with KafkaSource's semantics; see the module's docstring."""

    def __init__(
        self,
        settings: Settings,
        reader: TopicReader,
        producer: KafkaRecordProducer,
        registry: CollectorRegistry,
    ) -> None:
        source = settings.source
        self._settings = settings
        self._reader = reader
        self._producer = producer
        self._window = source.window
        self._fetch_ahead = max(FETCH_AHEAD, 2 * source.window)
        self._policy = RetryPolicy.from_settings(source)
        self._sink = HttpSink(source.sink)
        self._dead_letters = DeadLetterSink(
            producer, settings.dlq_topic, timeout_s=settings.kafka_timeout_s
        )
        self._metrics = SourceMetrics(registry)
        self._delivered = self._metrics.deliveries.labels("delivered")
        self._stopping = asyncio.Event()
        self._dispatcher = Dispatcher(
            self._work, self._finished, ordered=source.ordering == "ordered"
        )
        self._progress: dict[PartitionKey, PartitionProgress] = {}
        self._in_flight: dict[PartitionKey, int] = {}
        self._in_flight_total = 0
        self._committed: dict[PartitionKey, int] = {}
        self._ends: dict[PartitionKey, int] = {}
        self._backlog: deque[KafkaRecord] = deque()
        self._room = asyncio.Event()
        self._outcomes = {"delivered": 0, "dead_lettered": 0}
        self._last_lag = 0.0
        self._snapshot: dict[str, Any] = self._status()
        self._server = StatusServer(
            settings.bind_host, status_port(settings), self._metrics, lambda: self._snapshot
        )

    @classmethod
    def open(cls, settings: Settings) -> Source:
        """Connect to Kafka (reader and dead-letter producer) and bind the status port."""
        reader = TopicReader.open(settings)
        producer: KafkaRecordProducer | None = None
        try:
            producer = KafkaRecordProducer(
                producer_config(
                    settings.kafka_bootstrap_servers,
                    compression="none",
                    role="source-dlq",
                    delivery_timeout_s=settings.kafka_timeout_s,
                )
            )
            return cls(settings, reader, producer, CollectorRegistry())
        except BaseException:
            reader.close()
            if producer is not None:
                producer.close(timeout=1.0)
            raise

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then stop gracefully."""
        source = self._settings.source
        self._server.start()
        if not await self._reader.assign(self._confirmed, stop):
            await self._shutdown()
            return
        log.info("partitions assigned: %s", [tp.partition for tp in self._reader.partitions])
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
        loops = [
            asyncio.ensure_future(self._fetch_loop()),
            asyncio.ensure_future(self._bookkeeping_loop()),
        ]
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([stopped, *loops], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        self._stopping.set()
        self._room.set()
        log.info("stopping: finishing the deliveries in flight")
        try:
            await asyncio.gather(*loops)  # re-raises what ended a loop early, after the below
        finally:
            await self._shutdown()

    # -- fetching and handing out ------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        """Keep up to ``_fetch_ahead`` records fetched; not fetching is our back-pressure."""
        idle = FETCH_IDLE_MIN_S
        while not self._stopping.is_set():
            room = self._fetch_ahead - len(self._backlog)
            if room < self._window:
                self._room.clear()
                await self._room.wait()
                continue
            records = self._reader.fetch(room)
            if records:
                idle = FETCH_IDLE_MIN_S
                self._backlog.extend(records)
                self._hand_out()
                await asyncio.sleep(0)  # let the deliveries run between fetches
            else:
                await asyncio.sleep(idle)
                idle = min(2 * idle, FETCH_IDLE_MAX_S)

    def _hand_out(self) -> None:
        """Give fetched records to the dispatcher while the window has room."""
        backlog, window = self._backlog, self._window
        while backlog and self._in_flight_total < window:
            record = backlog.popleft()
            key = (record.topic, record.partition)
            progress = self._progress.get(key)
            if progress is None:
                progress = self._progress[key] = PartitionProgress()
            if progress.start(record.offset):
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
                self._in_flight_total += 1
                self._dispatcher.submit(record)
        if self._fetch_ahead - len(backlog) >= window:
            self._room.set()

    def _finished(self, record: KafkaRecord, outcome: str) -> None:
        """A delivery ended: its record joins the committable prefix unless abandoned."""
        key = (record.topic, record.partition)
        self._in_flight[key] -= 1
        self._in_flight_total -= 1
        if outcome in self._outcomes:
            self._outcomes[outcome] += 1
            self._progress[key].finish(record.offset)
        if not self._stopping.is_set():
            self._hand_out()

    # -- commits, lag, status ----------------------------------------------------------------

    async def _bookkeeping_loop(self) -> None:
        while not self._stopping.is_set():
            self._commit()
            if not self._room.is_set():
                # Fetching waits for room, but the commit outcomes come with fetches: one
                # record now and then serves them (kept, never dropped: a skipped record
                # would be committed over).
                self._backlog.extend(self._reader.fetch(1))
            self._metrics.in_flight.set(self._in_flight_total)
            if time.monotonic() - self._last_lag >= LAG_EVERY_S:
                await self._refresh_lag()
            await wait_or_stop(self._stopping, COMMIT_EVERY_S)

    def _commit(self) -> dict[PartitionKey, int]:
        """Commit every finished prefix that moved; returns what was sent."""
        offsets = {}
        for key, progress in self._progress.items():
            position = progress.committable
            if position is not None and position > self._committed.get(key, -1):
                offsets[key] = position
        if offsets:
            self._reader.commit(offsets)
        return offsets

    def _confirmed(self, offsets: dict[PartitionKey, int]) -> None:
        """Kafka confirmed a commit (on the loop)."""
        for key, offset in offsets.items():
            if offset > self._committed.get(key, -1):
                self._committed[key] = offset
                self._metrics.committed.labels(key[0], str(key[1])).set(offset)

    async def _refresh_lag(self) -> None:
        self._last_lag = time.monotonic()
        ends = await self._reader.end_offsets()
        if any(key not in self._committed for key in ends):
            for key, offset in (await self._reader.committed()).items():
                self._committed.setdefault(key, offset)
        for key, end in ends.items():
            self._ends[key] = end
            self._metrics.lag.labels(key[0], str(key[1])).set(_lag(end, self._committed.get(key)))
        self._snapshot = self._status()

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
                    "lag": None if end is None else _lag(end, committed),
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
            "in_flight": self._in_flight_total,
            "lag": sum(p["lag"] or 0 for p in partitions),
            "partitions": partitions,
        }

    async def _shutdown(self) -> None:
        await self._dispatcher.shutdown()
        await self._last_commit()
        for closing in (
            self._reader.close,
            lambda: self._producer.close(timeout=self._settings.kafka_timeout_s),
            self._sink.close,
            self._server.close,
        ):
            try:
                closing()
            except Exception as e:  # closing is best effort; the offsets are committed
                log.warning("while closing: %s", e)
        log.info("stopped: %s", dict(self._outcomes))

    async def _last_commit(self) -> None:
        """Commit the finished prefixes and wait (bounded) until Kafka confirmed them."""
        self._reader.pause_all()
        sent = self._commit()
        deadline = time.monotonic() + self._settings.kafka_timeout_s
        while any(self._committed.get(k, -1) < o for k, o in sent.items()):
            if time.monotonic() > deadline:
                log.warning("the last commit was not confirmed; those records come again")
                return
            self._reader.serve()
            await asyncio.sleep(0.05)

    # -- deliveries ----------------------------------------------------------------------------

    async def _work(self, record: KafkaRecord) -> str:
        """Deliver one record; returns delivered, dead_lettered or abandoned (stopping)."""
        while True:
            try:
                return await self._deliver(record)
            except Exception:
                log.exception(
                    "unexpected failure delivering partition %d offset %d; trying again",
                    record.partition,
                    record.offset,
                )
                if await wait_or_stop(self._stopping, 1.0):
                    return "abandoned"

    async def _deliver(self, record: KafkaRecord) -> str:
        started = time.perf_counter()
        event = outgoing_event(record)
        result = await deliver(
            event,
            self._sink.post,
            self._policy,
            self._wait,
            self._sink.url,
            self._count_retry,
        )
        if result.delivered:
            self._delivered.inc()
            self._metrics.latency.observe(time.perf_counter() - started)
            return "delivered"
        if result.error is None:
            return "abandoned"
        log.warning(
            "partition %d offset %d (event %s): status %s after %d attempt(s); dead-lettered",
            record.partition,
            record.offset,
            event.event_id,
            result.error.status,
            result.attempts,
        )
        if not await self._dead_letters.put(event, record.key, result.error, self._stopping):
            return "abandoned"
        self._metrics.deliveries.labels("dead_lettered").inc()
        self._metrics.latency.observe(time.perf_counter() - started)
        return "dead_lettered"

    async def _wait(self, seconds: float) -> bool:
        return await wait_or_stop(self._stopping, seconds)

    def _count_retry(self, answer: Answer) -> None:
        self._metrics.retries.labels("none" if answer.status is None else str(answer.status)).inc()


def _lag(end: int, committed: int | None) -> int:
    """Records of a partition not yet committed; none known committed counts as no lag."""
    return max(0, end - (end if committed is None else committed))

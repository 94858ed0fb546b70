"""The producers' Kafka client: librdkafka through confluent-kafka, delivery reports served cheaply.

Why not kafka-python here (admin, topics and tests use it; the source reads with
librdkafka too): kafka-python builds, checksums and sends record batches in
Python, competing with the request handlers for the GIL. librdkafka does that in
C threads of its own; from Python a vote costs one ``produce()`` call and one
delivery callback (load/results/producer-grpc.md has the figures).

``produce()`` never waits for the network (it only queues), so it is safe on an
event loop. Each vote's callback gets ``None`` (Kafka acknowledged it with
``acks=all``) or the name of the error. Who calls ``poll()`` to serve them:

- by default a daemon thread of the producer's own (blocking callers);
- on an asyncio server, :meth:`KafkaRecordProducer.serve_reports_on` hands that job to
  the event loop: it polls every millisecond while records are in flight, so the
  callbacks run on the loop thread. A thread would take the GIL once per report
  (confluent-kafka releases and retakes it around each callback), forcing the busy
  loop thread to give it up every time, and wake the loop once per call; serving
  them on the loop costs neither (load/results/producer-intake.md has the figures).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from cloudevents.kafka import KafkaMessage
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from certamen.adapters.kafka_log import BrokerFailureLog

_Headers = dict[str, str | bytes | None]

Delivered = Callable[[str | None], None]
"""Called once per record, where reports are served: None when acknowledged, else the error."""

LOOP_POLL_S: Final = 0.001
"""How often the event loop serves delivery reports while records are in flight."""
_IDLE_POLL_S: Final = 0.1  # with nothing in flight: only logs and errors to serve


T = TypeVar("T")


def loop_caller(loop: asyncio.AbstractEventLoop) -> Callable[..., None]:
    """``call(fn, *args)``: run ``fn(*args)`` on ``loop``'s thread, from a delivery report.

    Create it on ``loop``'s thread. Reports served on that loop
    (:meth:`KafkaRecordProducer.serve_reports_on`) run ``fn`` at once; reports served by
    the producer's own thread hand it over (``call_soon_threadsafe``), unless the loop
    is closed (nobody is waiting any more).
    """
    loop_thread = threading.get_ident()

    def call(fn: Callable[..., object], *args: object) -> None:
        if threading.get_ident() == loop_thread:
            fn(*args)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    return call


def set_result_once(future: asyncio.Future[T], result: T) -> None:
    """Give ``future`` its result unless it has one (a report after a deadline is too late)."""
    if not future.done():
        future.set_result(result)


class SendFailed(Exception):
    """The record could not even be queued (local queue full, producer closed, ...)."""


class KafkaRecordProducer:
    """One librdkafka producer and whoever serves its delivery reports (a thread or a loop)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = threading.Thread(
            target=self._poll, name="kafka-delivery", daemon=True
        )
        self._poller.start()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.Handle | None = None
        self._busy = False

    def send(self, topic: str, message: KafkaMessage, on_delivery: Delivered) -> None:
        """Queue a record for ``topic``; ``on_delivery`` tells how it ended.

        Once :meth:`serve_reports_on` was called, call this from that loop's thread only.
        """

        def report(error: KafkaError | None, _: Message) -> None:
            on_delivery(None if error is None else error.name())

        try:
            self._producer.produce(
                topic,
                value=message.value,
                key=message.key,
                headers=cast(_Headers, message.headers),  # a dict is taken as it is
                on_delivery=report,
            )
        except (BufferError, KafkaException, RuntimeError) as e:
            raise SendFailed(type(e).__name__) from e
        if self._loop is not None and not self._busy:
            self._poll_soon()

    def serve_reports_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve delivery reports on ``loop`` (its thread) instead of the producer's thread.

        Call it from ``loop``'s thread, before the first :meth:`send` there. The loop polls
        every :data:`LOOP_POLL_S` while records are in flight, every 0.1 s otherwise.
        """
        # Not joined: the thread ends after its current poll (<= 0.1 s), start-up need not
        # wait; a report it serves meanwhile reaches the loop through call_soon_threadsafe.
        self._stop_thread(join=False)
        self._loop = loop
        self._busy = True  # the first tick finds out
        self._tick = loop.call_soon(self._poll_on_loop)

    def flush(self, timeout: float) -> int:
        """Wait until every queued record is delivered or failed; return how many are left.

        The reports are served in the calling thread.
        """
        return self._producer.flush(timeout)

    def close(self, timeout: float) -> int:
        """Flush, then stop serving reports; return how many records were left undelivered."""
        left = self.flush(timeout)
        self._stop_thread()
        if self._tick is not None and self._loop is not None and not self._loop.is_closed():
            self._tick.cancel()
        self._loop = None
        return left

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.1)

    def _stop_thread(self, *, join: bool = True) -> None:
        self._stopping.set()
        if self._poller is not None and join:
            self._poller.join(timeout=5)
        self._poller = None

    def _poll_soon(self) -> None:
        assert self._loop is not None and self._tick is not None
        self._tick.cancel()
        self._busy = True
        self._tick = self._loop.call_later(LOOP_POLL_S, self._poll_on_loop)

    def _poll_on_loop(self) -> None:
        if self._loop is None:  # closed
            return
        self._producer.poll(0)
        self._busy = len(self._producer) > 0
        self._tick = self._loop.call_later(
            LOOP_POLL_S if self._busy else _IDLE_POLL_S, self._poll_on_loop
        )


def client_config(bootstrap_servers: str, role: str) -> dict[str, Any]:
    """What every librdkafka client of ours shares: where Kafka is, who we are, fast recovery."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": f"certamen-{role}",
        # librdkafka backs off up to 10 s between reconnects by default; Kafka coming
        # back after a restart should be noticed within a second.
        "reconnect.backoff.max.ms": 1000,
        # A broker that is away: said once, then every 30 s, not on every reconnect.
        "logger": BrokerFailureLog(logging.getLogger("kafka.librdkafka")),
    }


def producer_config(
    bootstrap_servers: str,
    *,
    compression: str,
    role: str,
    delivery_timeout_s: float,
    **overrides: Any,
) -> dict[str, Any]:
    """librdkafka settings for votes: acks=all, idempotent, small linger, bounded delivery.

    ``delivery_timeout_s`` is ``message.timeout.ms``: every record's delivery report
    comes within it (acknowledged, or given up), and a record given up is never sent
    again, so whoever waits for the report knows the record's fate by then.
    """
    config: dict[str, Any] = {
        **client_config(bootstrap_servers, role),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": compression,
        "message.timeout.ms": int(delivery_timeout_s * 1000),
    }
    config.update(overrides)
    return config

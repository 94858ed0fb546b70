"""Delivering one event: POST to the sink with KafkaSource's retries, else to the dead-letter topic.

``deliver`` is the loop of attempts (pure apart from the ``post`` and ``wait`` it is
given, so its arithmetic is unit-tested); ``DeadLetterSink`` writes to ``votes-dlq``
and insists until Kafka acknowledged, because the record's offset is committed only
after that. Both run on the source's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cloudevents.kafka import KafkaMessage

from certamen.adapters.kafka_producer import (
    KafkaRecordProducer,
    SendFailed,
    loop_caller,
    set_result_once,
)
from certamen.source.backoff import RetryPolicy, is_retryable, is_success
from certamen.source.events import DeliveryError, OutgoingEvent, dead_letter_message
from certamen.source.sink import Answer, Post
from certamen.source.stopping import wait_or_stop

log = logging.getLogger("certamen.source")


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How a delivery ended: delivered, for the dead-letter sink (``error``), or abandoned."""

    delivered: bool
    attempts: int
    error: DeliveryError | None = None

    @property
    def abandoned(self) -> bool:
        """Stopped before an outcome: the record stays uncommitted and will come again."""
        return not self.delivered and self.error is None


Wait = Callable[[float], Awaitable[bool]]  # waits up to n seconds; True when stopping


async def deliver(
    event: OutgoingEvent,
    post: Post,
    policy: RetryPolicy,
    wait: Wait,
    destination: str,
    on_retry: Callable[[Answer], None] = lambda _: None,
) -> DeliveryResult:
    """Post until success, a status KafkaSource does not retry, or the retries run out."""
    attempts = 0
    while True:
        answer = await post(event)
        attempts += 1
        if answer.status is not None and is_success(answer.status):
            return DeliveryResult(delivered=True, attempts=attempts)
        if not is_retryable(answer.status) or attempts > policy.retry:
            error = DeliveryError(destination, answer.status, answer.body)
            return DeliveryResult(delivered=False, attempts=attempts, error=error)
        on_retry(answer)
        if await wait(policy.delay_before(attempts)):
            return DeliveryResult(delivered=False, attempts=attempts)


class DeadLetterSink:
    """The dead-letter topic: a record's offset is committed only once Kafka has it here."""

    def __init__(self, producer: KafkaRecordProducer, topic: str, *, timeout_s: float) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout_s = timeout_s

    async def put(
        self,
        event: OutgoingEvent,
        key: bytes | None,
        error: DeliveryError,
        stopping: asyncio.Event,
    ) -> bool:
        """Write the event with its error; retry while Kafka is away. False if stopped first."""
        message = dead_letter_message(event, key, error)
        delay = 0.2
        while True:
            failure = await self._send(message)
            if failure is None:
                return True
            log.warning("dead-letter topic %s unavailable (%s); retrying", self._topic, failure)
            if await wait_or_stop(stopping, delay):
                return False
            delay = min(delay * 2, 5.0)

    async def _send(self, message: KafkaMessage) -> str | None:
        """One send, awaited until Kafka acknowledged it: None, else why not."""
        loop = asyncio.get_running_loop()
        acknowledged: asyncio.Future[str | None] = loop.create_future()
        call = loop_caller(loop)
        try:
            self._producer.send(
                self._topic, message, lambda failure: call(set_result_once, acknowledged, failure)
            )
        except SendFailed as e:
            return str(e)
        try:
            return await asyncio.wait_for(acknowledged, self._timeout_s + 5.0)
        except TimeoutError:
            return "no acknowledgement in time"

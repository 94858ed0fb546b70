"""Delivering one event: POST to the sink with KafkaSource's retries, else to the dead-letter topic.

``deliver`` is the loop of attempts (pure apart from the ``post`` and ``wait`` it is
given, so its arithmetic is unit-tested); ``HttpSink`` is the one pooled HTTP client
of the process; ``DeadLetterSink`` writes to ``votes-dlq`` and insists until Kafka
acknowledged, because the record's offset is committed only after that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import urllib3
from kafka import KafkaProducer
from kafka.errors import KafkaError

from certamen.adapters.kafka import send_message
from certamen.source.backoff import RetryPolicy, is_retryable, is_success
from certamen.source.events import DeliveryError, OutgoingEvent, dead_letter_message

log = logging.getLogger("certamen.source")

CONNECT_TIMEOUT_S = 2.0
# Knative's default delivery timeout is 10 minutes; a vote takes milliseconds, so a
# minute without an answer means the sink is stuck: give up the attempt and retry.
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Answer:
    """The sink's answer to one attempt: a status and body, or no answer (``status`` None)."""

    status: int | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a delivery ended: delivered, for the dead-letter sink (``error``), or abandoned."""

    delivered: bool
    attempts: int
    error: DeliveryError | None = None

    @property
    def abandoned(self) -> bool:
        """Stopped before an outcome: the record stays uncommitted and will come again."""
        return not self.delivered and self.error is None


Post = Callable[[OutgoingEvent], Answer]
Wait = Callable[[float], bool]  # waits up to n seconds; True when the source is stopping


def deliver(
    event: OutgoingEvent,
    post: Post,
    policy: RetryPolicy,
    wait: Wait,
    destination: str,
    on_retry: Callable[[Answer], None] = lambda _: None,
) -> Verdict:
    """Post until success, a status KafkaSource does not retry, or the retries run out."""
    attempts = 0
    while True:
        answer = post(event)
        attempts += 1
        if answer.status is not None and is_success(answer.status):
            return Verdict(delivered=True, attempts=attempts)
        if not is_retryable(answer.status) or attempts > policy.retry:
            error = DeliveryError(destination, answer.status, answer.body)
            return Verdict(delivered=False, attempts=attempts, error=error)
        on_retry(answer)
        if wait(policy.delay_before(attempts)):
            return Verdict(delivered=False, attempts=attempts)


class HttpSink:
    """The sink (``K_SINK``) behind one connection pool shared by all delivery threads."""

    def __init__(self, url: str, *, connections: int) -> None:
        self.url = url
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=connections,
            block=True,
            retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
        )

    def post(self, event: OutgoingEvent, extra_headers: dict[str, str]) -> Answer:
        """One attempt; a connection failure or timeout is an answer without a status."""
        try:
            response = self._pool.request(
                "POST",
                self.url,
                body=event.data,
                headers={**event.http_headers(), **extra_headers},
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as e:
            return Answer(status=None, body=f"dispatch error: {e}".encode())
        return Answer(status=response.status, body=response.data or b"")

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()


class DeadLetterSink:
    """The dead-letter topic: a record's offset is committed only once Kafka has it here."""

    def __init__(self, producer: KafkaProducer, topic: str, *, timeout_s: float) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout_s = timeout_s

    def put(
        self,
        event: OutgoingEvent,
        key: bytes | None,
        error: DeliveryError,
        stopping: threading.Event,
    ) -> bool:
        """Write the event with its error; retry while Kafka is away. False if stopped first."""
        message = dead_letter_message(event, key, error)
        delay = 0.2
        while True:
            try:
                send_message(self._producer, self._topic, message).get(timeout=self._timeout_s)
                return True
            except KafkaError as e:
                log.warning("dead-letter topic %s unavailable (%s); retrying", self._topic, e)
            if stopping.wait(delay):
                return False
            delay = min(delay * 2, 5.0)

"""KafkaSource's retry rules: which statuses are retried, the backoff, the attempt loop."""

from __future__ import annotations

import asyncio

import pytest

from certamen.source.backoff import RetryPolicy, is_retryable, is_success
from certamen.source.delivery import DeliveryResult, deliver
from certamen.source.events import OutgoingEvent
from certamen.source.sink import Answer

EVENT = OutgoingEvent(
    attributes={"id": "e1", "source": "/s", "type": "t"}, data=b"{}", wrapped=False
)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599, 404, 408, 409, 429, None])
def test_retried_statuses(status: int | None) -> None:
    assert is_retryable(status)


@pytest.mark.parametrize("status", [300, 301, 304, 400, 401, 403, 405, 410, 413, 415, 422])
def test_statuses_sent_straight_to_the_dead_letter_sink(status: int) -> None:
    assert not is_retryable(status)
    assert not is_success(status)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_success(status: int) -> None:
    assert is_success(status)


def test_linear_backoff_grows_by_the_delay() -> None:
    policy = RetryPolicy(retry=4, policy="linear", delay_s=0.5)
    assert [policy.delay_before(n) for n in range(1, 5)] == [0.5, 1.0, 1.5, 2.0]


def test_exponential_backoff_doubles_from_twice_the_delay() -> None:
    # Knative: delay * 2^n for retry n counted from 1, so the first wait is 2 * delay.
    policy = RetryPolicy(retry=4, policy="exponential", delay_s=0.2)
    assert [policy.delay_before(n) for n in range(1, 5)] == pytest.approx([0.4, 0.8, 1.6, 3.2])


def test_retries_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        RetryPolicy(retry=1, policy="linear", delay_s=1).delay_before(0)


class _Script:
    """A sink that answers the given statuses in turn, and a clock that records the waits."""

    def __init__(self, *statuses: int | None) -> None:
        self.statuses = list(statuses)
        self.posts = 0
        self.waits: list[float] = []

    async def post(self, event: OutgoingEvent) -> Answer:
        self.posts += 1
        status = self.statuses.pop(0)
        return Answer(status=status, body=b"" if status is None else f"answer {status}".encode())

    async def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return False


POLICY = RetryPolicy(retry=3, policy="linear", delay_s=1.0)


def _deliver(sink: _Script, policy: RetryPolicy = POLICY, stopping: bool = False) -> DeliveryResult:
    async def stop(_: float) -> bool:
        return True

    wait = stop if stopping else sink.wait
    return asyncio.run(deliver(EVENT, sink.post, policy, wait, "http://sink"))


def test_success_after_retried_failures_waits_the_backoff() -> None:
    sink = _Script(503, 429, 200)
    result = _deliver(sink)
    assert result.delivered and result.attempts == 3
    assert sink.waits == [1.0, 2.0]


def test_a_400_goes_to_the_dead_letter_sink_at_once() -> None:
    sink = _Script(400)
    result = _deliver(sink)
    assert not result.delivered and result.attempts == 1 and sink.waits == []
    assert result.error is not None
    assert (result.error.status, result.error.body) == (400, b"answer 400")


@pytest.mark.parametrize("status", [404, 429, 500, None])
def test_retries_run_out_then_dead_letter(status: int | None) -> None:
    sink = _Script(status, status, status, status)
    result = _deliver(sink)
    assert sink.posts == 4  # the first attempt and 3 retries
    assert sink.waits == [1.0, 2.0, 3.0]
    assert result.error is not None and result.error.status == status
    assert result.error.destination == "http://sink"


def test_stopping_during_backoff_abandons_without_verdict() -> None:
    sink = _Script(500, 200)
    result = _deliver(sink, stopping=True)
    assert result.abandoned and result.attempts == 1 and sink.posts == 1


def test_zero_retries_dead_letters_the_first_failure() -> None:
    sink = _Script(503)
    result = _deliver(sink, RetryPolicy(0, "exponential", 0.2))
    assert result.error is not None and sink.waits == []

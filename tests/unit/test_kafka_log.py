"""librdkafka's repeated broker failures are said once per interval, with a count."""

from __future__ import annotations

import logging

import pytest

from certamen.adapters.kafka_log import BrokerFailureLog

FORMAT = "%s [%s] %s"
REFUSED = "[thrd:127.0.0.1:1/bootstrap]: Connect to ipv4#127.0.0.1:1 failed: Connection refused"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="test.librdkafka")
    return caplog


def _log(clock: Clock) -> BrokerFailureLog:
    return BrokerFailureLog(logging.getLogger("test.librdkafka"), every_s=30.0, clock=clock)


def test_a_failure_repeated_within_the_interval_is_held_back_then_counted(
    logged: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = _log(clock)

    for _ in range(10):  # three a second, as librdkafka does while Kafka is away
        log.log(logging.ERROR, FORMAT, "FAIL", "certamen-intake#producer-1", REFUSED)
        clock.now += 0.33
    assert logged.messages == [f"FAIL [certamen-intake#producer-1] {REFUSED}"]

    clock.now = 131.0
    log.log(logging.ERROR, FORMAT, "FAIL", "certamen-intake#producer-1", REFUSED)
    held = "(9 more like it held back, said at most every 30 s)"
    assert logged.messages[1] == f"FAIL [certamen-intake#producer-1] {REFUSED} {held}"


def test_each_client_and_facility_is_said_on_its_own(logged: pytest.LogCaptureFixture) -> None:
    log = _log(Clock())

    log.log(logging.ERROR, FORMAT, "FAIL", "certamen-intake#producer-1", REFUSED)
    log.log(logging.ERROR, FORMAT, "FAIL", "certamen-source#consumer-2", REFUSED)
    log.log(logging.ERROR, FORMAT, "ERROR", "certamen-intake#producer-1", "1/1 brokers are down")

    assert len(logged.messages) == 3


def test_other_lines_pass_through_every_time(logged: pytest.LogCaptureFixture) -> None:
    log = _log(Clock())

    for _ in range(3):
        log.log(logging.WARNING, FORMAT, "CONFWARN", "certamen-intake#producer-1", "unknown key")

    assert logged.messages == ["CONFWARN [certamen-intake#producer-1] unknown key"] * 3

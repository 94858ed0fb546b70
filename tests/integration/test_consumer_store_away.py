"""A store that stops answering before a consumer worker's first event: the worker does not
queue its requests behind one slow attempt to open the stores after another.

Redis here is a redis-server of the test's own, stopped with SIGSTOP after the
consumer started: a connection is accepted but never answered, so every attempt
to open the stores waits out the client's timeouts (the slow case, as with a
host that went away). One attempt runs at a time; requests that cannot be
served get 503 at once, and counting resumes once Redis answers again.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from certamen.contract import Vote
from certamen.settings import Settings
from tests.support.pipeline import (
    consumer,
    free_port,
    isolated,
    make_votes,
    post_vote_event,
    redis_server,
    wait_until,
)

pytestmark = pytest.mark.integration

REQUESTS = 8
# What the fix promises is an answer within a second; the bound checked here is loose, for
# a busy machine, yet far below what one open attempt after another took (2-4 s each).
ANSWERED_WITHIN_S = 4.0


def _burst(url: str, votes: list[Vote]) -> list[tuple[int, float]]:
    """POST every vote at once; each answer's status and how long it took."""
    answers: list[tuple[int, float]] = []
    start = threading.Barrier(len(votes))

    def deliver(vote: Vote) -> None:
        start.wait()
        began = time.monotonic()
        status = post_vote_event(url, vote)
        answers.append((status, time.monotonic() - began))

    threads = [threading.Thread(target=deliver, args=(vote,)) for vote in votes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_a_store_away_at_the_first_event_is_503_at_once_then_counting_resumes(
    contest: Settings, tmp_path: Path
) -> None:
    redis_port = free_port()
    settings = replace(isolated(contest), redis_url=f"redis://127.0.0.1:{redis_port}/0")
    own_redis = redis_server(redis_port, tmp_path).start()
    port = free_port()
    service = consumer(settings, port, tmp_path).start()
    url = f"http://127.0.0.1:{port}/"
    votes = make_votes(2 * REQUESTS + 1, seed=21)
    try:
        assert own_redis.process is not None
        own_redis.process.send_signal(signal.SIGSTOP)  # accepts, never answers
        try:
            first = _burst(url, votes[:REQUESTS])
            second = _burst(url, votes[REQUESTS : 2 * REQUESTS])
        finally:
            own_redis.process.send_signal(signal.SIGCONT)
        wait_until(
            lambda: post_vote_event(url, votes[-1]) == 200, 60, "a vote counted after Redis is back"
        )
    finally:
        service.stop()
        own_redis.stop()

    for answers in (first, second):
        assert sorted(status for status, _ in answers) == [503] * REQUESTS
        slowest = max(seconds for _, seconds in answers)
        assert slowest < ANSWERED_WITHIN_S, answers

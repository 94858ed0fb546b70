"""A worker opening its stores while one is away: one attempt at a time, answers at once.

``open`` here is a fake that blocks until the test lets it go, or fails, and counts
its calls; the waits are real but short.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from certamen.adapters.errors import StoreUnavailable
from certamen.consumer.opening import StoreOpening


class FakeOpen:
    """Counts attempts; each blocks until ``release`` is set, then fails or returns."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.fail = True

    def __call__(self) -> str:
        self.calls += 1
        self.release.wait(timeout=10)
        if self.fail:
            raise StoreUnavailable("redis", "Timeout connecting to server")
        return "stores"


def _gets(opening: StoreOpening[str], count: int) -> list[object]:
    async def run() -> list[object]:
        return await asyncio.gather(*(opening.get() for _ in range(count)), return_exceptions=True)

    return asyncio.run(run())


def test_requests_during_a_slow_attempt_wait_a_moment_and_start_no_other() -> None:
    fake = FakeOpen()
    opening = StoreOpening(fake, wait_s=0.1)

    async def run() -> tuple[list[object], float]:
        began = time.monotonic()
        answers = await asyncio.gather(*(opening.get() for _ in range(8)), return_exceptions=True)
        elapsed = time.monotonic() - began
        fake.release.set()  # the attempt may end now (a failure: nobody waits for it)
        return answers, elapsed

    answers, elapsed = asyncio.run(run())

    assert fake.calls == 1
    assert all(isinstance(a, StoreUnavailable) and a.store == "stores" for a in answers)
    assert elapsed < 5  # the attempt alone would have blocked them for 10 s


def test_after_a_failure_requests_are_answered_at_once_until_the_backoff_passes() -> None:
    fake = FakeOpen()
    fake.release.set()
    now = [100.0]
    opening = StoreOpening(fake, wait_s=1.0, first_backoff_s=0.5, clock=lambda: now[0])

    async def scenario() -> list[object]:
        seen: list[object] = []
        for step in (0.0, 0.1, 0.2, 0.5, 0.0):  # the clock moves between requests
            now[0] += step
            try:
                seen.append(await opening.get())
            except StoreUnavailable as e:
                seen.append(e.store)
        return seen

    answers = asyncio.run(scenario())

    assert answers == ["redis", "redis", "redis", "redis", "redis"]
    assert fake.calls == 2  # the first request, then one after the 0.5 s backoff


def test_once_open_the_stores_are_kept() -> None:
    fake = FakeOpen()
    fake.release.set()
    fake.fail = False
    opening = StoreOpening(fake)

    assert _gets(opening, 5) == ["stores"] * 5
    assert _gets(opening, 3) == ["stores"] * 3
    assert fake.calls == 1


def test_the_backoff_doubles_to_its_cap() -> None:
    fake = FakeOpen()
    fake.release.set()
    now = [0.0]
    opening = StoreOpening(fake, first_backoff_s=1.0, backoff_cap_s=3.0, clock=lambda: now[0])

    async def attempt_when_allowed() -> list[float]:
        started = []
        while fake.calls < 4:
            calls = fake.calls
            with contextlib.suppress(StoreUnavailable):
                await opening.get()
            if fake.calls > calls:
                started.append(now[0])
            now[0] += 0.5
        return started

    assert asyncio.run(attempt_when_allowed()) == [0.0, 1.0, 3.0, 6.0]  # waits 1, 2, 3 (cap)

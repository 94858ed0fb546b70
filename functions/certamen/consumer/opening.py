"""Opening a worker's stores while one may be away: one attempt at a time, then a pause.

A consumer worker opens its Redis and MongoDB clients on its first event. With a
store away, an attempt waits out the clients' timeouts (2 to 4 s). Requests that
arrive meanwhile must not each try again in turn, each waiting its own timeouts:
that queues them past the caller's patience. So one attempt runs at a time, on a
thread; a request waits for it at most ``wait_s`` and is then answered "unavailable"
(503: the source retries it); after a failed attempt the next one starts only when
a backoff has passed (doubling up to a cap), and a request in between is answered
at once with the last failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from certamen.adapters.errors import StoreUnavailable

Opened = TypeVar("Opened")

WAIT_S = 1.0  # a request waits this long for an attempt under way
FIRST_BACKOFF_S = 0.5
BACKOFF_CAP_S = 5.0

log = logging.getLogger("certamen.consumer")


class StoreOpening(Generic[Opened]):
    """Opens what ``open`` returns once, on first use, on the worker's event loop."""

    def __init__(
        self,
        open_stores: Callable[[], Opened],
        *,
        wait_s: float = WAIT_S,
        first_backoff_s: float = FIRST_BACKOFF_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open = open_stores
        self._wait_s = wait_s
        self._first_backoff_s = first_backoff_s
        self._backoff_cap_s = backoff_cap_s
        self._clock = clock
        self._opened: Opened | None = None
        self._attempt: asyncio.Future[Opened] | None = None
        self._failure: BaseException | None = None
        self._next_attempt_at = 0.0
        self._backoff_s = first_backoff_s

    async def get(self) -> Opened:
        """The open stores; raises ``StoreUnavailable`` (or what opening raised) if not yet."""
        if self._opened is not None:
            return self._opened
        if self._attempt is None:
            if self._failure is not None and self._clock() < self._next_attempt_at:
                raise _again(self._failure)
            self._attempt = asyncio.ensure_future(asyncio.to_thread(self._open))
            self._attempt.add_done_callback(self._finished)
        try:
            return await asyncio.wait_for(asyncio.shield(self._attempt), self._wait_s)
        except TimeoutError:
            raise StoreUnavailable(
                "stores", "still connecting to Redis and MongoDB (an attempt is under way)"
            ) from None

    def _finished(self, attempt: asyncio.Future[Opened]) -> None:
        """On the loop, when an attempt ended: keep the stores, or the failure and a pause."""
        self._attempt = None
        if attempt.cancelled():
            return
        failure = attempt.exception()  # retrieved here, whether or not a request waits
        if failure is None:
            self._opened = attempt.result()
            self._failure = None
            self._backoff_s = self._first_backoff_s
            return
        self._failure = failure
        self._next_attempt_at = self._clock() + self._backoff_s
        log.warning(
            "worker: cannot open the stores (%s); next attempt in %.1f s at the earliest",
            failure,
            self._backoff_s,
        )
        self._backoff_s = min(2 * self._backoff_s, self._backoff_cap_s)


def _again(failure: BaseException) -> BaseException:
    """The last attempt's failure, raised anew for one more request."""
    if isinstance(failure, StoreUnavailable):
        return StoreUnavailable(failure.store, failure.reason)
    return failure

"""From the event loop to Intake and back: ballots queued, cast in batches by worker threads.

``Intake.cast_many`` blocks until Kafka acknowledged its batch, so it runs in a
few worker threads. Each worker takes whatever ballots are waiting (one or
hundreds), casts them in one go and settles all their futures with a single
wake-up of the event loop: under load the hop to a thread and back is paid per
batch, not per vote, and the batches follow Kafka's pace by themselves.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Sequence
from typing import Final

from certamen.contract import Ballot, InvalidVote, Vote
from certamen.intake import Intake, Unavailable

WORKERS: Final = 4
MAX_BATCH: Final = 512

_Item = tuple[Ballot, str | None, "asyncio.Future[Vote]"]
_STOP: Final = None


class Dispatcher:
    """Casts ballots through an Intake without blocking the event loop."""

    def __init__(self, intake: Intake, *, workers: int = WORKERS, max_batch: int = MAX_BATCH):
        self._intake = intake
        self._workers = workers
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the workers; futures are settled on ``loop``."""
        self._loop = loop
        for number in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"intake-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Let the workers finish what is queued, then end them."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def cast(self, ballot: Ballot, transport_key: str | None) -> asyncio.Future[Vote]:
        """A future of the vote once Kafka acknowledged it (or InvalidVote / Unavailable)."""
        assert self._loop is not None, "Dispatcher.start() was not called"
        future: asyncio.Future[Vote] = self._loop.create_future()
        self._queue.put((ballot, transport_key, future))
        return future

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)  # for this worker's next turn
                    break
                batch.append(item)
            outcomes = self._intake.cast_many([(ballot, key) for ballot, key, _ in batch])
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_settle, [future for _, _, future in batch], outcomes)


def _settle(
    futures: Sequence[asyncio.Future[Vote]], outcomes: Sequence[Vote | InvalidVote | Unavailable]
) -> None:
    for future, outcome in zip(futures, outcomes, strict=True):
        if future.done():  # the request went away meanwhile
            continue
        if isinstance(outcome, Vote):
            future.set_result(outcome)
        else:
            future.set_exception(outcome)

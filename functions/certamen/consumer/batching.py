"""Group commit: the request threads of a worker share their store round trips.

Each request thread submits its item and waits; one writer thread takes every item
waiting at that moment and handles them with one call (one ``insert_many``, one
Redis pipeline). Each caller still gets its own item's result or the batch's
error, so the semantics of handling one item are unchanged.

A store call costs the client far more than an item in it (PyMongo spends about
200 µs of CPU on an ``insert_many`` of one document, 8 µs per document more), so
under load the writer lingers a moment (``linger_s``) to let a batch fill, as
Kafka's producer does with ``linger.ms``. A lone item (the previous batch was a
single one too) is written at once: no added latency when the stream is quiet.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from certamen.adapters.errors import StoreUnavailable

Item = TypeVar("Item")
Result = TypeVar("Result")


def _held() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(slots=True)
class _Pending(Generic[Item, Result]):
    item: Item
    result: Result | None = None
    error: BaseException | None = None
    # Released by the writer when the result is in: a bare lock is the cheapest signal.
    done: threading.Lock = field(default_factory=_held)


class GroupCommit(Generic[Item, Result]):
    """Runs ``write(items) -> results`` on one thread for whatever items are waiting."""

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Sequence[Result]],
        *,
        max_batch: int,
        linger_s: float = 0.0,
        timeout_s: float = 30.0,
        on_batch: Callable[[int], object] = lambda size: None,
    ) -> None:
        self._write = write
        self._on_batch = on_batch
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._timeout_s = timeout_s
        self._queue: queue.SimpleQueue[_Pending[Item, Result] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._write_forever, name="group-commit", daemon=True
        )
        self._writer.start()

    def submit(self, item: Item) -> Result:
        """Handle ``item`` with the others waiting; its result, or the batch's exception."""
        pending: _Pending[Item, Result] = _Pending(item)
        self._queue.put(pending)
        if not pending.done.acquire(timeout=self._timeout_s):
            raise StoreUnavailable("stores", f"no answer within {self._timeout_s:.0f} s")
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]

    def close(self) -> None:
        """Finish what is queued, then stop the writer."""
        self._queue.put(None)
        self._writer.join(timeout=self._timeout_s)

    def _write_forever(self) -> None:
        busy = False  # the previous batch had company: we are under load
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + (self._linger_s if busy else 0.0)
            while len(batch) < self._max_batch:
                try:
                    wait = deadline - time.monotonic()
                    more = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            busy = len(batch) > 1
            self._on_batch(len(batch))
            self._write_batch(batch)

    def _write_batch(self, batch: list[_Pending[Item, Result]]) -> None:
        try:
            results = self._write([p.item for p in batch])
            for pending, result in zip(batch, results, strict=True):
                pending.result = result
        except BaseException as e:  # every caller answers for itself (503, or 500 logged once)
            for pending in batch:
                pending.error = e
        finally:
            for pending in batch:
                pending.done.release()

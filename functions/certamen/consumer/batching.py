"""Group commit: the requests on a worker's event loop share their store round trips.

Each request awaits its item's result; one writer thread handles a whole batch
with one call (one ``insert_many``, one Redis script call). Each caller still gets
its own item's result or the batch's error, so the semantics of handling one
item are unchanged.

- Why batches: a store call costs the client far more than an item in it
  (PyMongo's CPU for an ``insert_many`` is mostly per call, little per document).
- Why a thread: PyMongo and redis-py block; the event loop must keep serving.
  One thread, one batch at a time: the items that arrive while a batch is being
  written form the next batch, so under load a batch fills by itself, and a lone
  item is written at once (no linger, no added latency when the stream is quiet).
- Hand-over: one executor job and one ``call_soon_threadsafe`` per batch, not per item.
- No timeout here: both store clients bound every call (``adapters``: 2 s to
  connect or select a server, 5 s on a socket), so every batch ends, in a
  result or a ``StoreUnavailable`` for each of its callers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Batch(Generic[Item, Result]):
    """Items written together, and a future per caller (cancelling one cancels no other)."""

    __slots__ = ("items", "loop", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: list[Item] = []
        self.waiting: list[asyncio.Future[Result]] = []


class GroupCommit(Generic[Item, Result]):
    """Runs ``write(items) -> results`` on one thread for the items awaiting it together."""

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Sequence[Result]],
        *,
        max_batch: int,
        on_batch: Callable[[int], object] = lambda size: None,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._on_batch = on_batch
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="group-commit")
        self._queued: deque[_Batch[Item, Result]] = deque()  # the last one still takes items
        self._busy = False  # a batch is being written, or about to be

    async def submit(self, item: Item) -> Result:
        """On the event loop: ``item``'s result once its batch is written, or the batch's error."""
        loop = asyncio.get_running_loop()
        if not self._queued or len(self._queued[-1].items) >= self._max_batch:
            self._queued.append(_Batch(loop))
        batch = self._queued[-1]
        future: asyncio.Future[Result] = loop.create_future()
        batch.items.append(item)
        batch.waiting.append(future)
        if not self._busy:
            # After the callbacks ready now: the requests read in this round join the batch.
            self._busy = True
            loop.call_soon(self._write_next)
        return await future

    def close(self) -> None:
        """Wait for the batch being written; call when no request is left to submit."""
        self._writer.shutdown(wait=True)

    def _write_next(self) -> None:
        if not self._queued:
            self._busy = False
            return
        batch = self._queued.popleft()
        self._on_batch(len(batch.items))
        self._writer.submit(self._write_batch, batch)

    def _write_batch(self, batch: _Batch[Item, Result]) -> None:
        """On the writer thread: write, then hand the outcome to the loop in one call."""
        try:
            results = self._write(batch.items)
            if len(results) != len(batch.items):
                raise RuntimeError(f"{len(results)} results for {len(batch.items)} items")
        except BaseException as e:  # every caller answers for itself (503, or 500 logged once)
            batch.loop.call_soon_threadsafe(self._written, batch, None, e)
            return
        batch.loop.call_soon_threadsafe(self._written, batch, results, None)

    def _written(
        self,
        batch: _Batch[Item, Result],
        results: Sequence[Result] | None,
        error: BaseException | None,
    ) -> None:
        for index, future in enumerate(batch.waiting):
            if future.done():  # its caller was cancelled
                continue
            if results is not None:
                future.set_result(results[index])
            else:
                future.set_exception(error or RuntimeError("no results"))
        self._write_next()  # what arrived meanwhile, at once

"""How many deliveries run at once, as KafkaSource's ``ordering`` says.

- ``ordered``: one record in flight per partition; the next starts when the
  previous one was delivered or dead-lettered (a lane per partition).
- ``unordered``: every submitted record starts at once; the runner never hands out
  more than ``window`` (it stops fetching instead).

Deliveries are tasks on the source's event loop; ``done`` is called there with each
record's outcome (delivered, dead_lettered or abandoned).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from certamen.source.events import KafkaRecord, PartitionKey

Work = Callable[[KafkaRecord], Awaitable[str]]
Done = Callable[[KafkaRecord, str], None]


class Dispatcher:
    """Runs ``work`` for each submitted record as a task, in lanes when ordered."""

    def __init__(self, work: Work, done: Done, *, ordered: bool) -> None:
        self._work = work
        self._done = done
        self._ordered = ordered
        self._lanes: dict[PartitionKey, deque[KafkaRecord]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def submit(self, record: KafkaRecord) -> None:
        """Start delivering a record (ordered: after the ones before it in its partition)."""
        if not self._ordered:
            self._start(self._run(record))
            return
        key = (record.topic, record.partition)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = deque()
            self._start(self._drain(key, lane))
        lane.append(record)

    async def shutdown(self) -> None:
        """Drop the records waiting in lanes; wait for the deliveries running (told to stop)."""
        self._closing = True
        for lane in self._lanes.values():
            lane.clear()
        while self._tasks:
            await asyncio.gather(*self._tasks)

    def _start(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, record: KafkaRecord) -> None:
        self._done(record, await self._work(record))

    async def _drain(self, key: PartitionKey, lane: deque[KafkaRecord]) -> None:
        try:
            while lane and not self._closing:
                await self._run(lane.popleft())
        finally:
            del self._lanes[key]

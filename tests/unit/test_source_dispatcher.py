"""The dispatcher's ordering: one delivery at a time per partition when ordered, all at once
when unordered, and a shutdown that drops the waiting records but finishes the running ones."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from certamen.source.dispatcher import Dispatcher
from certamen.source.events import KafkaRecord


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the deliveries did not finish")


def _record(partition: int, offset: int) -> KafkaRecord:
    return KafkaRecord("votes", partition, offset, 0, None, b"{}")


class _Sink:
    """Deliveries that wait for ``release``, recording what ran at once and in which order."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running: Counter[int] = Counter()
        self.most_at_once: Counter[int] = Counter()
        self.started: list[tuple[int, int]] = []
        self.done: list[tuple[int, int, str]] = []

    async def work(self, record: KafkaRecord) -> str:
        self.started.append((record.partition, record.offset))
        self.running[record.partition] += 1
        self.most_at_once[record.partition] = max(
            self.most_at_once[record.partition], self.running[record.partition]
        )
        await self.release.wait()
        self.running[record.partition] -= 1
        return "delivered"

    def finished(self, record: KafkaRecord, outcome: str) -> None:
        self.done.append((record.partition, record.offset, outcome))


def test_ordered_runs_one_record_at_a_time_per_partition_in_offset_order() -> None:
    async def scenario() -> _Sink:
        sink = _Sink()
        dispatcher = Dispatcher(sink.work, sink.finished, ordered=True)
        for offset in range(3):
            for partition in (0, 1):
                dispatcher.submit(_record(partition, offset))
        await asyncio.sleep(0.01)
        assert sorted(sink.started) == [(0, 0), (1, 0)]  # one per partition
        sink.release.set()
        await _until(lambda: len(sink.done) == 6)
        await dispatcher.shutdown()
        return sink

    sink = asyncio.run(scenario())
    assert sink.most_at_once == {0: 1, 1: 1}
    for partition in (0, 1):
        offsets = [o for p, o, _ in sink.done if p == partition]
        assert offsets == [0, 1, 2]


def test_unordered_starts_every_record_at_once() -> None:
    async def scenario() -> _Sink:
        sink = _Sink()
        dispatcher = Dispatcher(sink.work, sink.finished, ordered=False)
        for offset in range(5):
            dispatcher.submit(_record(0, offset))
        await asyncio.sleep(0.01)
        assert len(sink.started) == 5
        sink.release.set()
        await dispatcher.shutdown()
        return sink

    sink = asyncio.run(scenario())
    assert sink.most_at_once[0] == 5
    assert sorted(o for _, o, _ in sink.done) == [0, 1, 2, 3, 4]


def test_shutdown_drops_waiting_records_and_finishes_the_running_ones() -> None:
    async def scenario() -> _Sink:
        sink = _Sink()
        dispatcher = Dispatcher(sink.work, sink.finished, ordered=True)
        for offset in range(3):
            dispatcher.submit(_record(0, offset))
        await asyncio.sleep(0.01)
        closing = asyncio.ensure_future(dispatcher.shutdown())
        await asyncio.sleep(0.01)
        assert not closing.done()  # the running delivery is awaited
        sink.release.set()
        await closing
        return sink

    sink = asyncio.run(scenario())
    assert sink.done == [(0, 0, "delivered")]  # offsets 1 and 2 stay uncommitted

"""Group commit: callers on the event loop share one write and each gets its own result."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence

import pytest

from certamen.consumer.batching import GroupCommit


class _Store:
    """A write that records its batches and the thread it ran on; ``gate`` holds it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.started = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def write(self, items: Sequence[int]) -> list[int]:
        self.threads.add(threading.current_thread().name)
        self.started.set()
        assert self.gate.wait(5), "the test never opened the gate"
        self.batches.append(list(items))
        return [item * 10 for item in items]


@pytest.fixture
def store() -> _Store:
    return _Store()


@pytest.fixture
def group(store: _Store) -> Iterator[GroupCommit[int, int]]:
    group: GroupCommit[int, int] = GroupCommit(store.write, max_batch=100)
    yield group
    store.gate.set()
    group.close()


def test_callers_of_one_loop_round_are_written_together(
    store: _Store, group: GroupCommit[int, int]
) -> None:
    async def main() -> list[int]:
        return await asyncio.gather(*(group.submit(n) for n in range(10)))

    assert asyncio.run(main()) == [n * 10 for n in range(10)]
    assert store.batches == [list(range(10))]
    assert threading.current_thread().name not in store.threads  # never on the loop's thread


def test_what_arrives_during_a_write_is_the_next_batch(
    store: _Store, group: GroupCommit[int, int]
) -> None:
    async def main() -> list[int]:
        store.gate.clear()
        first = asyncio.ensure_future(group.submit(0))
        await asyncio.to_thread(store.started.wait, 5)  # the loop runs on while [0] is written
        later = [asyncio.ensure_future(group.submit(n)) for n in range(1, 10)]
        await asyncio.sleep(0.05)
        assert not first.done() and not any(f.done() for f in later)
        store.gate.set()
        return await asyncio.gather(first, *later)

    assert asyncio.run(main()) == [n * 10 for n in range(10)]
    assert store.batches == [[0], list(range(1, 10))]


def test_batches_are_capped(store: _Store) -> None:
    group: GroupCommit[int, int] = GroupCommit(store.write, max_batch=3)

    async def main() -> list[int]:
        return await asyncio.gather(*(group.submit(n) for n in range(10)))

    try:
        assert asyncio.run(main()) == [n * 10 for n in range(10)]
    finally:
        group.close()
    assert store.batches == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_the_batch_error_reaches_every_caller() -> None:
    def write(items: Sequence[str]) -> list[str]:
        raise RuntimeError("store away")

    group: GroupCommit[str, str] = GroupCommit(write, max_batch=8)

    async def main() -> list[str | BaseException]:
        return await asyncio.gather(*(group.submit(s) for s in "abc"), return_exceptions=True)

    try:
        outcomes = asyncio.run(main())
    finally:
        group.close()
    assert [str(e) for e in outcomes] == ["store away"] * 3
    assert all(isinstance(e, RuntimeError) for e in outcomes)


def test_a_cancelled_caller_leaves_the_others_their_results(
    store: _Store, group: GroupCommit[int, int]
) -> None:
    async def main() -> int:
        store.gate.clear()
        gone = asyncio.ensure_future(group.submit(1))
        stays = asyncio.ensure_future(group.submit(2))
        await asyncio.to_thread(store.started.wait, 5)
        gone.cancel()
        store.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await stays

    assert asyncio.run(main()) == 20
    assert store.batches == [[1, 2]]  # written all the same: a retry will find it stored


def test_a_write_that_loses_results_fails_its_callers() -> None:
    group: GroupCommit[int, int] = GroupCommit(lambda items: [1], max_batch=8)

    async def main() -> list[int | BaseException]:
        return await asyncio.gather(group.submit(1), group.submit(2), return_exceptions=True)

    try:
        outcomes = asyncio.run(main())
    finally:
        group.close()
    assert [str(e) for e in outcomes] == ["1 results for 2 items"] * 2

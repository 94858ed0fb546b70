"""Group commit: concurrent callers share one write and each gets its own result."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from certamen.consumer.batching import GroupCommit


def test_waiting_items_are_written_together_and_each_caller_gets_its_result() -> None:
    batches: list[list[int]] = []
    release = threading.Event()

    def write(items: Sequence[int]) -> list[int]:
        release.wait(5)  # hold the first batch so that the others queue up behind it
        batches.append(list(items))
        return [item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(write, max_batch=100)
    results: dict[int, int] = {}

    def call(n: int) -> None:
        results[n] = group.submit(n)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)
    group.close()
    assert results == {n: n * 10 for n in range(10)}
    assert sum(len(b) for b in batches) == 10
    assert len(batches) < 10  # some were written together


def test_batches_are_capped() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def write(items: Sequence[int]) -> list[None]:
        gate.wait(5)
        sizes.append(len(items))
        return [None] * len(items)

    group: GroupCommit[int, None] = GroupCommit(write, max_batch=3)
    threads = [threading.Thread(target=group.submit, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(5)
    group.close()
    assert sum(sizes) == 10 and max(sizes) <= 3


def test_the_batch_error_reaches_every_caller() -> None:
    def write(items: Sequence[str]) -> list[str]:
        raise RuntimeError("store away")

    group: GroupCommit[str, str] = GroupCommit(write, max_batch=8)
    with pytest.raises(RuntimeError, match="store away"):
        group.submit("a")
    group.close()

"""The commit position of a partition: the end of the contiguous prefix of finished records."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from certamen.source.offsets import PartitionProgress


def test_nothing_finished_nothing_to_commit() -> None:
    progress = PartitionProgress()
    progress.start(0)
    progress.start(1)
    assert progress.committable is None


def test_a_finished_record_after_an_unfinished_one_is_not_committed() -> None:
    progress = PartitionProgress()
    for offset in (10, 11, 12):
        progress.start(offset)
    progress.finish(12)
    progress.finish(11)
    assert progress.committable is None  # 10 still in flight: a crash must redeliver it
    progress.finish(10)
    assert progress.committable == 13


def test_gaps_in_offsets_do_not_block_the_prefix() -> None:
    progress = PartitionProgress()
    for offset in (5, 7, 20):  # compaction or transaction markers leave gaps
        progress.start(offset)
    progress.finish(5)
    assert progress.committable == 6
    progress.finish(7)
    assert progress.committable == 8
    progress.finish(20)
    assert progress.committable == 21


def test_a_record_fetched_again_is_ignored() -> None:
    progress = PartitionProgress()
    assert progress.start(3)
    assert not progress.start(3)
    assert not progress.start(2)
    progress.finish(3)
    assert not progress.start(3)  # already behind the committable position
    assert progress.start(4)


@given(st.permutations(list(range(30))), st.integers(min_value=0, max_value=30))
def test_committable_is_one_past_the_longest_finished_prefix(
    order: list[int], finished: int
) -> None:
    progress = PartitionProgress()
    for offset in range(30):
        progress.start(offset)
    done = set(order[:finished])
    for offset in order[:finished]:
        progress.finish(offset)
    prefix = 0
    while prefix in done:
        prefix += 1
    assert progress.committable == (prefix if prefix else None)

"""The pure parts of the load: replay cursor, keys, ledger, backoff and the burst plan."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from certamen.contract.ballot import vote_id_field
from certamen.operations.loadgen import (
    Backoff,
    BurstPlan,
    Ledger,
    ReplayCursor,
    SampleCursor,
    check_run_id,
    new_run_id,
    parse_replay_key,
    read_ledgers,
    replay_key,
    sample_key,
)


def _drain(cursor: ReplayCursor) -> list[int]:
    taken = []
    while (index := cursor.take()) is not None:
        taken.append(index)
    return taken


def test_a_replay_hands_out_every_index_once_then_none() -> None:
    cursor = ReplayCursor(5)

    assert _drain(cursor) == [0, 1, 2, 3, 4]
    assert cursor.take() is None
    assert cursor.exhausted


@pytest.mark.parametrize(("total", "workers"), [(10, 3), (7, 7), (3, 5), (1000, 4)])
def test_workers_partition_the_file_without_overlap_or_gap(total: int, workers: int) -> None:
    shares = [_drain(ReplayCursor(total, w, workers)) for w in range(workers)]

    every = sorted(i for share in shares for i in share)
    assert every == list(range(total))
    assert [len(s) for s in shares] == [
        ReplayCursor(total, w, workers).share for w in range(workers)
    ]


def test_the_replay_is_finished_only_when_nothing_is_in_flight() -> None:
    cursor = ReplayCursor(2)
    cursor.take()
    cursor.take()

    assert cursor.exhausted and not cursor.finished
    cursor.done()
    assert not cursor.finished
    cursor.done()
    assert cursor.finished
    with pytest.raises(RuntimeError):
        cursor.done()


def test_a_bad_partition_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid partition"):
        ReplayCursor(10, worker=3, workers=3)


def test_sampling_is_seeded_and_numbers_every_vote() -> None:
    one, two = SampleCursor(100, seed=4), SampleCursor(100, seed=4)

    draws = [one.take() for _ in range(50)]

    assert draws == [two.take() for _ in range(50)]
    assert [sequence for sequence, _ in draws] == list(range(1, 51))
    assert all(0 <= index < 100 for _, index in draws)


def test_keys_follow_the_contract_and_a_replay_key_parses_back() -> None:
    run = new_run_id()
    key = replay_key(run, "0123456789ab", 42)

    assert vote_id_field(key) == key
    assert vote_id_field(sample_key(run, 3, 9)) == sample_key(run, 3, 9)
    parsed = parse_replay_key(key)
    assert parsed is not None
    assert (parsed.run_id, parsed.tag, parsed.index) == (run, "0123456789ab", 42)
    assert parse_replay_key("0196f1e2-7b1c-7000-8000-000000000000") is None


def test_a_run_id_that_would_break_the_key_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="run id"):
        check_run_id("has space")


def test_ledgers_of_several_workers_add_up_with_their_indices(tmp_path: Path) -> None:
    workers = 3
    for worker in range(workers):
        ledger = Ledger(worker=worker, workers=workers, share=ReplayCursor(20, worker, 3).share)
        for index in range(worker, 20, workers):
            if index == 7:
                ledger.fail("grpc", index)
            else:
                ledger.accept("grpc" if index % 2 else "wasm", index)
        ledger.retry("wasm")
        ledger.final = True
        ledger.write(tmp_path)

    totals = read_ledgers(tmp_path)

    assert totals.final
    assert totals.share == 20
    assert totals.accepted_total == 19
    assert totals.accepted_indices == frozenset(range(20)) - {7}
    assert totals.failed_indices == {7}
    assert totals.retries["wasm"] == 3


def test_the_ledgers_are_not_final_until_every_worker_wrote_a_final_one(tmp_path: Path) -> None:
    Ledger(worker=0, workers=2, final=True).write(tmp_path)

    assert not read_ledgers(tmp_path).final
    assert not read_ledgers(tmp_path / "nothing-yet").final


def test_backoff_is_bounded_and_grows_up_to_its_cap() -> None:
    backoff = Backoff(attempts=6, base_s=0.1, cap_s=0.5)

    delays = list(backoff.delays(random.Random(1)))

    assert len(delays) == 5
    limits = [0.1, 0.2, 0.4, 0.5, 0.5]
    assert all(0 <= d <= limit for d, limit in zip(delays, limits, strict=True))
    assert list(Backoff(attempts=1).delays()) == []


def test_the_burst_idles_ramps_holds_drops_and_comes_back() -> None:
    plan = BurstPlan(idle_s=10, ramp_s=5, peak_users=40, hold_s=20, gap_s=30, bursts=2)

    assert plan.at(0) == (0, 100.0)
    assert plan.at(10) == (40, 8.0)
    assert plan.at(34.9) == (40, 8.0)
    assert plan.at(35) == (0, 100.0)
    assert plan.at(64.9) == (0, 100.0)
    assert plan.at(65) == (40, 8.0)
    assert plan.at(89.9) == (40, 8.0)
    assert plan.duration_s == 90
    assert plan.at(90) is None


def test_a_burst_without_users_is_refused() -> None:
    with pytest.raises(ValueError):
        BurstPlan(peak_users=0)


def test_an_index_handed_back_is_handed_out_again_before_the_replay_ends() -> None:
    cursor = ReplayCursor(total=2)
    first, second = cursor.take(), cursor.take()
    assert (first, second) == (0, 1)
    cursor.done()

    cursor.give_back(1)  # its user was stopped in the middle of the vote

    assert not cursor.finished
    assert cursor.take() == 1
    cursor.done()
    assert cursor.take() is None and cursor.finished

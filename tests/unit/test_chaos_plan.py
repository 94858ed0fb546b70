"""The chaos run's kill plan: reproducible from its seed, every part as often as asked."""

from __future__ import annotations

import pytest

from certamen.operations.loadgen.chaos import kill_plan, kills_per_part

PARTS = ("kafka", "redis", "mongodb", "consumer", "source", "producer-grpc", "producer-wasm")


@pytest.mark.parametrize(("kills", "load_s"), [(1, 90.0), (2, 600.0)])
@pytest.mark.parametrize("seed", range(20))
def test_every_part_is_killed_as_often_as_asked_inside_the_window(
    seed: int, kills: int, load_s: float
) -> None:
    plan = kill_plan(PARTS, kills_per_part=kills, load_s=load_s, seed=seed, lead_in_s=8,
                     tail_s=20)  # fmt: skip

    assert kills_per_part(plan) == dict.fromkeys(PARTS, kills)
    assert [k.at_s for k in plan] == sorted(k.at_s for k in plan)
    assert all(8 <= k.at_s <= load_s - 20 for k in plan)
    assert all(1.0 <= k.down_s <= 5.0 for k in plan)
    assert all(len(set(k.parts)) == len(k.parts) <= 2 for k in plan)
    assert any(len(k.parts) == 2 for k in plan)  # sometimes two at once


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    def plan(seed: int) -> list[object]:
        return list(kill_plan(PARTS, kills_per_part=2, load_s=600, seed=seed, lead_in_s=20,
                              tail_s=60))  # fmt: skip

    assert plan(7) == plan(7)
    assert plan(7) != plan(8)


def test_a_window_too_short_is_refused() -> None:
    with pytest.raises(ValueError, match="no time"):
        kill_plan(PARTS, kills_per_part=1, load_s=20, seed=1, lead_in_s=10, tail_s=10)

"""The demo's bursts as Locust runs them: a tick a second, each burst its share of the file."""

from __future__ import annotations

import pytest

from certamen.operations.demo import contest_bursts
from certamen.operations.loadgen import LOCUST_TICK_S, BurstPlan


def _users_per_tick(plan: BurstPlan, ticks: int, *, drift_s: float) -> list[int]:
    """The users Locust holds after each tick: it asks at 0, 1, 2, ... s, a little off."""
    users = []
    for tick in range(ticks):
        answer = plan.at(tick * (LOCUST_TICK_S + drift_s))
        users.append(0 if answer is None else answer[0])
    return users


def _runs(users: list[int]) -> list[tuple[int, int]]:
    """(first tick, ticks) of each run of ticks with users."""
    runs: list[tuple[int, int]] = []
    for tick, n in enumerate(users):
        if n and (not runs or runs[-1][0] + runs[-1][1] != tick):
            runs.append((tick, 1))
        elif n:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
    return runs


@pytest.mark.parametrize("drift_s", [0.0, 0.004, -0.004])
def test_a_small_contest_gets_every_burst_it_asked_for(drift_s: float) -> None:
    # 2,000 votes in 3 bursts at 1,000 votes/s used to ask for 1.5 s bursts: Locust held
    # the users for 2 ticks, the first burst sent nearly the whole file and the third none.
    plan, rate = contest_bursts(2_000, bursts=3, rate=1_000, users=50, gap_s=5, tail_s=300)

    assert rate == pytest.approx(2_000 / 3)
    runs = _runs(_users_per_tick(plan, 30, drift_s=drift_s))
    assert [start for start, _ in runs] == [1, 7, 13]  # 1 tick each, 5 ticks apart
    assert [ticks for _, ticks in runs[:2]] == [1, 1]
    assert runs[2][1] > 1  # the last burst holds until the file is sent


def test_a_burst_lasts_the_whole_seconds_nearest_to_its_share_at_the_rate() -> None:
    plan, rate = contest_bursts(10_000, bursts=3, rate=1_000, users=50, gap_s=5, tail_s=300)

    assert rate == pytest.approx(10_000 / 9)  # 3 s a burst, not 3.33
    runs = _runs(_users_per_tick(plan, 40, drift_s=0.003))
    assert runs[:2] == [(1, 3), (9, 3)]
    assert runs[2][0] == 17
    assert all(n == 50 for n in _users_per_tick(plan, 4, drift_s=0)[1:])


def test_a_burst_has_no_more_users_than_votes_to_send() -> None:
    plan, rate = contest_bursts(30, bursts=3, rate=1_000, users=50, gap_s=2.4, tail_s=60)

    assert plan.peak_users == 10  # each user's first vote goes at once: 10, not 30, a burst
    assert rate == pytest.approx(10)
    assert plan.gap_s == 2  # whole seconds, as Locust's ticks run them

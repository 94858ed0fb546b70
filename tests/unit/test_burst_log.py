"""The demo's per-burst figures from its samples, and the burst shape's longer last burst."""

from __future__ import annotations

import itertools
import math

from certamen.operations.demo import contest_bursts
from certamen.operations.loadgen import BurstPlan
from certamen.operations.loadgen.burstlog import Burst, BurstLog, Sample

# Locust's clock starts 3 s after the process: the first acknowledgement says when.
PLAN = BurstPlan(idle_s=1, ramp_s=1, peak_users=10, hold_s=2, gap_s=4, bursts=2, last_hold_s=60)


def _log(rows: list[tuple[float, int, int, int]]) -> BurstLog:
    log = BurstLog(PLAN)
    for elapsed, acknowledged, refused, counted in rows:
        log.add(Sample(elapsed, acknowledged, refused, counted))
    return log


def test_each_burst_gets_its_votes_refusals_lag_and_catch_up() -> None:
    log = _log(
        [
            (3.5, 0, 0, 0),
            (4.0, 100, 0, 10),  # burst 1 from 4.0 (origin 3.0 + idle 1), drops at 7.0
            (6.5, 900, 5, 300),
            (7.5, 1000, 5, 600),
            (9.0, 1000, 5, 1000),  # caught up 2.0 s after the drop
            (11.5, 1400, 7, 1000),  # burst 2 from 11.0
            (13.0, 2000, 9, 1500),  # the file is sent: the last burst drops here
            (14.0, 2000, 9, 2000),
        ]
    )

    assert log.bursts() == [
        Burst(number=1, accepted=1000, refused=5, lag_at_end=600, max_lag=600, caught_up_s=2.0),
        Burst(number=2, accepted=1000, refused=4, lag_at_end=500, max_lag=500, caught_up_s=1.0),
    ]


def test_a_burst_that_never_started_is_not_reported() -> None:
    log = _log([(0.5, 0, 0, 0), (2.5, 50, 0, 50), (3.5, 50, 0, 50)])

    assert [b.number for b in log.bursts()] == [1]


def test_the_last_burst_holds_longer_and_the_shape_ends_after_it() -> None:
    assert PLAN.at(2.0) == (10, 10.0)  # burst 1
    assert PLAN.at(5.0) == (0, 100.0)  # its gap
    assert PLAN.at(9.0 + 30.0) == (10, 10.0)  # burst 2, held past its plain hold
    assert PLAN.duration_s == 1 + 2 * 7 - 4 + 58
    assert PLAN.at(PLAN.duration_s) is None


def test_votes_seen_late_are_still_given_to_their_burst() -> None:
    # The demo's 1,000 votes in 3 bursts of 1 s, 5 s apart, as CI ran them: Locust's
    # clock 1 s behind the replay's, the first burst's first answers slow (new
    # connections), Locust's users writing what was acknowledged once a second, the
    # replay reading that twice a second. Each burst sent its share (340, 340, 320);
    # windows that began at the planned starts gave 360, 640 and 0.
    plan, _ = contest_bursts(1_000, bursts=3, rate=1_000, users=20, gap_s=5, tail_s=300)
    sent_by = [(1.4, 0), (2.0, 340), (7.0, 340), (8.0, 680), (13.0, 680), (14.0, 1_000)]

    def acknowledged(locust_s: float) -> int:
        written = math.floor(locust_s - 0.05) + 0.05  # the ledger's last write
        if written < sent_by[0][0]:
            return 0
        for (t0, n0), (t1, n1) in itertools.pairwise(sent_by):
            if t0 <= written < t1:
                return n0 + round((n1 - n0) * (written - t0) / (t1 - t0))
        return sent_by[-1][1]

    log = BurstLog(plan)
    for half_seconds in range(50):
        elapsed = half_seconds / 2
        n = acknowledged(elapsed - 1.0)
        log.add(Sample(elapsed, n, 0, n))

    assert [b.accepted for b in log.bursts()] == [340, 340, 320]

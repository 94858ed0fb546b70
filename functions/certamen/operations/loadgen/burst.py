"""The burst as a Locust LoadTestShape, its parameters from the ``--burst-*`` options.

Kept apart from the users: Locust applies any shape class it finds, so a run gets
the burst only when this module is loaded too (``-f load/locustfile.py,load/burst.py``).
"""

from __future__ import annotations

from locust import LoadTestShape

from certamen.operations.loadgen.options import options_of
from certamen.operations.loadgen.shape import BurstPlan


class BurstShape(LoadTestShape):
    """idle, a sharp ramp to the peak, hold, drop to zero, a gap, the next burst."""

    def tick(self) -> tuple[int, float] | None:
        """Users and spawn rate for now (Locust asks every second)."""
        options = options_of(self.runner.environment) if self.runner else None
        if options is None:
            return None
        plan = BurstPlan(
            idle_s=options.burst_idle,
            ramp_s=options.burst_ramp,
            peak_users=options.burst_peak,
            hold_s=options.burst_hold,
            gap_s=options.burst_gap,
            bursts=options.burst_count,
            last_hold_s=options.burst_last_hold or None,
        )
        elapsed: float = self.get_run_time()  # type: ignore[no-untyped-call]
        return plan.at(elapsed)

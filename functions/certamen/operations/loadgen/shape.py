"""The burst: the traffic that scale-to-zero has to survive, as a pure function of time.

idle -> sharp ramp to a peak -> hold -> drop to zero -> idle gap -> the next burst,
``bursts`` times, then the run ends. Locust's LoadTestShape asks for the users
wanted at the current second; :meth:`BurstPlan.at` answers it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Users stopped per second when a burst drops (Locust warns above 100/s).
_DROP_RATE = 100.0
# Locust asks a shape for its users once a second: a phase shorter than that is rounded
# to whole ticks by Locust, whatever the plan says.
LOCUST_TICK_S = 1.0


@dataclass(frozen=True, slots=True)
class BurstPlan:
    """Seconds of each phase, the users at the peak and how many bursts."""

    idle_s: float = 10.0
    ramp_s: float = 5.0
    peak_users: int = 50
    hold_s: float = 30.0
    gap_s: float = 60.0
    bursts: int = 2
    last_hold_s: float | None = None  # the last burst's hold, if longer (a replay ends it)

    def __post_init__(self) -> None:
        if min(self.idle_s, self.hold_s, self.gap_s) < 0 or self.ramp_s <= 0:
            raise ValueError("burst phases must not be negative and the ramp must be > 0 s")
        if self.peak_users < 1 or self.bursts < 1:
            raise ValueError("a burst needs at least one user and one burst")

    @property
    def duration_s(self) -> float:
        """From the start to the end of the last burst."""
        return self.idle_s + self.bursts * self._burst_s - self.gap_s + self._extra_s

    @property
    def _extra_s(self) -> float:
        return max(0.0, (self.last_hold_s or self.hold_s) - self.hold_s)

    @property
    def _burst_s(self) -> float:
        return self.ramp_s + self.hold_s + self.gap_s

    def at(self, elapsed_s: float) -> tuple[int, float] | None:
        """(users wanted, spawn rate per second) at ``elapsed_s``; ``None`` once it is over."""
        if elapsed_s >= self.duration_s:
            return None
        if elapsed_s < self.idle_s:
            return 0, _DROP_RATE
        number, into = divmod(elapsed_s - self.idle_s, self._burst_s)
        if number >= self.bursts - 1:  # the last burst, which may hold longer
            into = elapsed_s - self.idle_s - (self.bursts - 1) * self._burst_s
            if into < self.ramp_s + self.hold_s + self._extra_s:
                return self.peak_users, self.peak_users / self.ramp_s
            return 0, _DROP_RATE
        if into < self.ramp_s + self.hold_s:
            return self.peak_users, self.peak_users / self.ramp_s
        return 0, _DROP_RATE

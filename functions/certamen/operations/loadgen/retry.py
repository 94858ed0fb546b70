"""Bounded retries with exponential backoff and jitter, for 503 / UNAVAILABLE answers.

A producer answers 503 / UNAVAILABLE when Kafka did not take a vote in time. The
load sends the same idempotency key again, so a retry never double-counts; the
number of attempts is bounded so a dead stack ends a run instead of hanging it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``attempts`` tries in all; before try ``n`` (n >= 2) wait up to ``base * 2**(n-2)``."""

    attempts: int = 6
    base_s: float = 0.05
    cap_s: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if self.base_s < 0 or self.cap_s < 0:
            raise ValueError("backoff delays must not be negative")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits before each retry ("full jitter"); as many as ``attempts - 1``."""
        draw = (rng or random).uniform
        for retry in range(self.attempts - 1):
            yield draw(0.0, min(self.cap_s, self.base_s * 2**retry))

"""Which record a Locust user sends next: replay a file once, or sample it forever.

Pure logic, shared by every user of one Locust process. Greenlets switch only on
I/O, so a plain counter is a safe shared cursor within a process; across Locust
worker processes the file is partitioned by worker index instead (worker ``w`` of
``W`` owns the records ``w, w + W, w + 2W, ...``), so no record is sent twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class ReplayCursor:
    """Hands out this worker's share of ``range(total)``, each index exactly once.

    ``take`` gives the next index (or ``None`` once the share is used up) and
    counts it as in flight until ``done``; the replay is over when the share is used
    up and nothing is in flight any more.
    """

    total: int
    worker: int = 0
    workers: int = 1
    _next: int = field(init=False)
    in_flight: int = field(init=False, default=0)
    _handed_back: list[int] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.total < 0:
            raise ValueError(f"total must be zero or more, not {self.total}")
        if self.workers < 1 or not 0 <= self.worker < self.workers:
            raise ValueError(f"worker {self.worker} of {self.workers} is not a valid partition")
        self._next = self.worker

    @property
    def share(self) -> int:
        """How many indices this worker owns."""
        return len(range(self.worker, self.total, self.workers))

    @property
    def exhausted(self) -> bool:
        """Every index of the share was handed out (and none handed back)."""
        return self._next >= self.total and not self._handed_back

    @property
    def finished(self) -> bool:
        """Every index was handed out and every one handed out is done."""
        return self.exhausted and self.in_flight == 0

    def take(self) -> int | None:
        """The next index of the share, or ``None`` when none is left."""
        if self._handed_back:
            self.in_flight += 1
            return self._handed_back.pop()
        if self.exhausted:
            return None
        index = self._next
        self._next += self.workers
        self.in_flight += 1
        return index

    def give_back(self, index: int) -> None:
        """A user taken away before ``index`` got its outcome: hand it out again."""
        if self.in_flight <= 0:
            raise RuntimeError("give_back() without a matching take()")
        self.in_flight -= 1
        self._handed_back.append(index)

    def done(self) -> None:
        """The index last taken by a user got its final outcome."""
        if self.in_flight <= 0:
            raise RuntimeError("done() without a matching take()")
        self.in_flight -= 1


@dataclass(slots=True)
class SampleCursor:
    """Random indices of ``range(total)`` forever, each with its own sequence number.

    The sequence number (not the index, which repeats) makes each sampled vote a
    distinct vote with its own idempotency key.
    """

    total: int
    seed: int
    _rng: random.Random = field(init=False)
    sequence: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.total < 1:
            raise ValueError("cannot sample from an empty vote file")
        self._rng = random.Random(self.seed)

    def take(self) -> tuple[int, int]:
        """The next (sequence number, record index)."""
        self.sequence += 1
        return self.sequence, self._rng.randrange(self.total)

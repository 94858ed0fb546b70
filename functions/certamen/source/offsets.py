"""Which offset of a partition may be committed: the end of the contiguous finished prefix.

Records of a partition finish out of order when several are in flight (unordered
delivery). An offset is committed only once it and every record before it were
delivered or dead-lettered, so a crash redelivers, never skips (at-least-once).
"""

from __future__ import annotations

from collections import deque


class PartitionProgress:
    """Offsets handed out and finished in one partition; ``committable`` is safe to commit."""

    def __init__(self) -> None:
        self._started: deque[int] = deque()
        self._finished: set[int] = set()
        self._committable: int | None = None

    def start(self, offset: int) -> bool:
        """A record was fetched for delivery; False (and ignored) if it is not past the last one.

        Offsets of a partition arrive in increasing order, possibly with gaps
        (compaction, transaction markers); a record fetched twice is already in hand.
        """
        last = self._started[-1] if self._started else (self._committable or 0) - 1
        if offset <= last:
            return False
        self._started.append(offset)
        return True

    def finish(self, offset: int) -> None:
        """A record was delivered or dead-lettered; advance over the finished prefix."""
        self._finished.add(offset)
        while self._started and self._started[0] in self._finished:
            done = self._started.popleft()
            self._finished.discard(done)
            self._committable = done + 1

    @property
    def committable(self) -> int | None:
        """The offset to commit (the next record to read after a restart), if any finished."""
        return self._committable

"""What a server process that handles a vote per request does once it has started: both
producers and each of the consumer's workers (load/results/cost-per-vote.md has the
figures; the source allocates little per vote and collects almost nothing)."""

from __future__ import annotations

import gc
from typing import Final

YOUNG_GC_THRESHOLD: Final = 10_000
"""Net allocations between two collections of the youngest generation (Python: 700)."""


def tune_gc_for_serving() -> None:
    """Call once start-up is done: take the garbage collector's cost off the per-vote path.

    - ``gc.freeze()``: the tens of thousands of objects of start-up (modules, the
      catalog, protobuf descriptors, metrics, clients) are never garbage, yet every full
      collection walked them all.
    - A young-generation threshold of :data:`YOUNG_GC_THRESHOLD` instead of 700: the
      objects of the votes in flight (each request with its coroutine, future, event and
      vote) crossed 700 all the time, so a collection ran every few requests to find
      nothing; the garbage of a vote is freed by reference counting. Cycles are still
      collected, after 10,000 net allocations.
    """
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, 10, 10)

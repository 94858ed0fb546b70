"""How many deliveries run at once, as KafkaSource's ``ordering`` says.

- ``ordered``: one record in flight per partition; the next starts when the
  previous one was delivered or dead-lettered (a lane per partition).
- ``unordered``: up to ``window`` records in flight across all partitions; the
  runner never hands out more than that (it stops fetching instead).

Threads do the HTTP work; results come back through :attr:`Dispatcher.finished`
for the runner's thread, the only one that touches the Kafka consumer.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from certamen.source.events import KafkaRecord

PartitionKey = tuple[str, int]
Work = Callable[[KafkaRecord], str]  # returns the outcome: delivered, dead_lettered, abandoned


@dataclass(frozen=True, slots=True)
class Finished:
    """A record's delivery ended (``generation`` tells results of revoked partitions apart)."""

    partition: PartitionKey
    offset: int
    generation: int
    outcome: str


class Dispatcher:
    """Runs ``work`` for each submitted record on a bounded pool of threads."""

    def __init__(self, work: Work, *, ordered: bool, threads: int) -> None:
        self._work = work
        self._ordered = ordered
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="deliver")
        self._lock = threading.Lock()
        self._lanes: dict[PartitionKey, deque[KafkaRecord]] = {}
        self._draining: set[PartitionKey] = set()
        self._generations: dict[PartitionKey, int] = {}
        self.finished: queue.SimpleQueue[Finished] = queue.SimpleQueue()

    def submit(self, record: KafkaRecord) -> None:
        """Start delivering a record (ordered: after the ones before it in its partition)."""
        key = (record.topic, record.partition)
        with self._lock:
            generation = self._generations.setdefault(key, 0)
            if not self._ordered:
                self._pool.submit(self._run, record, generation)
                return
            self._lanes.setdefault(key, deque()).append(record)
            if key not in self._draining:
                self._draining.add(key)
                self._pool.submit(self._drain, key, generation)

    def forget(self, keys: list[PartitionKey]) -> None:
        """Partitions were revoked: drop their waiting records, ignore results still running."""
        with self._lock:
            for key in keys:
                self._generations[key] = self._generations.get(key, 0) + 1
                self._lanes.pop(key, None)
                self._draining.discard(key)

    def generation(self, key: PartitionKey) -> int:
        """The current generation of a partition (results of older ones are stale)."""
        with self._lock:
            return self._generations.get(key, 0)

    def shutdown(self) -> None:
        """Wait for the running deliveries (the caller has told them to stop retrying)."""
        with self._lock:
            self._lanes.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, record: KafkaRecord, generation: int) -> None:
        outcome = self._work(record)
        key = (record.topic, record.partition)
        self.finished.put(Finished(key, record.offset, generation, outcome))

    def _drain(self, key: PartitionKey, generation: int) -> None:
        while True:
            with self._lock:
                lane = self._lanes.get(key)
                if not lane or self._generations.get(key, 0) != generation:
                    if self._generations.get(key, 0) == generation:
                        self._draining.discard(key)
                    return
                record = lane.popleft()
            self._run(record, generation)

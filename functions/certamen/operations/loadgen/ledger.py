"""What each Locust worker did with its records: accepted, rejected, failed — and by which route.

Locust's own statistics count requests (a retried vote is several requests); the
ledger counts votes. Each worker writes its ledger as JSON to a directory
(``worker-<index>.json``, replaced atomically every second and at the end), and
:func:`read_ledgers` adds them up: that is how the demo knows how many votes the
producers acknowledged, and exactly which records of the file they were.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class Ledger:
    """One worker's outcomes; record indices are kept for replays (``None`` when sampling)."""

    worker: int = 0
    workers: int = 1
    run_id: str = ""
    tag: str = ""
    mode: str = "replay"
    share: int = 0
    accepted_indices: set[int] = field(default_factory=set)
    accepted: Counter[str] = field(default_factory=Counter)  # route -> votes
    rejected: Counter[str] = field(default_factory=Counter)  # "field/rule" -> votes
    failed: Counter[str] = field(default_factory=Counter)  # route -> votes given up on
    failed_indices: set[int] = field(default_factory=set)
    retries: Counter[str] = field(default_factory=Counter)  # route -> extra attempts
    final: bool = False

    def accept(self, route: str, index: int | None) -> None:
        """A producer acknowledged the vote (Kafka has it)."""
        self.accepted[route] += 1
        if index is not None:
            self.accepted_indices.add(index)

    def reject(self, rule: str) -> None:
        """A producer refused the vote for breaking a rule; resending will not help."""
        self.rejected[rule] += 1

    def fail(self, route: str, index: int | None) -> None:
        """Every attempt was answered 503 / UNAVAILABLE or not at all: the vote may be lost."""
        self.failed[route] += 1
        if index is not None:
            self.failed_indices.add(index)

    def retry(self, route: str) -> None:
        """One more attempt for the same vote, with the same key."""
        self.retries[route] += 1

    def to_dict(self) -> dict[str, Any]:
        """The ledger as JSON-ready data; indices as ``[first, last]`` runs to stay small.

        Worker ``w`` of ``W`` owns the indices ``w + k*W``; the runs are of ``k``.
        """
        return {
            "worker": self.worker,
            "workers": self.workers,
            "run_id": self.run_id,
            "tag": self.tag,
            "mode": self.mode,
            "share": self.share,
            "accepted": dict(self.accepted),
            "rejected": dict(self.rejected),
            "failed": dict(self.failed),
            "retries": dict(self.retries),
            "accepted_runs": to_runs(self._local(self.accepted_indices)),
            "failed_runs": to_runs(self._local(self.failed_indices)),
            "final": self.final,
        }

    def _local(self, indices: Iterable[int]) -> Iterable[int]:
        """Indices of this worker's partition, numbered 0, 1, 2, ... (so runs stay long)."""
        return ((i - self.worker) // self.workers for i in indices)

    def write(self, directory: Path) -> Path:
        """Replace ``worker-<index>.json`` in ``directory`` atomically."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"worker-{self.worker}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        os.replace(temporary, path)
        return path


@dataclass(frozen=True, slots=True)
class LedgerTotals:
    """The ledgers of every worker of a run, added up."""

    workers: int
    share: int
    accepted: Counter[str]
    rejected: Counter[str]
    failed: Counter[str]
    retries: Counter[str]
    accepted_indices: frozenset[int]
    failed_indices: frozenset[int]
    final: bool

    @property
    def accepted_total(self) -> int:
        """Votes the producers acknowledged, all routes."""
        return sum(self.accepted.values())

    @property
    def failed_total(self) -> int:
        """Votes given up on after the last retry."""
        return sum(self.failed.values())

    @property
    def rejected_total(self) -> int:
        """Votes refused for breaking a rule."""
        return sum(self.rejected.values())

    @property
    def done(self) -> int:
        """Votes with a final outcome."""
        return self.accepted_total + self.failed_total + self.rejected_total


def read_ledgers(directory: Path) -> LedgerTotals:
    """Add up every ``worker-*.json`` in ``directory`` (none yet: all zero, not final)."""
    documents = []
    for path in sorted(directory.glob("worker-*.json")):
        try:
            documents.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # being replaced right now; the next read sees it
    accepted: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    retries: Counter[str] = Counter()
    accepted_indices: set[int] = set()
    failed_indices: set[int] = set()
    for document in documents:
        accepted.update(document["accepted"])
        rejected.update(document["rejected"])
        failed.update(document["failed"])
        retries.update(document["retries"])
        worker, stride = int(document["worker"]), int(document["workers"])
        accepted_indices.update(worker + k * stride for k in from_runs(document["accepted_runs"]))
        failed_indices.update(worker + k * stride for k in from_runs(document["failed_runs"]))
    workers = max((int(d["workers"]) for d in documents), default=0)
    return LedgerTotals(
        workers=workers,
        share=sum(int(d["share"]) for d in documents),
        accepted=accepted,
        rejected=rejected,
        failed=failed,
        retries=retries,
        accepted_indices=frozenset(accepted_indices),
        failed_indices=frozenset(failed_indices),
        final=bool(documents) and len(documents) >= workers and all(d["final"] for d in documents),
    )


def to_runs(indices: Iterable[int]) -> list[list[int]]:
    """Sorted indices as ``[first, last]`` runs of consecutive numbers."""
    runs: list[list[int]] = []
    for index in sorted(indices):
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return runs


def from_runs(runs: Iterable[Iterable[int]]) -> Iterable[int]:
    """The indices of ``[first, last]`` runs."""
    for first, last in runs:
        yield from range(first, last + 1)

"""Did every acknowledged vote of a run get counted exactly once? A pure judgement.

Three witnesses are compared: the ledger (what the producers acknowledged), the
vote log (MongoDB: which records were stored, each at most once) and the live
tally (the change of the Redis counters during the run). With the whole file
acknowledged, the tally must also equal the file's own counts per album.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from certamen.operations.loadgen.ledger import LedgerTotals
from certamen.operations.loadgen.runlog import RunLog
from certamen.operations.votefiles import AlbumId, ExpectedTally

_SHOWN = 5  # record indices named in a problem, at most


@dataclass(frozen=True, slots=True)
class Verdict:
    """The problems found (none: the run is exact) and the notes worth a look."""

    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    missing: frozenset[int] = frozenset()
    file_checked: bool = False

    @property
    def ok(self) -> bool:
        """No acknowledged vote missing, none counted twice, every counter agreeing."""
        return not self.problems


def judge(
    ledger: LedgerTotals,
    log: RunLog,
    tally_delta: Mapping[AlbumId, int],
    expected: ExpectedTally | None,
    *,
    records: int,
) -> Verdict:
    """Compare the ledger, the vote log and the tally's change; see the module docstring."""
    problems: list[str] = []
    notes: list[str] = []
    missing = ledger.accepted_indices - log.indices
    if missing:
        problems.append(
            f"{len(missing)} acknowledged vote(s) not counted (records {_some(missing)})"
        )
    unacknowledged = log.indices - ledger.accepted_indices
    if unacknowledged:
        notes.append(
            f"{len(unacknowledged)} vote(s) counted although the sender gave up on them "
            f"(a timeout after Kafka took them; records {_some(unacknowledged)})"
        )
    delta = Counter({album: n for album, n in tally_delta.items() if n})
    counted = sum(delta.values())
    if counted > log.count:
        problems.append(f"the tally grew by {counted} for {log.count} stored votes: double counts")
    elif counted < log.count:
        problems.append(f"the tally grew by {counted} for {log.count} stored votes: lost counts")
    disagree = sorted(a for a in set(delta) | set(log.by_album) if delta[a] != log.by_album[a])
    if disagree:
        problems.append(
            "tally and vote log disagree for "
            + ", ".join(
                f"{b} — {a} ({delta[(b, a)]} vs {log.by_album[(b, a)]})" for b, a in disagree
            )
        )
    file_checked = False
    if expected is not None and ledger.accepted_total == expected.total and not ledger.failed_total:
        file_checked = True
        wrong = sorted(
            a for a in set(delta) | set(expected.by_album) if delta[a] != expected.by_album[a]
        )
        if wrong:
            problems.append(
                "standings differ from the file's counts for "
                + ", ".join(
                    f"{b} — {a} ({delta[(b, a)]}, file {expected.by_album[(b, a)]})"
                    for b, a in wrong
                )
            )
    elif expected is not None:
        notes.append(
            f"{ledger.accepted_total} of {records} records acknowledged: the file's own counts "
            "were not compared (only what was acknowledged)"
        )
    if ledger.failed_total:
        notes.append(f"{ledger.failed_total} vote(s) failed after every retry (503/UNAVAILABLE)")
    if ledger.rejected_total:
        notes.append(f"{ledger.rejected_total} vote(s) rejected by the producers (bad ballots)")
    return Verdict(
        problems=tuple(problems),
        notes=tuple(notes),
        missing=frozenset(missing),
        file_checked=file_checked,
    )


def _some(indices: frozenset[int] | set[int]) -> str:
    shown = sorted(indices)[:_SHOWN]
    more = len(indices) - len(shown)
    return ", ".join(map(str, shown)) + (f" and {more} more" if more else "")

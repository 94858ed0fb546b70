"""Did every acknowledged vote of a run get counted exactly once? A pure judgement.

Three witnesses are compared: the ledger (what the producers answered, vote by vote),
the vote log (MongoDB: which records were stored, each at most once) and the live
tally (Redis: each vote's dedup marker, and the change of the counters during the
run). An acknowledged vote must be in both stores; a refused one in neither; one of
unknown outcome in both or neither (at most once, since its retries shared a key);
the counters must have grown by exactly the votes logged. With the whole file
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
    missing: frozenset[int] = frozenset()  # acknowledged, not counted in both stores
    refused_counted: frozenset[int] = frozenset()  # refused, yet in a store
    half_counted: frozenset[int] = frozenset()  # in one store and not the other
    doubled: int = 0  # the counters grew by this much more than the votes logged
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
    marked: frozenset[int] | None = None,
) -> Verdict:
    """Compare the ledger, the vote log and the tally; see the module docstring.

    ``marked``: the run's records with a dedup marker in Redis (None: not read).
    """
    problems: list[str] = []
    notes: list[str] = []
    in_redis = log.indices if marked is None else marked
    missing = ledger.accepted_indices - (log.indices & in_redis)
    if missing:
        problems.append(
            f"{len(missing)} acknowledged vote(s) not counted (records {_some(missing)})"
        )
    refused_counted = ledger.refused_indices & (log.indices | in_redis)
    if refused_counted:
        problems.append(
            f"{len(refused_counted)} refused vote(s) counted (records {_some(refused_counted)})"
        )
    half_counted = log.indices ^ in_redis
    if half_counted:
        problems.append(
            f"{len(half_counted)} vote(s) in the vote log or the Redis tally, not both "
            f"(records {_some(half_counted)})"
        )
    unknown_counted = ledger.unknown_indices & log.indices
    if ledger.unknown_total:
        notes.append(
            f"{ledger.unknown_total} vote(s) of unknown outcome after every retry, "
            f"{len(unknown_counted)} of them counted (once each)"
        )
    unanswered = log.indices - ledger.accepted_indices - ledger.unknown_indices - refused_counted
    if unanswered:
        notes.append(
            f"{len(unanswered)} vote(s) counted with no outcome in the ledger (still being "
            f"sent when the load ended; records {_some(unanswered)})"
        )
    delta = Counter({album: n for album, n in tally_delta.items() if n})
    counted = sum(delta.values())
    doubled = max(0, counted - log.count)
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
    settled = not (ledger.refused_total or ledger.unknown_total)
    if expected is not None and ledger.accepted_total == expected.total and settled:
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
    if ledger.refused_total:
        notes.append(f"{ledger.refused_total} vote(s) refused after every retry (not taken)")
    if ledger.rejected_total:
        notes.append(f"{ledger.rejected_total} vote(s) rejected by the producers (bad ballots)")
    return Verdict(
        problems=tuple(problems),
        notes=tuple(notes),
        missing=frozenset(missing),
        refused_counted=frozenset(refused_counted),
        half_counted=frozenset(half_counted),
        doubled=doubled,
        file_checked=file_checked,
    )


def _some(indices: frozenset[int] | set[int]) -> str:
    shown = sorted(indices)[:_SHOWN]
    more = len(indices) - len(shown)
    return ", ".join(map(str, shown)) + (f" and {more} more" if more else "")

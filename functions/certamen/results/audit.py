"""The audit: recount the vote log in MongoDB and compare it with every Redis counter.

MongoDB's votes are recounted from one streamed read of the log (``recount_votes``:
constant memory, progress as it goes); Redis is read through the
tally's snapshot (``certamen.results.tally.read_standings``). :func:`compare` is pure and
shared by ``certamen audit`` (``certamen.operations.audit``), the Streamlit app and the demo.

Run it when the stream is quiet: while votes are being counted, MongoDB (written
first) may be ahead of Redis by the votes in flight.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from certamen.adapters.dead_letter_store import DeadLetterCounts, dead_letter_counts
from certamen.adapters.mongo_store import (
    GroupCount,
    make_mongo,
    recount_votes,
    vote_database,
)
from certamen.adapters.redis_store import make_redis, unavailable_as_store_error
from certamen.contract import load_catalog
from certamen.results.tally import Standings, read_standings
from certamen.settings import Settings

# Rank sums are sums of numbers with at most two decimals: equal when equal to the cent.
RANK_SUM_DECIMALS = 2
# A million votes take FerretDB v1 (SQLite) minutes to read (load/results/audit.md).
AUDIT_TIMEOUT_S = 900.0


@dataclass(frozen=True, slots=True)
class AlbumCheck:
    """One album: its votes and rank sum in Redis and in MongoDB."""

    band: str
    album: str
    redis_votes: int
    mongodb_votes: int
    redis_rank_sum: float
    mongodb_rank_sum: float

    @property
    def votes_difference(self) -> int:
        """Redis minus MongoDB."""
        return self.redis_votes - self.mongodb_votes

    @property
    def rank_sum_difference(self) -> float:
        """Redis minus MongoDB, to the cent."""
        return round(self.redis_rank_sum - self.mongodb_rank_sum, RANK_SUM_DECIMALS)

    @property
    def ok(self) -> bool:
        """Both counters agree."""
        return self.votes_difference == 0 and self.rank_sum_difference == 0


@dataclass(frozen=True, slots=True)
class TotalCheck:
    """A counter beyond the albums: a band, a channel, the total, the dead letters."""

    counter: str
    label: str
    redis: int
    mongodb: int

    @property
    def difference(self) -> int:
        """Redis minus MongoDB."""
        return self.redis - self.mongodb

    @property
    def ok(self) -> bool:
        """The counter agrees."""
        return self.difference == 0


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Every counter of Redis next to its recount from MongoDB."""

    albums: list[AlbumCheck]
    totals: list[TotalCheck]
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def differences(self) -> int:
        """How many counters disagree."""
        return sum(not c.ok for c in self.albums) + sum(not c.ok for c in self.totals)

    @property
    def ok(self) -> bool:
        """Redis and MongoDB agree on everything."""
        return self.differences == 0

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (``--json``)."""
        return {
            "ok": self.ok,
            "differences": self.differences,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "albums": [
                {
                    **asdict(c),
                    "votes_difference": c.votes_difference,
                    "rank_sum_difference": c.rank_sum_difference,
                }
                for c in self.albums
            ],
            "totals": [{**asdict(c), "difference": c.difference} for c in self.totals],
        }


def compare(
    standings: Standings,
    groups: list[GroupCount],
    *,
    dead_letters: DeadLetterCounts | None = None,
) -> AuditReport:
    """Set every Redis counter beside its MongoDB recount (pure: no I/O)."""
    votes: dict[tuple[str, str], int] = defaultdict(int)
    sums: dict[tuple[str, str], float] = defaultdict(float)
    bands: dict[str, int] = defaultdict(int)
    channels: dict[str, int] = defaultdict(int)
    for group in groups:
        votes[(group.band, group.album)] += group.votes
        sums[(group.band, group.album)] += group.rank_sum
        bands[group.band] += group.votes
        channels[group.channel] += group.votes
    in_redis = {(s.band, s.album): s for s in standings.by_album}
    albums = []
    for band, album in list(in_redis) + [k for k in votes if k not in in_redis]:
        standing = in_redis.get((band, album))
        albums.append(
            AlbumCheck(
                band=band,
                album=album,
                redis_votes=standing.votes if standing else 0,
                mongodb_votes=votes.get((band, album), 0),
                redis_rank_sum=standing.rank_sum if standing else 0.0,
                mongodb_rank_sum=round(sums.get((band, album), 0.0), RANK_SUM_DECIMALS),
            )
        )
    totals = [
        TotalCheck("band", band, standings.by_band.get(band, 0), bands.get(band, 0))
        for band in dict.fromkeys([*standings.by_band, *bands])
    ]
    totals += [
        TotalCheck(
            "channel", channel, standings.by_channel.get(channel, 0), channels.get(channel, 0)
        )
        for channel in dict.fromkeys([*standings.by_channel, *channels])
    ]
    totals.append(TotalCheck("total", "all votes", standings.total, sum(votes.values())))
    if dead_letters is not None:
        totals += _dead_letter_checks(standings, dead_letters)
    return AuditReport(albums=albums, totals=totals)


def _dead_letter_checks(standings: Standings, counted: DeadLetterCounts) -> list[TotalCheck]:
    """The letters not put right, by rule, and those put right with their votes in the log."""
    reasons = standings.dead_letters_by_reason
    checks = [TotalCheck("dead letters", "not put right", standings.dead_letters, counted.open)]
    checks += [
        TotalCheck(
            "dead letters", f"rule {rule}", reasons.get(rule, 0), counted.open_by_rule.get(rule, 0)
        )
        for rule in dict.fromkeys([*reasons, *counted.open_by_rule])
        if reasons.get(rule, 0) or counted.open_by_rule.get(rule, 0)
    ]
    replayed = standings.dead_letters_replayed
    checks.append(TotalCheck("dead letters", "put right by a replay", replayed, counted.replayed))
    checks.append(
        TotalCheck(
            "dead letters", "put right: their votes logged", replayed, counted.replayed_votes_logged
        )
    )
    return checks


def audit(settings: Settings, progress: Callable[[int, int], None] | None = None) -> AuditReport:
    """Read both stores (Redis first: MongoDB, written first, may only be ahead) and compare.

    ``progress`` is told the votes read from MongoDB so far and the votes Redis counts:
    a big log takes minutes.
    """
    catalog = (
        load_catalog(settings.catalog_path, year_now=time.gmtime().tm_year)
        if settings.catalog_path
        else None
    )
    redis_client = make_redis(settings)
    mongo = make_mongo(settings, timeout_s=AUDIT_TIMEOUT_S)
    try:
        started = time.perf_counter()
        with unavailable_as_store_error():
            standings = read_standings(redis_client, catalog)
        after_redis = time.perf_counter()
        db = vote_database(mongo, settings)
        groups = recount_votes(
            db, None if progress is None else lambda read: progress(read, standings.total)
        )
        after_recount = time.perf_counter()
        dead = dead_letter_counts(db)
        finished = time.perf_counter()
    finally:
        redis_client.close()
        mongo.close()
    report = compare(standings, groups, dead_letters=dead)
    timings = {
        "redis": after_redis - started,
        "mongodb_recount": after_recount - after_redis,
        "mongodb_dead_letters": finished - after_recount,
    }
    return AuditReport(report.albums, report.totals, finished - started, timings)

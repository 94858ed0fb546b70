"""What the stores hold of one replay: the vote log's records, per album, and how fast (MongoDB),
and which records the tally counted (Redis dedup markers).

A replayed record's vote id is its idempotency key ``<run>.<tag>.<index>``
(:mod:`certamen.operations.loadgen.keys`), so the votes of a run are read by their ``_id``s,
whatever else the contest holds (:func:`read_votes` says why one by one). The delay of a
vote is from ``received_at`` (the producer stamped it) to ``processed_at`` (the consumer
stored it): the vote-to-count delay.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from pymongo.database import Database

from certamen.adapters import redis_keys as keys
from certamen.adapters.mongo_store import VOTES
from certamen.operations.loadgen.keys import parse_replay_key, replay_key

AlbumId = tuple[str, str]
_RECEIVED_AT = "%Y-%m-%dT%H:%M:%S.%fZ"
_MARKS_AT_ONCE = 5_000  # EXISTS per pipeline round trip
_READERS = 4  # point reads in flight
_READS_AT_ONCE = 5_000  # ids handed to the readers at a time (bounded memory for a long run)


@dataclass(frozen=True, slots=True)
class RunLog:
    """The counted votes of one replay, as MongoDB stores them."""

    indices: frozenset[int] = frozenset()
    by_album: Counter[AlbumId] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    delays_ms: tuple[float, ...] = ()
    first_received: datetime | None = None
    last_processed: datetime | None = None

    @property
    def count(self) -> int:
        """Votes of the run in the log (``_id`` is unique: each at most once)."""
        return len(self.indices)

    @property
    def span_s(self) -> float:
        """From the first vote received to the last one stored."""
        if self.first_received is None or self.last_processed is None:
            return 0.0
        return max(0.0, (self.last_processed - self.first_received).total_seconds())

    @property
    def rate(self) -> float:
        """Votes counted per second over the run's span, end to end."""
        return self.count / self.span_s if self.span_s > 0 else 0.0

    def delay_ms(self, quantile: float) -> float | None:
        """A quantile of the vote-to-count delay (nearest rank), ``None`` without votes."""
        return percentile(self.delays_ms, quantile)


def read_votes(
    db: Database[dict[str, Any]], ids: Iterable[str], projection: Mapping[str, int]
) -> Iterator[dict[str, Any]]:
    """The vote documents with these ``_id``s (those that are stored), each read by its ``_id``.

    One query per vote, a few in flight: an equality on ``_id`` is the one filter that
    FerretDB v1 (the local MongoDB) answers from an index. A range or ``$in`` on ``_id``
    reads the whole vote log: at 1.5 million votes that took minutes, past the client's
    socket timeout, and FerretDB went on scanning after the client gave up (the whole
    ``certamen bench`` of 2026-12-06 stopped on it). MongoDB answers either from its index.
    """
    votes = db[VOTES]

    def read(vote_id: str) -> dict[str, Any] | None:
        return votes.find_one({"_id": vote_id}, projection)

    wanted = list(ids)
    with ThreadPoolExecutor(_READERS, thread_name_prefix="read-votes") as pool:
        for start in range(0, len(wanted), _READS_AT_ONCE):
            for document in pool.map(read, wanted[start : start + _READS_AT_ONCE]):
                if document is not None:
                    yield document


def read_run_log(
    db: Database[dict[str, Any]], run_id: str, tag: str, records: Iterable[int]
) -> RunLog:
    """Read the run's votes of these record indices: which are stored, album, channel, delay."""
    projection = {"name": 1, "album": 1, "channel": 1, "received_at": 1, "processed_at": 1}
    indices: set[int] = set()
    by_album: Counter[AlbumId] = Counter()
    by_channel: Counter[str] = Counter()
    delays: list[float] = []
    first: datetime | None = None
    last: datetime | None = None
    ids = (replay_key(run_id, tag, index) for index in records)
    for document in read_votes(db, ids, projection):
        key = parse_replay_key(str(document["_id"]))
        if key is None:
            continue
        indices.add(key.index)
        by_album[(document["name"], document["album"])] += 1
        by_channel[document["channel"]] += 1
        received = datetime.strptime(document["received_at"], _RECEIVED_AT).replace(tzinfo=UTC)
        processed = _utc(document["processed_at"])
        delays.append((processed - received).total_seconds() * 1000)
        first = received if first is None else min(first, received)
        last = processed if last is None else max(last, processed)
    return RunLog(
        indices=frozenset(indices),
        by_album=by_album,
        by_channel=by_channel,
        delays_ms=tuple(sorted(delays)),
        first_received=first,
        last_processed=last,
    )


def read_marked(
    client: redis.Redis, run_id: str, tag: str, indices: Iterable[int]
) -> frozenset[int]:
    """Which of the run's records the Redis tally counted: those with a dedup marker."""
    wanted = sorted(indices)
    marked: set[int] = set()
    for start in range(0, len(wanted), _MARKS_AT_ONCE):
        chunk = wanted[start : start + _MARKS_AT_ONCE]
        pipe = client.pipeline(transaction=False)
        for index in chunk:
            pipe.exists(keys.COUNTED_PREFIX + replay_key(run_id, tag, index))
        marked.update(index for index, found in zip(chunk, pipe.execute(), strict=True) if found)
    return frozenset(marked)


def percentile(values: Sequence[float], quantile: float) -> float | None:
    """The nearest-rank quantile of sorted ``values`` (0 < quantile <= 1)."""
    if not values:
        return None
    rank = max(1, math.ceil(quantile * len(values)))
    return float(values[rank - 1])


def _utc(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        return datetime.strptime(moment, _RECEIVED_AT).replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

"""What the vote log (MongoDB) holds of one replay: which records, per album, and how fast.

A replayed record's vote id is its idempotency key ``<run>.<tag>.<index>``
(:mod:`certamen.operations.loadgen.keys`), so one range query on ``_id`` finds exactly the
votes of a run, whatever else the contest holds. The delay of a vote is from
``received_at`` (the producer stamped it) to ``processed_at`` (the consumer
stored it): the vote-to-count delay.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from certamen.adapters.mongo_store import VOTES
from certamen.operations.loadgen.keys import parse_replay_key

AlbumId = tuple[str, str]
_RECEIVED_AT = "%Y-%m-%dT%H:%M:%S.%fZ"


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


def id_range(prefix: str) -> dict[str, str]:
    """A MongoDB filter for every ``_id`` that starts with ``prefix`` (which ends with '.')."""
    return {"$gte": prefix, "$lt": prefix[:-1] + chr(ord(prefix[-1]) + 1)}


def read_run_log(db: Database[dict[str, Any]], prefix: str) -> RunLog:
    """Read every vote of the run: its record index, album, channel and delay."""
    projection = {"name": 1, "album": 1, "channel": 1, "received_at": 1, "processed_at": 1}
    indices: set[int] = set()
    by_album: Counter[AlbumId] = Counter()
    by_channel: Counter[str] = Counter()
    delays: list[float] = []
    first: datetime | None = None
    last: datetime | None = None
    for document in db[VOTES].find({"_id": id_range(prefix)}, projection, batch_size=5_000):
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

"""The read side of the live tally: typed standings out of the Redis counters.

The consumer writes the counters (``certamen.adapters.redis_keys``); the
Streamlit app, the demo and the audit read them through these pure functions
over a client they pass in. One snapshot is read in a single MULTI/EXEC so the
total, the bands and the albums on one screen always add up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import redis

from certamen.adapters import redis_keys as keys
from certamen.contract import CHANNELS, Catalog, album_key


@dataclass(frozen=True, slots=True)
class AlbumStanding:
    """One album's votes and the sum of the ranks its voters gave."""

    band: str
    album: str
    votes: int
    rank_sum: float

    @property
    def key(self) -> str:
        """The ``"band — album"`` label, as in Redis and on the dashboards."""
        return album_key(self.band, self.album)

    @property
    def average_rank(self) -> float | None:
        """The mean rank of the album's votes; ``None`` before its first vote."""
        return self.rank_sum / self.votes if self.votes else None


@dataclass(frozen=True, slots=True)
class Standings:
    """A consistent snapshot of the tally, ordered for display (most votes first)."""

    total: int = 0
    by_band: dict[str, int] = field(default_factory=dict)
    by_album: list[AlbumStanding] = field(default_factory=list)
    by_channel: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0  # not (yet) put right
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    dead_letters_replayed: int = 0  # put right by a replay


def read_standings(client: redis.Redis, catalog: Catalog | None = None) -> Standings:
    """Read every counter at once; with a catalog, candidates without votes show as zero."""
    pipe = client.pipeline(transaction=True)
    pipe.get(keys.TOTAL)
    pipe.hgetall(keys.BY_BAND)
    pipe.hgetall(keys.BY_ALBUM)
    pipe.hgetall(keys.RANK_SUM)
    pipe.hgetall(keys.BY_CHANNEL)
    pipe.get(keys.DEAD_LETTERS)
    pipe.hgetall(keys.DEAD_LETTERS_BY_REASON)
    pipe.get(keys.DEAD_LETTERS_REPLAYED)
    total, bands, albums, rank_sums, channels, dead, reasons, replayed = pipe.execute()

    by_band = _counts(bands)
    album_votes = _counts(albums)
    sums = {_text(k): float(v) for k, v in rank_sums.items()}
    candidates: dict[str, tuple[str, str]] = {}
    if catalog is not None:
        for candidate in catalog.candidates:
            by_band.setdefault(candidate.band, 0)
            candidates[album_key(candidate.band, candidate.album)] = (
                candidate.band,
                candidate.album,
            )
    for label in list(album_votes) + list(sums):
        if label not in candidates:
            candidates[label] = split_album_key(label, by_band)
    by_album = [
        AlbumStanding(band, album, album_votes.get(label, 0), sums.get(label, 0.0))
        for label, (band, album) in candidates.items()
    ]
    by_album.sort(key=lambda s: (-s.votes, s.band.casefold(), s.album.casefold()))
    by_channel = {channel: 0 for channel in CHANNELS} | _counts(channels)
    return Standings(
        total=int(total or 0),
        by_band=_ranked(by_band),
        by_album=by_album,
        by_channel=by_channel,
        dead_letters=int(dead or 0),
        dead_letters_by_reason=_ranked(_counts(reasons)),
        dead_letters_replayed=int(replayed or 0),
    )


def read_rate(
    client: redis.Redis, seconds: int = 60, now: float | None = None
) -> list[tuple[int, int]]:
    """Votes counted in each of the last ``seconds`` seconds, oldest first, zeros included.

    Reads the per-second hash, so the second in progress is shown as it fills up.
    """
    if not 1 <= seconds <= 3600:
        raise ValueError(f"seconds must be between 1 and 3600, not {seconds}")
    last = int(time.time() if now is None else now)
    window = list(range(last - seconds + 1, last + 1))
    values = client.hmget(keys.PER_SECOND, [str(second) for second in window])
    return [(second, int(value or 0)) for second, value in zip(window, values, strict=True)]


def split_album_key(label: str, bands: Iterable[str] = ()) -> tuple[str, str]:
    """Band and album from a ``"band — album"`` label.

    A band name may itself contain the separator, so a known band that prefixes
    the label wins (the longest one); otherwise the first separator splits.
    """
    separator = album_key("", "")
    known = [b for b in bands if label.startswith(b + separator)]
    if known:
        band = max(known, key=len)
        return band, label[len(band) + len(separator) :]
    band, found, album = label.partition(separator)
    return (band, album) if found else ("", label)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _counts(raw: Mapping[bytes | str, bytes | str]) -> dict[str, int]:
    return {_text(k): int(v) for k, v in raw.items()}


def _ranked(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0].casefold())))

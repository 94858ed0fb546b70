"""Idempotency keys for generated load: derived, never random, so a retry is the same vote.

A replayed record's key is ``<run>.<file tag>.<index>``; a sampled vote's key is
``<run>.s<worker>.<sequence>``. Both fit the contract's key rule (8 to 128 of
``A-Z a-z 0-9 . _ : -``), and the consumer stores it as the vote's ``_id``, so the
demo can tell from MongoDB exactly which records of a run were counted.

The run id separates runs: replaying the same file again with a new run id is a
new contest's worth of votes; with the same run id it is a safe resumption (every
record already counted is counted once).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_REPLAY_KEY = re.compile(r"(?P<run>[A-Za-z0-9_-]{1,40})\.(?P<tag>[0-9a-f]{12})\.(?P<index>[0-9]+)")


@dataclass(frozen=True, slots=True)
class ReplayKey:
    """The parts of a replayed record's key."""

    run_id: str
    tag: str
    index: int


def new_run_id() -> str:
    """A run id that sorts by time: ``20261126T172544-3fa9``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(2)


def check_run_id(run_id: str) -> str:
    """Refuse a run id that would make keys outside the contract's rule."""
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"run id {run_id!r}: use 1 to 40 of A-Z a-z 0-9 _ -")
    return run_id


def replay_key(run_id: str, tag: str, index: int) -> str:
    """The key of record ``index`` of the file with fingerprint ``tag``, in run ``run_id``."""
    return f"{run_id}.{tag}.{index}"


def sample_key(run_id: str, worker: int, sequence: int) -> str:
    """The key of the ``sequence``-th sampled vote of a worker."""
    return f"{run_id}.s{worker}.{sequence}"


def replay_prefix(run_id: str, tag: str) -> str:
    """What every key of one replay starts with (for a MongoDB range query)."""
    return f"{run_id}.{tag}."


def parse_replay_key(key: str) -> ReplayKey | None:
    """The parts of a replay key, or ``None`` for any other vote id."""
    match = _REPLAY_KEY.fullmatch(key)
    if match is None:
        return None
    return ReplayKey(match["run"], match["tag"], int(match["index"]))

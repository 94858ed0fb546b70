"""Loads tests/vectors/ballots.json: the one table both the Python contract and the kernel pass."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


@dataclass(frozen=True)
class BallotVector:
    id: str
    body: bytes
    ballot: bytes | None
    error: tuple[str, str] | None


def _expand(parts: list[Any]) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        else:
            text, times = part
            out.append(text * times)
    return "".join(out)


def _case(raw: dict[str, Any]) -> BallotVector:
    if "body_hex" in raw:
        body = bytes.fromhex(raw["body_hex"])
    elif "body_parts" in raw:
        body = _expand(raw["body_parts"]).encode("utf-8")
    else:
        body = raw["body"].encode("utf-8", "surrogatepass")
    ballot = raw.get("ballot")
    if "ballot_parts" in raw:
        ballot = _expand(raw["ballot_parts"])
    error = raw.get("error")
    if "error_parts" in raw:
        error = [_expand(raw["error_parts"][0]), raw["error_parts"][1]]
    return BallotVector(
        id=raw["id"],
        body=body,
        ballot=ballot.encode("utf-8") if ballot is not None else None,
        error=(error[0], error[1]) if error else None,
    )


def ballot_vectors() -> tuple[int, list[BallotVector]]:
    """``(year_now, cases)`` from every ``ballots*.json`` file in tests/vectors."""
    cases: list[BallotVector] = []
    year_now = 0
    for path in sorted(VECTORS.glob("ballots*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        year_now = document["year_now"]
        cases.extend(_case(raw) for raw in document["cases"])
    return year_now, cases

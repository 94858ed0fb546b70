"""The ballot: what a voter sends, validated and normalized exactly as docs/vote-contract.md says.

This is the one Python implementation of the rules; the WebAssembly kernel is
held to it byte for byte by ``tests/vectors/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from certamen.contract.errors import InvalidVote
from certamen.contract.nfc import nfc

MAX_BODY_BYTES = 4096
MAX_DEPTH = 32
MAX_TEXT = 120
FIELDS = ("name", "album", "year", "rank", "vote_id")
YEAR_MIN = 1900

Rank = int | float

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_WHITESPACE = re.compile("[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_YEAR = re.compile("[0-9]{4}")
_RANK = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")
_KEY = re.compile("[A-Za-z0-9._:-]{8,128}")


class _Number(str):
    """A JSON number literal, kept as written so that ``1997.0`` is not ``1997``."""


class _Object(list[tuple[str, object]]):
    """A JSON object as its key/value pairs, in document order, duplicates kept."""


@dataclass(frozen=True, slots=True)
class Ballot:
    """A valid, normalized ballot; ``vote_id`` is the client's key from the body, if any."""

    name: str
    album: str
    year: int
    rank: Rank
    vote_id: str | None = None

    def to_json(self) -> bytes:
        """The canonical ballot bytes (the kernel returns the same bytes)."""
        text = (
            f'{{"name":{json_string(self.name)},"album":{json_string(self.album)},'
            f'"year":{self.year},"rank":{json_number(self.rank)}'
        )
        if self.vote_id is not None:
            text += f',"vote_id":{json_string(self.vote_id)}'
        return (text + "}").encode()


def parse_ballot(body: bytes, *, year_now: int) -> Ballot:
    """Validate a JSON ballot body; raise :class:`InvalidVote` naming the first broken rule."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidVote("body", "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidVote("body", "utf8", f"the body is not valid UTF-8 (byte {e.start})") from None
    document = _parse_json(text)
    if not isinstance(document, _Object):
        raise InvalidVote("body", "type", "the body must be a JSON object")
    return ballot_from_pairs(document, year_now=year_now)


def ballot_from_pairs(pairs: Iterable[tuple[str, object]], *, year_now: int) -> Ballot:
    """Validate a ballot given as key/value pairs (JSON objects, gRPC messages)."""
    pairs = list(pairs)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise InvalidVote(_key_label(key), "duplicate", "this field is given twice")
        seen.add(key)
    for key, _ in pairs:
        if key not in FIELDS:
            raise InvalidVote(
                _key_label(key), "unknown_field", f"unknown field; expected {', '.join(FIELDS)}"
            )
    values = dict(pairs)
    name = text_field("name", _required(values, "name"))
    album = text_field("album", _required(values, "album"))
    year = year_field(_required(values, "year"), year_now=year_now)
    rank = rank_field(_required(values, "rank"))
    vote_id = vote_id_field(values["vote_id"]) if "vote_id" in values else None
    return Ballot(name=name, album=album, year=year, rank=rank, vote_id=vote_id)


def text_field(field: str, value: object) -> str:
    """Check and normalize a band or album name."""
    if type(value) is not str:
        raise InvalidVote(field, "type", f"must be text, not {_kind(value)}")
    if _SURROGATE.search(value):
        raise InvalidVote(field, "invalid_unicode", "contains a lone surrogate")
    if _CONTROL.search(value):
        raise InvalidVote(field, "control_character", "contains a control character")
    value = _WHITESPACE.sub(" ", nfc(value)).strip(" ")
    if not value:
        raise InvalidVote(field, "empty", "must not be empty")
    if len(value) > MAX_TEXT:
        raise InvalidVote(field, "too_long", f"must be at most {MAX_TEXT} characters")
    return value


def year_field(value: object, *, year_now: int) -> int:
    """Check a year given as a four-digit string or integer."""
    text = _number_text("year", value)
    if not _YEAR.fullmatch(text):
        raise InvalidVote("year", "format", "must be a four-digit year")
    year = int(text)
    if not YEAR_MIN <= year <= year_now:
        raise InvalidVote("year", "range", f"must be between {YEAR_MIN} and {year_now}")
    return year


def rank_field(value: object) -> Rank:
    """Check a rank (0 to 100, at most two decimals) and return its canonical number."""
    text = _number_text("rank", value)
    match = _RANK.fullmatch(text)
    if not match:
        raise InvalidVote("rank", "format", "must be a decimal number such as 9.5")
    if text.startswith("-"):
        raise InvalidVote("rank", "range", "must be between 0 and 100")
    whole, fraction = match.group(1).lstrip("0") or "0", (match.group(2) or "").rstrip("0")
    if match.group(2) and len(match.group(2)) > 2:
        raise InvalidVote("rank", "precision", "must have at most two decimals")
    if len(whole) > 3 or int(whole) > 100 or (int(whole) == 100 and fraction):
        raise InvalidVote("rank", "range", "must be between 0 and 100")
    return float(f"{whole}.{fraction}") if fraction else int(whole)


def vote_id_field(value: object) -> str:
    """Check a client idempotency key."""
    if type(value) is not str:
        raise InvalidVote("vote_id", "type", f"must be text, not {_kind(value)}")
    if not _KEY.fullmatch(value):
        raise InvalidVote(
            "vote_id", "format", "must be 8 to 128 of the characters A-Z a-z 0-9 . _ : -"
        )
    return value


def json_string(value: str) -> str:
    """A JSON string literal that escapes only what valid ballot text can contain."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def json_number(value: Rank) -> str:
    """A rank as written in canonical JSON: ``9.5``, ``100``."""
    return str(value) if isinstance(value, int) else repr(value)


def _parse_json(text: str) -> object:
    def reject_constant(name: str) -> object:
        raise ValueError(name)

    try:
        document = json.loads(
            text,
            object_pairs_hook=_Object,
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=reject_constant,
        )
    except (ValueError, RecursionError):
        raise InvalidVote("body", "json", "the body is not valid JSON") from None
    if _depth(document) > MAX_DEPTH:
        raise InvalidVote("body", "json", f"the body nests deeper than {MAX_DEPTH} levels")
    return document


def _depth(value: object) -> int:
    """How deep arrays and objects nest; without recursion, since Python 3.13's json module
    parses far deeper than the interpreter's recursion limit lets a recursive walk go."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, _Object):
            stack.extend((v, depth + 1) for _, v in item)
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        else:
            continue
        deepest = max(deepest, depth)
    return deepest


def _required(values: dict[str, object], field: str) -> object:
    if field not in values:
        raise InvalidVote(field, "required", "is required")
    return values[field]


def _number_text(field: str, value: object) -> str:
    """The text of a year or rank: a string's content or a number as written."""
    if isinstance(value, str):
        return str(value)
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return repr(value)
    raise InvalidVote(field, "type", f"must be a number or a numeric string, not {_kind(value)}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, _Number | int | float):
        return "a number"
    if isinstance(value, _Object | dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _key_label(key: str) -> str:
    return _SURROGATE.sub("\ufffd", key[:64])

"""The canonical vote: what producers put on Kafka and what the consumer stores."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from certamen.contract.ballot import (
    Ballot,
    Rank,
    json_number,
    json_string,
    rank_field,
    text_field,
    vote_id_field,
    year_field,
)
from certamen.contract.errors import InvalidVote

# The route a vote came by: a producer, or the original system's records (contract.legacy).
Channel = Literal["grpc", "wasm", "legacy"]
CHANNELS: tuple[Channel, ...] = ("grpc", "wasm", "legacy")
VOTE_FIELDS = ("vote_id", "name", "album", "year", "rank", "channel", "received_at")
_RECEIVED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@dataclass(frozen=True, slots=True)
class Vote:
    """A counted-to-be vote, with its id, the route it came by and when it was received."""

    vote_id: str
    name: str
    album: str
    year: int
    rank: Rank
    channel: Channel
    received_at: str

    @classmethod
    def from_ballot(
        cls, ballot: Ballot, *, vote_id: str, channel: Channel, received_at: datetime
    ) -> Vote:
        """Stamp a valid ballot with its id, channel and reception time."""
        return cls(
            vote_id=vote_id,
            name=ballot.name,
            album=ballot.album,
            year=ballot.year,
            rank=ballot.rank,
            channel=channel,
            received_at=format_timestamp(received_at),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Vote:
        """Read canonical vote JSON strictly; anything else is an :class:`InvalidVote`.

        ``data`` may also be what a CloudEvents SDK already decoded from JSON that is
        no object (a list, a number): that is no vote either.
        """
        if not isinstance(data, bytes | bytearray | str):
            raise InvalidVote("body", "type", "the vote must be a JSON object")
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            raise InvalidVote("body", "json", "the vote is not valid JSON") from None
        return cls.from_mapping(document)

    @classmethod
    def from_mapping(cls, document: object) -> Vote:
        """Check a decoded vote (as functions-framework hands it over) against the contract."""
        if not isinstance(document, dict):
            raise InvalidVote("body", "type", "the vote must be a JSON object")
        for key in document:
            if key not in VOTE_FIELDS:
                raise InvalidVote(str(key)[:64], "unknown_field", "unknown field in a vote")
        for key in VOTE_FIELDS:
            if key not in document:
                raise InvalidVote(key, "required", "is required")
        received_at = document["received_at"]
        if not isinstance(received_at, str) or not _RECEIVED_AT.fullmatch(received_at):
            raise InvalidVote("received_at", "format", "must be RFC 3339 UTC with milliseconds")
        try:
            # The pattern fixed the layout; this checks the date is real (no 30 February).
            # fromisoformat costs a tenth of strptime, which showed in the consumer's profile.
            year_now = datetime.fromisoformat(received_at[:-1]).year
        except ValueError:
            raise InvalidVote("received_at", "format", "is not a real date and time") from None
        channel = document["channel"]
        if channel not in CHANNELS:
            raise InvalidVote("channel", "format", f"must be one of {', '.join(CHANNELS)}")
        if type(document["year"]) is not int:
            raise InvalidVote("year", "type", "must be an integer in a canonical vote")
        if type(document["rank"]) not in (int, float):
            raise InvalidVote("rank", "type", "must be a number in a canonical vote")
        return cls(
            vote_id=vote_id_field(document["vote_id"]),
            name=text_field("name", document["name"]),
            album=text_field("album", document["album"]),
            year=year_field(document["year"], year_now=year_now),
            rank=rank_field(document["rank"]),
            channel=channel,
            received_at=received_at,
        )

    def to_json(self) -> bytes:
        """The canonical vote bytes: compact, fixed key order, UTF-8."""
        return (
            f'{{"vote_id":{json_string(self.vote_id)},"name":{json_string(self.name)},'
            f'"album":{json_string(self.album)},"year":{self.year},'
            f'"rank":{json_number(self.rank)},"channel":"{self.channel}",'
            f'"received_at":"{self.received_at}"}}'
        ).encode()

    def to_dict(self) -> dict[str, Any]:
        """The canonical fields as a plain dict (for documents and tables)."""
        return {key: getattr(self, key) for key in VOTE_FIELDS}

    @property
    def album_key(self) -> str:
        """The Redis field for this vote's album: ``"band — album"``."""
        return album_key(self.name, self.album)


def album_key(band: str, album: str) -> str:
    """The ``"band — album"`` label used by the Redis album counters and the dashboards."""
    return f"{band} \u2014 {album}"


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``, as ``received_at`` is written."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"

"""Vote files: the original contest's format, read as is, and a generator for a catalog.

A vote file is a JSON array of ballots such as
``{"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}``.
Locust replays or samples these records, the demo generates one per run, and the
expected tally of a file (what the counters must show once every record is counted)
is computed with the vote contract itself, so that it agrees with the producers.

``certamen generate-votes --count N --seed S --output F [--counts SPEC]`` writes one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from certamen.contract import Catalog, ContractError, InvalidVote, load_catalog, parse_ballot
from certamen.settings import Settings

Record = dict[str, object]
AlbumId = tuple[str, str]  # (band, album), in the catalog's spelling

# The example catalog of the repository, used when CERTAMEN_CATALOG is not set.
DEFAULT_CATALOG = Path("load/data/catalog.yaml")


class VoteFileError(ValueError):
    """A vote file, catalog or counts spec that cannot be used; the message names the problem."""


@dataclass(frozen=True, slots=True)
class VoteFile:
    """The records of a vote file and a short fingerprint of its bytes.

    The fingerprint goes into every idempotency key derived from the file, so that
    two different files never share keys while a retry of the same record does.
    """

    path: Path
    records: tuple[Record, ...]
    tag: str

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True, slots=True)
class ExpectedTally:
    """What the counters must show once every record of a file is counted once."""

    by_album: Counter[AlbumId]
    rejected: Counter[str]  # "field/rule" -> records the producers must refuse

    @property
    def total(self) -> int:
        """The number of records that are valid votes."""
        return sum(self.by_album.values())


def read_votes(path: Path) -> VoteFile:
    """Read a vote file as is: a JSON array of objects; values are not judged here.

    The producers judge each ballot (a file may hold bad votes on purpose); this
    only refuses what is not a vote file at all.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise VoteFileError(f"{path}: cannot read the vote file: {e.strerror or e}") from e
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise VoteFileError(f"{path}: not a JSON file: {e}") from e
    if not isinstance(document, list):
        raise VoteFileError(f"{path}: expected a JSON array of votes, found {_kind(document)}")
    for index, record in enumerate(document):
        if not isinstance(record, dict):
            raise VoteFileError(f"{path}: record {index} is {_kind(record)}, not an object")
    return VoteFile(path=path, records=tuple(document), tag=file_tag(raw))


def file_tag(raw: bytes) -> str:
    """The first 12 hex digits of the SHA-256 of a file's bytes."""
    return hashlib.sha256(raw).hexdigest()[:12]


def record_body(record: Mapping[str, object]) -> bytes:
    """A record as the JSON body sent to producer-wasm (UTF-8, no escapes needed)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def record_fields(record: Mapping[str, object]) -> dict[str, str]:
    """A record's fields as text, for protocols that carry text only (gRPC's CastRequest).

    Numbers keep the text JSON gives them (``1997`` -> ``"1997"``, ``9.5`` -> ``"9.5"``);
    any other kind of value becomes its JSON text so the producer can reject it.
    """
    return {
        key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in record.items()
    }


def expected_tally(
    records: Sequence[Mapping[str, object]],
    catalog: Catalog | None,
    *,
    year_now: int | None = None,
) -> ExpectedTally:
    """Judge each record with the vote contract, as a producer would, and count the result."""
    year = year_now if year_now is not None else datetime.now(UTC).year
    by_album: Counter[AlbumId] = Counter()
    rejected: Counter[str] = Counter()
    for record in records:
        try:
            ballot = parse_ballot(record_body(record), year_now=year)
            if catalog is not None:
                ballot = catalog.check(ballot)
        except InvalidVote as e:
            rejected[f"{e.field}/{e.rule}"] += 1
            continue
        by_album[(ballot.name, ballot.album)] += 1
    return ExpectedTally(by_album=by_album, rejected=rejected)


def generate_votes(
    catalog: Catalog,
    *,
    count: int,
    seed: int,
    counts: Mapping[AlbumId, int] | None = None,
) -> list[dict[str, str]]:
    """A shuffled contest for ``catalog``, the same for the same seed.

    With ``counts`` each album gets exactly that many votes (``count`` is then the
    sum); otherwise every album gets a random popularity and ``count`` votes are
    drawn from it, so the standings have a winner rather than a tie.
    """
    rng = random.Random(seed)
    candidates = list(catalog.candidates)
    if counts is not None:
        unknown = [f"{b}/{a}" for b, a in counts if (b, a) not in _album_ids(catalog)]
        if unknown:
            raise VoteFileError(f"not in the catalog: {', '.join(unknown)}")
        chosen = [c for c in candidates for _ in range(counts.get((c.band, c.album), 0))]
        rng.shuffle(chosen)
    else:
        if count < 0:
            raise VoteFileError(f"count must be zero or more, not {count}")
        weights = [rng.gammavariate(2.0, 1.0) for _ in candidates]
        chosen = rng.choices(candidates, weights=weights, k=count)
    return [
        {"name": c.band, "album": c.album, "year": str(c.year), "rank": _rank(rng)} for c in chosen
    ]


def write_votes(path: Path, records: Sequence[Mapping[str, object]]) -> None:
    """Write a vote file: a JSON array, one record per line (readable, diffable)."""
    lines = ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[\n{lines}\n]\n" if records else "[]\n", encoding="utf-8")


def parse_counts(spec: str, catalog: Catalog) -> dict[AlbumId, int]:
    """Votes per album from ``"Band/Album=N;Band/Album=N"`` or a YAML/JSON file.

    The file maps band -> album -> count. Names are matched without regard to case
    and come back in the catalog's spelling; albums not named get no votes.
    """
    path = Path(spec)
    if path.suffix in (".yaml", ".yml", ".json") and path.exists():
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise VoteFileError(f"{path}: cannot read the counts: {e}") from e
        if not isinstance(document, dict) or any(
            not isinstance(v, dict) for v in document.values()
        ):
            raise VoteFileError(f"{path}: expected a mapping band -> album -> count")
        items = [
            (str(band), str(album), n)
            for band, albums in document.items()
            for album, n in albums.items()
        ]
    else:
        items = []
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            label, equals, n = part.rpartition("=")
            band, slash, album = label.partition("/")
            if not (equals and slash):
                raise VoteFileError(f"counts: {part!r} is not Band/Album=N")
            items.append((band.strip(), album.strip(), n.strip()))
    spelled = {(b.casefold(), a.casefold()): (b, a) for b, a in _album_ids(catalog)}
    counts: dict[AlbumId, int] = {}
    for band, album, n in items:
        album_id = spelled.get((band.casefold(), album.casefold()))
        if album_id is None:
            raise VoteFileError(f"counts: {band}/{album} is not in the catalog")
        try:
            number = int(str(n))
        except ValueError:
            raise VoteFileError(f"counts: {band}/{album}={n} is not a whole number") from None
        if number < 0:
            raise VoteFileError(f"counts: {band}/{album}={number} is negative")
        counts[album_id] = counts.get(album_id, 0) + number
    return counts


def catalog_for(settings: Settings) -> Catalog:
    """The contest's catalog: CERTAMEN_CATALOG, else the repository's example catalog."""
    path = settings.catalog_path or DEFAULT_CATALOG
    try:
        return load_catalog(path, year_now=datetime.now(UTC).year)
    except ContractError as e:
        raise VoteFileError(str(e)) from e


def run(settings: Settings, args: argparse.Namespace) -> int:
    """``certamen generate-votes``: write a vote file for the contest's catalog."""
    try:
        catalog = catalog_for(settings)
        counts = parse_counts(args.counts, catalog) if args.counts else None
        records = generate_votes(catalog, count=args.count, seed=args.seed, counts=counts)
        output = Path(args.output)
        write_votes(output, records)
    except (VoteFileError, OSError) as e:
        print(f"certamen generate-votes: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(records)} votes for {len(catalog.candidates)} albums to {output}")
    return 0


def _album_ids(catalog: Catalog) -> list[AlbumId]:
    return [(c.band, c.album) for c in catalog.candidates]


def _rank(rng: random.Random) -> str:
    """A rank as the original files wrote it: "1".."100", now and then a half ("9.5")."""
    whole = rng.randint(1, 100)
    return f"{whole - 1}.5" if rng.random() < 0.1 else str(whole)


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"

"""The optional contest catalog: the candidate bands, their albums and years.

With a catalog the contest is closed (a vote for anything else is rejected) and
every candidate's counter exists from the start; without one it is open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from certamen.contract.ballot import Ballot, text_field, year_field
from certamen.contract.errors import CatalogError, InvalidVote


@dataclass(frozen=True, slots=True)
class Candidate:
    """One album that can be voted for."""

    band: str
    album: str
    year: int


@dataclass(frozen=True, slots=True)
class Catalog:
    """The candidates of a closed contest, looked up without regard to case."""

    title: str
    candidates: tuple[Candidate, ...]

    @property
    def bands(self) -> list[str]:
        """The bands in catalog order, each once."""
        return list(dict.fromkeys(c.band for c in self.candidates))

    def check(self, ballot: Ballot) -> Ballot:
        """Reject a ballot for a non-candidate; return it with the catalog's spelling."""
        band = ballot.name.casefold()
        albums = [c for c in self.candidates if c.band.casefold() == band]
        if not albums:
            raise InvalidVote("name", "not_in_catalog", "this band is not in the contest")
        wanted = ballot.album.casefold()
        match = next((c for c in albums if c.album.casefold() == wanted), None)
        if match is None:
            raise InvalidVote("album", "not_in_catalog", f"{albums[0].band} has no such album")
        if match.year != ballot.year:
            raise InvalidVote("year", "not_in_catalog", f"{match.album} is from {match.year}")
        return replace(ballot, name=match.band, album=match.album)


def load_catalog(path: Path, *, year_now: int) -> Catalog:
    """Read a catalog file (YAML or JSON); names follow the same rules as ballots."""
    try:
        raw = path.read_text(encoding="utf-8")
        document = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise CatalogError(f"{path}: cannot read the catalog: {e}") from e
    if not isinstance(document, dict) or not isinstance(document.get("bands"), list):
        raise CatalogError(f"{path}: expected a mapping with a list under 'bands'")
    candidates: list[Candidate] = []
    try:
        for band in document["bands"]:
            name = text_field("name", band["name"])
            for album in band["albums"]:
                candidates.append(
                    Candidate(
                        band=name,
                        album=text_field("album", album["title"]),
                        year=year_field(album["year"], year_now=year_now),
                    )
                )
    except (KeyError, TypeError) as e:
        raise CatalogError(
            f"{path}: each band needs 'name' and 'albums', each album 'title' and 'year'"
        ) from e
    except InvalidVote as e:
        raise CatalogError(f"{path}: {e}") from e
    if not candidates:
        raise CatalogError(f"{path}: the catalog lists no album")
    seen = {(c.band.casefold(), c.album.casefold()) for c in candidates}
    if len(seen) != len(candidates):
        raise CatalogError(f"{path}: an album is listed twice")
    return Catalog(title=str(document.get("title", "Certamen")), candidates=tuple(candidates))

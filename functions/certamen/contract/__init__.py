"""The vote contract, in one place: ballots, canonical votes, ids, the catalog and the event.

Everything that writes or reads a vote agrees through this folder: the ballot a
voter sends, the canonical vote, its id, the catalog of candidates and the
CloudEvent with its Kafka binding, and how KafkaSource wraps a record that is
no CloudEvent (``foreign.py``). It imports nothing else of the package.
"""

from certamen.contract.ballot import (
    MAX_BODY_BYTES,
    Ballot,
    ballot_from_pairs,
    parse_ballot,
    vote_id_field,
)
from certamen.contract.catalog import Candidate, Catalog, load_catalog
from certamen.contract.errors import CatalogError, ContractError, InvalidVote
from certamen.contract.event import (
    VOTE_EVENT_TYPE,
    event_from_kafka,
    source_for,
    vote_event,
    vote_from_event,
    vote_to_kafka,
)
from certamen.contract.ids import new_vote_id, resolve_vote_id
from certamen.contract.vote import CHANNELS, Channel, Vote, album_key, format_timestamp

__all__ = [
    "CHANNELS",
    "MAX_BODY_BYTES",
    "VOTE_EVENT_TYPE",
    "Ballot",
    "Candidate",
    "Catalog",
    "CatalogError",
    "Channel",
    "ContractError",
    "InvalidVote",
    "Vote",
    "album_key",
    "ballot_from_pairs",
    "event_from_kafka",
    "format_timestamp",
    "load_catalog",
    "new_vote_id",
    "parse_ballot",
    "resolve_vote_id",
    "source_for",
    "vote_event",
    "vote_from_event",
    "vote_id_field",
    "vote_to_kafka",
]

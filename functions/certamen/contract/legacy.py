"""Records of the original system's Go producer, read as votes of channel ``legacy``.

That producer wrote ``json.Marshal`` of a struct with four string fields
(``{"Name":"…","Album":"…","Year":"1997","Rank":"9.5"}``), with no key and no
headers. Such a record is no CloudEvent, so KafkaSource wraps it
(``dev.knative.kafka.event``, id ``partition:<p>/offset:<o>``, source ``…#<topic>``).
When the consumer is told to accept legacy records, its ballot goes through the
same rules as any other (``ballot_from_pairs``: text, year, rank, then the
catalog), and its vote id is derived from where the record sits in Kafka, so a
redelivered record is the same vote and counts once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from certamen.contract.ballot import Ballot, ballot_from_pairs
from certamen.contract.errors import InvalidVote

# The Go struct's field names (json.Marshal writes them as declared) -> the ballot's.
LEGACY_FIELDS: Mapping[str, str] = {
    "Name": "name",
    "Album": "album",
    "Year": "year",
    "Rank": "rank",
}
LEGACY_ID_PREFIX = "legacy:"
_MAX_VOTE_ID = 128  # the vote id's rule (docs/vote-contract.md)


def legacy_ballot(data: object, *, year_now: int) -> Ballot:
    """The ballot of a legacy record as the CloudEvents SDK decoded it (a JSON object).

    Keys are the Go producer's, capitalised; any other key is ``unknown_field``
    under its own name, a missing one ``required`` under the ballot's name.
    """
    if not isinstance(data, dict):
        raise InvalidVote("body", "type", "a legacy record must be a JSON object")
    pairs: list[tuple[str, object]] = []
    for key, value in data.items():
        field = LEGACY_FIELDS.get(str(key))
        if field is None:
            raise InvalidVote(
                str(key)[:64], "unknown_field", "unknown field; expected Name, Album, Year, Rank"
            )
        pairs.append((field, value))
    return ballot_from_pairs(pairs, year_now=year_now)


def legacy_vote_id(topic: str, partition: int, offset: int) -> str:
    """``legacy:<topic>:<partition>:<offset>``: one record, one vote id, however often delivered.

    A topic name may be up to 249 characters; where the id would break the vote id's
    128-character rule, the topic is replaced by the start of its SHA-256.
    """
    vote_id = f"{LEGACY_ID_PREFIX}{topic}:{partition}:{offset}"
    if len(vote_id) <= _MAX_VOTE_ID:
        return vote_id
    digest = hashlib.sha256(topic.encode()).hexdigest()[:32]
    return f"{LEGACY_ID_PREFIX}{digest}:{partition}:{offset}"

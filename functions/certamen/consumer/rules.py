"""What the consumer takes as a vote, in one place: for the consumer and the replay of dead letters.

An event is a vote when it is our vote event (``contract.vote_from_event``), or,
when legacy records are accepted, a record of the original Go producer that the
source wrapped (``contract.legacy``). Either way the catalog, if there is one,
has the last word. Anything else is an :class:`InvalidVote` naming the rule.
Pure: the replay of a dead letter judges its stored event with the same object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from cloudevents.abstract import AnyCloudEvent

from certamen.consumer.documents import arrived_attributes
from certamen.contract import Ballot, Catalog, InvalidVote, Vote, vote_from_event
from certamen.contract.foreign import FOREIGN_TYPE, kafka_origin
from certamen.contract.legacy import legacy_ballot, legacy_vote_id


@dataclass(frozen=True, slots=True)
class Rules:
    """The consumer's rules: the contract, legacy records if accepted, then the catalog."""

    catalog: Catalog | None
    accept_legacy: bool
    clock: Callable[[], datetime]

    def vote(self, event: AnyCloudEvent) -> Vote:
        """The event's vote, or :class:`InvalidVote` naming the first rule it breaks."""
        if self.accept_legacy and event["type"] == FOREIGN_TYPE:
            vote = self._legacy_vote(event)
        else:
            vote = vote_from_event(event)
        if self.catalog is None:
            return vote
        ballot = self.catalog.check(Ballot(vote.name, vote.album, vote.year, vote.rank))
        return replace(vote, name=ballot.name, album=ballot.album)

    def _legacy_vote(self, event: AnyCloudEvent) -> Vote:
        """A wrapped record whose data is a JSON object is judged as a legacy ballot; its
        vote id says where it was in Kafka, its time is the record's."""
        attributes = arrived_attributes(event)
        origin = kafka_origin(attributes)
        data = event.get_data()
        topic, partition, offset = origin.topic, origin.partition, origin.offset
        if topic is None or partition is None or offset is None or not isinstance(data, dict):
            raise InvalidVote("type", "unknown_type", f"not a vote event: {event['type']!r}")
        received_at = _time(attributes.get("time")) or self.clock()
        ballot = legacy_ballot(data, year_now=received_at.year)
        return Vote.from_ballot(
            ballot,
            vote_id=legacy_vote_id(topic, partition, offset),
            channel="legacy",
            received_at=received_at,
        )


def _time(value: object) -> datetime | None:
    """The record's time, as the source wrote it (RFC 3339); ``None`` if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None

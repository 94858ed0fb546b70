"""vote_record (the producers' encoder) writes vote_to_kafka's record byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from certamen.contract import (
    CHANNELS,
    Channel,
    Vote,
    event_from_kafka,
    parse_ballot,
    vote_from_event,
    vote_to_kafka,
)
from certamen.contract.event import vote_record
from tests.support.vectors import BallotVector, ballot_vectors

YEAR_NOW, CASES = ballot_vectors()
ACCEPTED = [case for case in CASES if case.ballot is not None]
RECEIVED = datetime(2026, 11, 26, 17, 25, 44, 123456, tzinfo=UTC)


def test_the_vectors_include_accepted_ballots_with_non_ascii_text() -> None:
    assert len(ACCEPTED) >= 20
    assert any(not case.ballot.isascii() for case in ACCEPTED if case.ballot)


@pytest.mark.parametrize("case", ACCEPTED, ids=[c.id for c in ACCEPTED])
@pytest.mark.parametrize("channel", CHANNELS)
def test_same_record_as_the_sdk_encoder(case: BallotVector, channel: Channel) -> None:
    ballot = parse_ballot(case.body, year_now=YEAR_NOW)
    vote = Vote.from_ballot(
        ballot,
        vote_id="01a2198b-c9d2-7e39-a9bc-7156fd16753f",
        channel=channel,
        received_at=RECEIVED,
    )

    ours, sdk = vote_record(vote), vote_to_kafka(vote)

    assert ours.key == sdk.key
    assert ours.value == sdk.value
    assert list(ours.headers.items()) == list(sdk.headers.items())  # names, values and order
    assert vote_from_event(event_from_kafka(ours)) == vote

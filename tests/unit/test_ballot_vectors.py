"""The vector table against the Python contract: every case, byte for byte."""

from __future__ import annotations

import pytest

from certamen.contract import InvalidVote, parse_ballot
from tests.support.vectors import BallotVector, ballot_vectors

YEAR_NOW, CASES = ballot_vectors()


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES), "vector ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vector(case: BallotVector) -> None:
    if case.ballot is not None:
        assert parse_ballot(case.body, year_now=YEAR_NOW).to_json() == case.ballot
    else:
        with pytest.raises(InvalidVote) as caught:
            parse_ballot(case.body, year_now=YEAR_NOW)
        assert (caught.value.field, caught.value.rule) == case.error
        assert caught.value.message

"""The Go voters' ledger lines are classified by newconn's own rules (load/govoters.py)."""

from __future__ import annotations

from typing import Any

import pytest

from load import govoters

BALLOTS = [{"name": "Alux Nahual", "album": "Alux Nahual", "year": "1985", "rank": "9"}]
REFUSED_HTTP = (
    "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 40\r\n\r\n"
    '{"errors":[{"rule":"unavailable"}]}'
)


def line(**answer: Any) -> dict[str, Any]:
    return {"key": "run.grpc0.0", "route": "grpc", "ballot": 0, "started": 10.0,
            "seconds": 0.5, **answer}  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ({"sent": True, "code": 0}, "accepted"),
        ({"sent": True, "code": 14, "trailers": {"certamen-vote-id": "v", "retry-after": "1"}},
         "refused"),
        ({"sent": True, "code": 14, "details": "connection reset"}, "unknown"),
        ({"sent": False, "code": 14, "details": "connection refused"}, "failed"),
        ({"sent": True, "code": 4}, "unknown"),
        ({"sent": True, "code": 3}, "rejected"),
        ({"sent": True, "code": 8}, "failed"),
        ({"sent": True, "response": "HTTP/1.1 202 Accepted\r\n\r\n{}"}, "accepted"),
        ({"sent": True, "response": REFUSED_HTTP}, "refused"),
        ({"sent": True, "response": "HTTP/1.1 400 Bad Request\r\n\r\n{}"}, "rejected"),
        ({"sent": False, "error": "connect: connection refused"}, "failed"),
        ({"sent": True, "error": "after sending: EOF"}, "unknown"),
    ],
)  # fmt: skip
def test_a_go_ledger_line_gets_the_class_newconn_gives_that_answer(
    answer: dict[str, Any], outcome: str
) -> None:
    vote = govoters.vote_from_record(line(**answer), BALLOTS)
    assert vote.outcome == outcome
    assert (vote.key, vote.ballot, vote.started, vote.seconds) == ("run.grpc0.0", BALLOTS[0],
                                                                   10.0, 0.5)  # fmt: skip


def test_a_refusal_keeps_its_retry_after() -> None:
    trailers = {"certamen-vote-id": "v", "retry-after": "2"}
    vote = govoters.vote_from_record(line(sent=True, code=14, trailers=trailers), BALLOTS)
    assert vote.retry_after == "2"
    assert govoters.vote_from_record(line(sent=True, response=REFUSED_HTTP), BALLOTS).retry_after

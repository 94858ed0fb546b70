"""What each producer answer means to the load's careful client, and a vote's final class."""

from __future__ import annotations

import json

import pytest

from certamen.operations.loadgen.outcomes import (
    Accepted,
    Attempts,
    Outcome,
    Refused,
    Rejected,
    Unknown,
    answer_class,
    batch_result_outcome,
    grpc_outcome,
    http_outcome,
)

NOT_TAKEN = json.dumps(
    {"error": {"field": "kafka", "rule": "unavailable", "message": "..."}, "vote_id": "v-1"}
)
UNKNOWN_OUTCOME = json.dumps(
    {"error": {"field": "kafka", "rule": "unknown_outcome", "message": "..."}, "vote_id": "v-1"}
)
BAD_RANK = json.dumps({"error": {"field": "rank", "rule": "range", "message": "..."}})
CONFLICT = json.dumps({"error": {"field": "vote_id", "rule": "conflict"}, "vote_id": "v-1"})


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "sent", "expected"),
    [
        (202, "{}", None, True, Accepted()),
        (400, BAD_RANK, None, True, Rejected("rank/range")),
        (409, CONFLICT, None, True, Rejected("vote_id/conflict")),
        (413, "", None, True, Rejected("http/413")),
        (503, NOT_TAKEN, "1", True, Refused("503", 1.0)),
        (503, "<html>no healthy upstream</html>", None, True, Unknown("503")),  # a proxy's
        (504, UNKNOWN_OUTCOME, None, True, Unknown("504")),
        (500, "", None, True, Unknown("500", odd=True)),
        (429, "", None, True, Unknown("429", odd=True)),
        (0, "", None, True, Unknown("no answer")),  # cut after the request went out
        (0, "", None, False, Refused("connection refused", by_producer=False)),  # never sent
    ],
)
def test_http_answers(
    status: int, body: str, retry_after: str | None, sent: bool, expected: Outcome
) -> None:
    assert http_outcome(status, body, retry_after, sent=sent) == expected


@pytest.mark.parametrize(
    ("code", "trailers", "expected"),
    [
        ("OK", {}, Accepted()),
        ("INVALID_ARGUMENT", {"certamen-field": "year", "certamen-rule": "range"},
         Rejected("year/range")),
        ("ALREADY_EXISTS", {"certamen-field": "vote_id", "certamen-rule": "conflict"},
         Rejected("vote_id/conflict")),
        ("UNAVAILABLE", {"certamen-vote-id": "v-1", "grpc-retry-pushback-ms": "250"},
         Refused("UNAVAILABLE", 0.25)),
        ("UNAVAILABLE", {}, Unknown("UNAVAILABLE")),  # grpcio's own: a connection cut
        ("DEADLINE_EXCEEDED", {"certamen-outcome": "unknown"}, Unknown("DEADLINE_EXCEEDED")),
        ("RESOURCE_EXHAUSTED", {}, Unknown("RESOURCE_EXHAUSTED", odd=True)),
        ("UNIMPLEMENTED", {}, Rejected("grpc/unimplemented")),
    ],
)  # fmt: skip
def test_grpc_answers(code: str, trailers: dict[str, str], expected: Outcome) -> None:
    assert grpc_outcome(code, trailers) == expected


def test_a_grpc_call_that_found_no_connection_was_never_sent() -> None:
    details = "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1"
    assert grpc_outcome("UNAVAILABLE", {}, details) == Refused("UNAVAILABLE", by_producer=False)
    never_left = grpc_outcome("UNAVAILABLE", {}, "", sent=False)  # the client knows (Go voters)
    assert never_left == Refused("UNAVAILABLE", by_producer=False)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("receipt", Accepted()),
        ("rejection", Rejected("vote_id/conflict")),
        ("unavailable", Refused("unavailable")),
        ("unknown", Unknown("unknown")),  # handed to Kafka, never acknowledged: maybe counted
    ],
)
def test_a_batch_result_is_read_like_a_single_answer(kind: str, expected: Outcome) -> None:
    assert batch_result_outcome(kind, "vote_id", "conflict") == expected


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Accepted(), "accepted"),
        (Rejected("rank/range"), "rejected"),
        (Refused("503", 1.0), "refused"),
        (Refused("connection refused", by_producer=False), "failed"),
        (Unknown("504"), "unknown"),
        (Unknown("500", odd=True), "failed"),
    ],
)
def test_the_class_of_an_answer_in_a_burst(outcome: Outcome, expected: str) -> None:
    assert answer_class(outcome) == expected


def test_a_vote_is_unknown_if_any_attempt_was_else_refused() -> None:
    only_refused = Attempts()
    for _ in range(3):
        only_refused.add(Refused("503"))
    once_unknown = Attempts()
    for outcome in (Refused("503"), Unknown("504"), Refused("503")):
        once_unknown.add(outcome)

    assert isinstance(only_refused.given_up(), Refused)
    assert isinstance(once_unknown.given_up(), Unknown)

"""The dead-letters desk's pure parts: selections, stored events read back, reports, ``--since``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.http import from_http

from certamen.consumer.documents import arrived_attributes, data_bytes, dead_letter_document
from certamen.contract import InvalidVote
from certamen.contract.foreign import kafka_origin
from certamen.dead_letters import (
    LetterOutcome,
    NotReplayable,
    Outcome,
    ReplayReport,
    Selection,
    SelectionError,
    stored_event,
)
from certamen.operations.dead_letters import parse_since

NOW = datetime(2026, 11, 26, 17, 0, 0, tzinfo=UTC)


def _arrived(headers: dict[str, str], body: bytes) -> tuple[dict[str, object], bytes]:
    """What the consumer stores of a request: through the SDK, then ``documents``."""
    event = from_http(headers, body)
    return arrived_attributes(event), data_bytes(event.get_data())


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (  # a vote event, JSON data, a subject the source percent-encoded
            {"ce-specversion": "1.0", "ce-id": "vote-0000001", "ce-type": "x.y",
             "ce-source": "/producers/wasm", "ce-subject": "Malacates Tr%C3%A9bol Shop",
             "ce-time": "2026-11-26T16:00:00.000Z", "content-type": "application/json"},
            b'{"b": [1, 2.50], "a": "\\u00e9 %25 %"}',
        ),
        (  # a foreign record: text, a literal "%" in an extension, no time
            {"ce-specversion": "1.0", "ce-id": "partition:0/offset:4",
             "ce-type": "dev.knative.kafka.event", "ce-key": "100%25 sure",
             "ce-source": "/apis/v1/namespaces/certamen/kafkasources/votes#votes"},
            b"hello, not a CloudEvent",
        ),
        (  # bytes that are not UTF-8
            {"ce-specversion": "1.0", "ce-id": "e-1", "ce-type": "t", "ce-source": "s",
             "content-type": "application/octet-stream"},
            b"\xff\xfe\x00binary",
        ),
        ({"ce-specversion": "1.0", "ce-id": "e-2", "ce-type": "t", "ce-source": "s"}, b""),
    ],
)  # fmt: skip
def test_a_stored_event_reads_back_as_the_consumer_received_it(
    headers: dict[str, str], body: bytes
) -> None:
    attributes, data = _arrived(headers, body)
    letter = dead_letter_document(
        attributes, data, InvalidVote("type", "unknown_type", "x"),
        failed_at=NOW, origin=kafka_origin(attributes),
    )  # fmt: skip
    again = stored_event(letter)
    assert arrived_attributes(again) == attributes
    assert data_bytes(again.get_data()) == data
    assert again.get_data() == from_http(headers, body).get_data()


def test_a_truncated_letter_is_not_replayable() -> None:
    attributes, data = _arrived(
        {"ce-specversion": "1.0", "ce-id": "e-3", "ce-type": "t", "ce-source": "s"}, b"x" * 70_000
    )
    letter = dead_letter_document(
        attributes, data, InvalidVote("type", "unknown_type", "x"),
        failed_at=NOW, origin=kafka_origin(attributes),
    )  # fmt: skip
    with pytest.raises(NotReplayable):
        stored_event(letter)


def test_selection_queries() -> None:
    assert Selection().query(open_only=True) == {"status": {"$ne": "replayed"}}
    since = NOW - timedelta(hours=2)
    assert Selection(ids=("a", "b", "a"), rule="not_in_catalog", since=since).query(
        open_only=False
    ) == {
        "_id": {"$in": ["a", "b"]},
        "reason.rule": "not_in_catalog",
        "failed_at": {"$gte": since},
    }


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"since": datetime(2026, 11, 26)}, "since"),
        ({"ids": ("",)}, "id"),
        ({"rule": ""}, "reason"),
        ({"rule": {"$gt": ""}}, "reason"),
        ({"since": "2h"}, "since"),
    ],
)
def test_a_bad_selection_names_the_option(kwargs: dict[str, object], option: str) -> None:
    with pytest.raises(SelectionError) as caught:
        Selection(**kwargs)  # type: ignore[arg-type]
    assert caught.value.option == option


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("45s", NOW - timedelta(seconds=45)),
        ("2026-11-26", datetime(2026, 11, 26, tzinfo=UTC)),
        ("2026-11-26T11:00Z", datetime(2026, 11, 26, 11, tzinfo=UTC)),
        (
            "2026-11-26T11:00-06:00",
            datetime(2026, 11, 26, 11, tzinfo=timezone(-timedelta(hours=6))),
        ),
    ],
)
def test_since_takes_a_time_or_an_age(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2h ago", "-1d", "2026-13-01", ""])
def test_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(SelectionError) as caught:
        parse_since(text, NOW)
    assert caught.value.option == "since"


def test_a_report_is_put_right_only_when_every_letter_is() -> None:
    counted = LetterOutcome("a", Outcome.COUNTED, False, "counted", vote_id="v", status="replayed")
    skipped = LetterOutcome("b", Outcome.SKIPPED, False, "put right already", status="replayed")
    dead = LetterOutcome("c", Outcome.STILL_DEAD, False, "still", status="open")
    assert ReplayReport("ana", False, [counted, skipped]).all_put_right
    assert not ReplayReport("ana", False, [counted, dead]).all_put_right
    assert not ReplayReport("ana", False, [counted], stopped="redis away").all_put_right
    assert ReplayReport("ana", False, [counted, dead]).to_dict()["counts"] == {
        "counted": 1,
        "still_dead": 1,
    }

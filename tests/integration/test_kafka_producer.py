"""The producers' Kafka client on a real broker: reports served on the event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from certamen.adapters.kafka_producer import KafkaRecordProducer
from certamen.contract import Vote, parse_ballot, vote_to_kafka
from certamen.contract.event import vote_record
from certamen.producers.intake import make_intake_producer
from certamen.settings import Settings
from tests.support.topics import read_records

BALLOT = b'{"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}'


def _vote(number: int) -> Vote:
    return Vote.from_ballot(
        parse_ballot(BALLOT, year_now=2026),
        vote_id=f"loop-report-{number:04d}",
        channel="wasm",
        received_at=datetime.now(UTC),
    )


async def _send_all(producer: KafkaRecordProducer, topic: str, votes: list[Vote]) -> list[object]:
    """Send on the loop; each report as (error, whether it ran on the loop's thread)."""
    loop = asyncio.get_running_loop()
    producer.serve_reports_on(loop)
    # The producer's own thread finishes the poll it is in (<= 0.1 s) and may serve a
    # report meanwhile (intake hands such a report to the loop); from then on, the loop.
    await asyncio.sleep(0.3)
    loop_thread = threading.get_ident()
    reports: list[asyncio.Future[object]] = [loop.create_future() for _ in votes]
    for vote, report in zip(votes, reports, strict=True):

        def delivered(error: str | None, report: asyncio.Future[object] = report) -> None:
            report.set_result((error, threading.get_ident() == loop_thread))

        producer.send(topic, vote_record(vote), delivered)
    return list(await asyncio.wait_for(asyncio.gather(*reports), timeout=30))


def test_reports_on_the_loop_and_the_records_as_the_sdk_writes_them(contest: Settings) -> None:
    votes = [_vote(n) for n in range(20)]
    producer = make_intake_producer(contest)
    try:
        reports = asyncio.run(_send_all(producer, contest.votes_topic, votes))
    finally:
        assert producer.close(timeout=10) == 0

    assert reports == [(None, True)] * len(votes)
    # Records have no key (sticky partitioning): a vote is known by its ce_id header.
    written = read_records(contest, contest.votes_topic, within_s=30)
    records = {dict(r.headers)["ce_id"].decode(): r for r in written}
    assert sorted(records) == sorted(v.vote_id for v in votes)
    for vote in votes:
        expected = vote_to_kafka(vote)
        record = records[vote.vote_id]
        assert record.key is None
        assert record.value == expected.value
        assert [(k, bytes(v)) for k, v in record.headers] == list(expected.headers.items())


def test_an_unreachable_kafka_is_reported_on_the_loop(contest: Settings) -> None:
    producer = make_intake_producer(
        contest,
        **{"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 500},
    )
    try:
        reports = asyncio.run(_send_all(producer, contest.votes_topic, [_vote(0)]))
    finally:
        producer.close(timeout=1)

    assert reports == [("_MSG_TIMED_OUT", True)]

"""``certamen demo`` end to end: the whole local stack, a 1,000-vote contest through both routes.

One demo run (the real command, in a child process) is shared by the tests of
this module. It runs on a stack of the test's own (``tests/support/own_stack.py``:
its own state folder, ports, topics, consumer group and MongoDB database, on the
session's servers), so a stack already running on the machine, such as the one
``scripts/demo`` left up, is never touched. They check what a user sees: the exit code, the printed
standings against the file's own counts, and — independently of the demo's own
bookkeeping — that each record of the file reached Kafka exactly once and was
stored exactly once in the vote log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from certamen.adapters.mongo_store import VOTES, make_mongo, vote_database
from certamen.contract import event_from_kafka
from certamen.operations.loadgen import parse_replay_key, replay_prefix
from certamen.operations.votefiles import read_votes
from certamen.settings import Settings, load
from tests.support.own_stack import empty_own_stack, own_stack_environment
from tests.support.topics import make_consumer, message_from_record

pytestmark = pytest.mark.e2e

VOTES_IN_FILE = 1_000
PORTS = range(17800, 17900)
CERTAMEN = [sys.executable, "-m", "certamen.operations.cli"]
# A fresh machine installs Java, Kafka and builds FerretDB on first use.
FIRST_RUN_TIMEOUT_S = 1_800


@dataclass(frozen=True)
class DemoRun:
    """The demo's exit code, console output and JSON summary, and the file it replayed."""

    code: int
    output: str
    summary: dict[str, Any]
    records: list[dict[str, Any]]
    prefix: str


@pytest.fixture(scope="module")
def stack_env(
    infra: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The demo's own stack: its environment; stopped and emptied afterwards."""
    env = own_stack_environment(infra, tmp_path_factory.mktemp("stack"), PORTS, catalog=None)
    empty_own_stack(env)
    try:
        yield env
    finally:
        subprocess.run([*CERTAMEN, "down"], env=env, timeout=120, check=False)
        empty_own_stack(env)


@pytest.fixture(scope="module")
def demo_settings(stack_env: dict[str, str]) -> Settings:
    return load(stack_env)


@pytest.fixture(scope="module")
def demo(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    folder = tmp_path_factory.mktemp("demo")
    summary_path = folder / "summary.json"
    command = [
        *CERTAMEN,
        "demo",
        *("--votes", str(VOTES_IN_FILE), "--seed", "7", "--users", "20"),
        *("--timeout", "300", "--json", str(summary_path)),
    ]
    result = subprocess.run(
        command,
        env=stack_env,
        capture_output=True,
        text=True,
        timeout=FIRST_RUN_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    assert summary_path.exists(), output[-5000:]
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    votes = read_votes(Path(summary["votes_file"]))
    records = [dict(r) for r in votes.records]
    prefix = replay_prefix(summary["run_id"], votes.tag)
    yield DemoRun(result.returncode, output, summary, records, prefix)


def test_the_demo_passes_and_counts_every_acknowledged_vote(demo: DemoRun) -> None:
    assert demo.code == 0, demo.output[-5000:]
    assert demo.summary["ok"]
    assert demo.summary["acknowledged"]["total"] == VOTES_IN_FILE
    assert demo.summary["counted"] == {"vote_log": VOTES_IN_FILE, "tally": VOTES_IN_FILE}
    assert set(demo.summary["acknowledged"]["by_route"]) == {"grpc", "wasm"}
    assert demo.summary["audit"]["ok"]
    assert "OK: every acknowledged vote counted exactly once (1000)" in demo.output


def test_the_contest_went_in_the_three_bursts_it_was_announced_as(demo: DemoRun) -> None:
    # Each burst sends its share of the file (a third: 333 votes); a machine slower than
    # the rate leaves more for the last one, which holds until the file is sent.
    bursts = demo.summary["bursts"]
    assert [b["burst"] for b in bursts] == [1, 2, 3], demo.output[-3000:]
    assert sum(b["accepted"] for b in bursts) == VOTES_IN_FILE
    assert all(b["accepted"] >= VOTES_IN_FILE / 3 / 4 for b in bursts), bursts
    assert "3 Locust bursts of about 333 votes" in demo.output


def test_the_printed_standings_equal_the_files_counts_per_album(demo: DemoRun) -> None:
    in_file = Counter((r["name"], r["album"]) for r in demo.records)
    printed = {
        (row["band"], row["album"]): row["votes"]
        for row in demo.summary["standings"]
        if row["votes"]
    }

    assert printed == in_file
    for (band, album), votes in in_file.items():
        assert any(
            band in line and album in line and f" {votes:,} " in line
            for line in demo.output.splitlines()
        ), f"{band} — {album}: {votes} not printed"


def test_each_record_reached_kafka_exactly_once(demo: DemoRun, demo_settings: Settings) -> None:
    on_kafka = Counter(
        key.index
        for vote_id in _vote_ids_on_topic(demo_settings)
        if vote_id.startswith(demo.prefix) and (key := parse_replay_key(vote_id)) is not None
    )

    assert sorted(on_kafka) == list(range(VOTES_IN_FILE))
    assert set(on_kafka.values()) == {1}


def test_each_record_was_stored_exactly_once(demo: DemoRun, demo_settings: Settings) -> None:
    # Read another way than the demo reads (each vote by its _id): every _id with the run's
    # prefix, a range that FerretDB answers by scanning this test's small vote log.
    after_prefix = demo.prefix[:-1] + chr(ord(demo.prefix[-1]) + 1)
    mongo = make_mongo(demo_settings, timeout_s=120)
    try:
        ids = [
            d["_id"]
            for d in vote_database(mongo, demo_settings)[VOTES].find(
                {"_id": {"$gte": demo.prefix, "$lt": after_prefix}}, {"_id": 1}
            )
        ]
    finally:
        mongo.close()
    indices = sorted(key.index for i in ids if (key := parse_replay_key(i)) is not None)

    assert indices == list(range(VOTES_IN_FILE))


def test_status_shows_the_source_caught_up_on_every_partition(
    demo: DemoRun, stack_env: dict[str, str]
) -> None:
    """The demo leaves the stack up: ``certamen status`` shows the source's lag per partition."""
    deadline = time.monotonic() + 30
    while True:
        done = subprocess.run(
            [*CERTAMEN, "status", "--json"],
            env=stack_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        source = next(row for row in json.loads(done.stdout) if row["part"] == "source")
        delivery = source.get("delivery")
        caught_up = delivery is not None and delivery["lag"] == 0 and delivery["in_flight"] == 0
        if caught_up or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert delivery is not None, source
    assert delivery["delivered"] >= VOTES_IN_FILE
    assert [p["lag"] for p in delivery["partitions"]] == [0] * len(delivery["partitions"])
    assert len(delivery["partitions"]) >= 1


def _vote_ids_on_topic(settings: Settings) -> Iterator[str]:
    """Every event id on the votes topic, read from the start to the current end."""
    from kafka import TopicPartition

    consumer = make_consumer(settings, group_id=None, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(settings.votes_topic, p)
            for p in consumer.partitions_for_topic(settings.votes_topic) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1_000, max_records=5_000).values():
                for record in records:
                    yield str(event_from_kafka(message_from_record(record))["id"])
    finally:
        consumer.close()

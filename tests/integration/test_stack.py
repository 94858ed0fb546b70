"""The local stack as a user drives it: the real ``certamen`` command on real servers.

A stack of its own (ports 19xxx, a state folder under /tmp) is started once for
this module with ``certamen up kafka redis mongodb``; the tests then use it,
break it (SIGKILL) and finally stop it. The servers of the rest of the test
session are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from pymongo import MongoClient

from certamen.adapters.kafka import make_admin, make_producer
from certamen.adapters.kafka import send_message as send_kafka_message
from certamen.contract import Vote, event_from_kafka, parse_ballot, vote_from_event, vote_to_kafka
from certamen.operations.stack.parts import SERVERS
from certamen.settings import Settings, load
from tests.support.topics import make_consumer, message_from_record

pytestmark = pytest.mark.integration

_PORT_NAMES = ("KAFKA", "KAFKA_CONTROLLER", "REDIS", "MONGODB")
_CERTAMEN = Path(sys.executable).with_name("certamen")
_UP_TIMEOUT_S = 900  # a first run may still fetch Kafka and build FerretDB


@dataclass(frozen=True)
class Stack:
    """A stack of our own: the environment that selects it and its settings."""

    env: dict[str, str]
    settings: Settings
    state_dir: Path

    def certamen(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(_CERTAMEN), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def up(self, *parts: str) -> subprocess.CompletedProcess[str]:
        done = self.certamen("up", *parts, timeout=_UP_TIMEOUT_S)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def status(self) -> dict[str, dict[str, object]]:
        done = self.certamen("status", "--json", timeout=60)
        assert done.returncode == 0, done.stderr
        return {row["part"]: row for row in json.loads(done.stdout)}

    def pid(self, part: str) -> int:
        row = self.status()[part]
        assert row["state"] == "running", row
        assert isinstance(row["pid"], int)
        return row["pid"]


def _free_port_block() -> int:
    """A base port in 19000-19999 with base..base+3 free (several stacks may coexist)."""
    for base in range(19100, 19990, 10):
        if all(not _listening(base + i) for i in range(len(_PORT_NAMES))):
            return base
    raise RuntimeError("no free ports in 19100-19999")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _event_id(record: object) -> str | None:
    """The ``ce_id`` header of a kafka-python record (votes carry no key)."""
    headers = dict(getattr(record, "headers", None) or [])
    value = headers.get("ce_id")
    return bytes(value).decode() if value is not None else None


def _running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = _free_port_block()
    state_dir = tmp_path_factory.mktemp("certamen-stack")
    # Our own servers: drop any external server variables of the session.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MONGODB_URI"}
    }
    env.update({f"CERTAMEN_{name}_PORT": str(base + i) for i, name in enumerate(_PORT_NAMES)})
    env["CERTAMEN_STATE_DIR"] = str(state_dir)
    created = Stack(env, load(env), state_dir)
    created.up(*SERVERS)
    yield created
    created.certamen("down", "--wipe", timeout=120)


def test_up_starts_the_infrastructure_and_status_shows_it(stack: Stack) -> None:
    rows = stack.status()
    for part in SERVERS:
        assert rows[part]["state"] == "running", rows[part]
        assert isinstance(rows[part]["pid"], int) and _running(rows[part]["pid"])
        assert Path(str(rows[part]["log"])).is_file()
    assert rows["kafka"]["address"] == stack.settings.kafka_bootstrap_servers
    assert rows["kafka"]["address"] != "127.0.0.1:9092", "the test stack uses its own ports"
    assert Path(str(rows["kafka"]["log"])).read_text().count("Kafka Server started") >= 1


def test_up_creates_the_contest_topics(stack: Stack) -> None:
    admin = make_admin(stack.settings)
    try:
        described = {t["name"]: t for t in admin.describe_topics(["votes", "votes-dlq"])}
    finally:
        admin.close()
    assert len(described["votes"]["partitions"]) == 6
    assert len(described["votes-dlq"]["partitions"]) >= 1


def test_up_twice_is_harmless(stack: Stack) -> None:
    before = {part: stack.pid(part) for part in SERVERS}
    again = stack.up(*SERVERS)
    assert "already running" in again.stdout
    assert {part: stack.pid(part) for part in SERVERS} == before


def test_a_vote_event_survives_kafka_with_its_attributes(stack: Stack) -> None:
    now = datetime.now(UTC)
    ballot = parse_ballot(
        b'{"name": "Alux Nahual", "album": "Alux Nahual", "year": 1983, "rank": "9.5"}',
        year_now=now.year,
    )
    vote = Vote.from_ballot(ballot, vote_id=str(uuid.uuid4()), channel="wasm", received_at=now)
    sent = vote_to_kafka(vote)
    producer = make_producer(stack.settings)
    try:
        send_kafka_message(producer, "votes", sent).get(timeout=30)  # acks=all
    finally:
        producer.close()

    consumer = make_consumer(
        stack.settings, "votes", group_id=f"test-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    found = None
    deadline = time.monotonic() + 60
    try:
        while found is None and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                found = next((r for r in records if _event_id(r) == vote.vote_id), found)
    finally:
        consumer.close()
    assert found is not None, "the vote never came back from Kafka"
    received = message_from_record(found)
    ce_headers = {k: v for k, v in received.headers.items() if k.startswith("ce_")}
    assert ce_headers == {k: v for k, v in sent.headers.items() if k.startswith("ce_")}
    assert set(ce_headers) >= {"ce_id", "ce_type", "ce_source", "ce_subject", "ce_specversion"}
    event = event_from_kafka(received)
    assert (event["id"], event["type"], event["source"], event["subject"]) == (
        vote.vote_id,
        "gt.certamen.vote.cast.v1",
        "/producers/wasm",
        "Alux Nahual",
    )
    assert vote_from_event(event) == vote


def test_redis_and_mongodb_are_reachable_and_writable(stack: Stack) -> None:
    store = redis.Redis.from_url(stack.settings.redis_url)
    try:
        store.set("certamen:test:stack", "ok")
        assert store.get("certamen:test:stack") == b"ok"
        store.delete("certamen:test:stack")
    finally:
        store.close()
    mongo: MongoClient[dict[str, object]] = MongoClient(
        stack.settings.mongodb_uri, serverSelectionTimeoutMS=5000
    )
    try:
        collection = mongo["certamen_stack_test"]["writes"]
        collection.insert_one({"_id": "probe", "value": 1})
        assert collection.find_one({"_id": "probe"}) == {"_id": "probe", "value": 1}
        mongo.drop_database("certamen_stack_test")
    finally:
        mongo.close()


@pytest.mark.parametrize("part", ["redis", "mongodb", "kafka"])
def test_a_killed_server_is_reported_down_and_restarted_by_up(stack: Stack, part: str) -> None:
    victim = stack.pid(part)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _running(victim) and time.monotonic() < deadline:
        time.sleep(0.1)

    assert stack.status()[part]["state"] == "down"

    stack.up(*SERVERS)
    restarted = stack.pid(part)
    assert restarted != victim
    assert _running(restarted)


def _policies(pid: int) -> set[int]:
    """The scheduling policy of every thread of a process (threads may come and go)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            found.add(os.sched_getscheduler(int(task.name)))
    return found


def test_up_runs_every_server_under_the_batch_policy_unless_told_otherwise(stack: Stack) -> None:
    for part in SERVERS:
        assert _policies(stack.pid(part)) == {os.SCHED_BATCH}, part
    environ = Path(f"/proc/{stack.pid('mongodb')}/environ").read_bytes().split(b"\0")
    assert b"GOMAXPROCS=1" in environ, "FerretDB runs on one Go thread"

    stack.certamen("down", "redis", timeout=120)
    normal = Stack(
        {**stack.env, "CERTAMEN_SCHED_POLICY": "normal"}, stack.settings, stack.state_dir
    )
    normal.up("redis")
    assert _policies(stack.pid("redis")) == {os.SCHED_OTHER}

    stack.certamen("down", "redis", timeout=120)
    stack.up(*SERVERS)
    assert _policies(stack.pid("redis")) == {os.SCHED_BATCH}


def test_an_unreachable_external_server_is_a_clear_error(stack: Stack) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed_port = placeholder.getsockname()[1]  # bound, not listening: refuses connections
        env = {**stack.env, "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}
        done = subprocess.run(
            [str(_CERTAMEN), "up", "redis"], env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 1
    assert "REDIS_URL" in done.stderr and "does not answer" in done.stderr


def test_a_port_taken_by_another_program_is_a_clear_error(tmp_path: Path, stack: Stack) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {**stack.env, "CERTAMEN_STATE_DIR": str(tmp_path), "CERTAMEN_REDIS_PORT": str(port)}
        done = subprocess.run(
            [str(_CERTAMEN), "up", "redis"], env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 1
    assert f"port {port} is taken" in done.stderr and "REDIS_URL" in done.stderr
    assert not (tmp_path / "run" / "redis.pid").exists()


def test_down_a_part_stops_only_that_part_and_up_brings_it_back(stack: Stack) -> None:
    pids = {part: stack.pid(part) for part in SERVERS}
    done = stack.certamen("down", "redis", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "stopped: redis" in done.stdout
    assert not _running(pids["redis"])
    status = stack.status()
    assert status["redis"]["state"] == "down"
    assert {p: status[p]["pid"] for p in SERVERS if p != "redis"} == {
        p: pid for p, pid in pids.items() if p != "redis"
    }, "the other parts keep running"

    stack.up(*SERVERS)
    assert stack.pid("redis") != pids["redis"]
    assert stack.pid("kafka") == pids["kafka"]


def test_redis_keeps_its_counters_in_the_append_only_file_without_snapshots(stack: Stack) -> None:
    """A snapshot rewrites every vote's marker once a minute; the append-only file is enough."""
    store = redis.Redis.from_url(stack.settings.redis_url)
    try:
        store.incrby("certamen:test:restart", 3)
    finally:
        store.close()
    assert stack.certamen("down", "redis", timeout=120).returncode == 0
    stack.up(*SERVERS)

    store = redis.Redis.from_url(stack.settings.redis_url)
    try:
        assert store.get("certamen:test:restart") == b"3", "kept across the restart"
        store.delete("certamen:test:restart")
    finally:
        store.close()
    redis_dir = stack.state_dir / "redis"
    assert list(redis_dir.glob("appendonlydir/*.aof")), "the append-only file is written"
    assert not (redis_dir / "dump.rdb").exists(), "no RDB snapshot, not even at shutdown"


def test_down_of_an_unknown_part_or_a_wipe_of_one_part_changes_nothing(stack: Stack) -> None:
    pids = {part: stack.pid(part) for part in SERVERS}
    unknown = stack.certamen("down", "rediss", timeout=60)
    assert unknown.returncode == 1
    assert "unknown part(s) rediss" in unknown.stderr
    assert "parts: kafka, redis, mongodb" in unknown.stderr, "the parts there are"
    one_wipe = stack.certamen("down", "--wipe", "redis", timeout=60)
    assert one_wipe.returncode == 1
    assert "--wipe deletes the whole state folder" in one_wipe.stderr
    assert {part: stack.pid(part) for part in SERVERS} == pids
    assert stack.state_dir.exists()


def test_down_stops_every_process_and_keeps_the_data(stack: Stack) -> None:
    pids = {part: stack.pid(part) for part in SERVERS}
    done = stack.certamen("down", timeout=120)
    assert done.returncode == 0, done.stderr
    assert [part for part, pid in pids.items() if _running(pid)] == []
    assert all(row["state"] == "down" for row in stack.status().values())
    assert (stack.state_dir / "kafka" / "data" / "meta.properties").exists(), "data is kept"

    wiped = stack.certamen("down", "--wipe", timeout=120)
    assert wiped.returncode == 0, wiped.stderr
    assert not stack.state_dir.exists()

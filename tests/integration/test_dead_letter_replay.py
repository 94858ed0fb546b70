"""Dead letters put right: `certamen dead-letters list/replay` on real Kafka, Redis, FerretDB.

The votes go the normal way (Kafka, the local source, the consumer); the catalog
the consumer knows lacks an album, so they become dead letters. Once the album is
added, a replay counts each exactly once, however often and by how many at once;
a poison record replayed stays a dead letter, under the rule it breaks now.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaProducer
from pymongo import MongoClient

from certamen.adapters import redis_keys as keys
from certamen.adapters.kafka import make_producer
from certamen.adapters.mongo_store import make_mongo, vote_database
from certamen.adapters.redis_store import SEEDED_DEAD_LETTER_RULES, make_redis
from certamen.contract import Vote, new_vote_id
from certamen.dead_letters import DeadLetters, ReplayReport, Selection
from certamen.settings import Settings
from tests.support.pipeline import (
    deliver,
    environment,
    free_port,
    isolated,
    produce,
    run_cli,
)

pytestmark = pytest.mark.integration

BAND, MISSING, YEAR = "Bohemia Suburbana", "Eclipse", 1995
CATALOG = """\
title: Replay test
bands:
  - name: Bohemia Suburbana
    albums:
      - {title: Mis palabras, year: 1997}
%s  - name: Alux Nahual
    albums:
      - {title: Conquista, year: 1983}
"""
ECLIPSE = "      - {title: Eclipse, year: 1995}\n"
SEEDED = dict.fromkeys(SEEDED_DEAD_LETTER_RULES, "0")  # shown at 0 from the start


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG % "", encoding="utf-8")
    return path


@pytest.fixture
def pipeline(contest: Settings, catalog: Path) -> Settings:
    return replace(isolated(contest), catalog_path=catalog)


@pytest.fixture
def store(pipeline: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
    yield client
    client.close()


def _votes(count: int, album: str, year: int, *, rank: float = 8.5) -> list[Vote]:
    return [
        Vote(new_vote_id(), BAND, album, year, rank, "grpc" if i % 2 else "wasm",
             "2026-11-26T17:00:00.000Z")
        for i in range(count)
    ]  # fmt: skip


def _dead_letters(settings: Settings, *args: str) -> tuple[int, Any]:
    return run_cli(settings, "dead-letters", *args)


def _named(ids: list[str]) -> list[str]:
    return [arg for letter_id in ids for arg in ("--id", letter_id)]


def _db(settings: Settings) -> Any:
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongodb_uri)
    return client, client[settings.mongodb_database]


def _dead_lettered(settings: Settings, store: redis.Redis, tmp_path: Path, missing: int) -> None:
    """30 votes the catalog knows and ``missing`` for an album it lacks, delivered."""
    produce(settings, _votes(30, "Mis palabras", 1997) + _votes(missing, MISSING, YEAR))
    deliver(settings, 30 + missing, tmp_path)
    assert store.get(keys.TOTAL) == "30"
    assert store.get(keys.DEAD_LETTERS) == str(missing)
    assert store.hgetall(keys.DEAD_LETTERS_BY_REASON) == {**SEEDED, "not_in_catalog": str(missing)}


def test_a_missing_album_added_then_replayed_is_counted_once(
    pipeline: Settings, store: redis.Redis, catalog: Path, tmp_path: Path
) -> None:
    _dead_lettered(pipeline, store, tmp_path, missing=10)
    code, listed = _dead_letters(pipeline, "list", "--reason", "not_in_catalog")
    assert code == 0 and len(listed) == 10
    assert {letter["reason"]["field"] for letter in listed} == {"album"}

    # Before the fix a replay changes nothing: still dead, same reason, recorded.
    code, report = _dead_letters(pipeline, "replay", "--reason", "not_in_catalog", "--by", "ana")
    assert code == 1 and report["counts"] == {"still_dead": 10}
    assert store.get(keys.TOTAL) == "30" and store.get(keys.DEAD_LETTERS) == "10"

    catalog.write_text(CATALOG % ECLIPSE, encoding="utf-8")  # the album added
    code, preview = _dead_letters(pipeline, "replay", "--reason", "not_in_catalog", "--dry-run")
    assert code == 0 and preview["dry_run"] is True and preview["counts"] == {"counted": 10}
    assert store.get(keys.TOTAL) == "30" and store.get(keys.DEAD_LETTERS) == "10"

    code, report = _dead_letters(pipeline, "replay", "--reason", "not_in_catalog", "--by", "ana")
    assert code == 0 and report["counts"] == {"counted": 10} and report["by"] == "ana"
    assert store.get(keys.TOTAL) == "40"
    assert store.hget(keys.BY_ALBUM, f"{BAND} \u2014 {MISSING}") == "10"
    assert store.get(keys.DEAD_LETTERS) == "0"
    assert store.hgetall(keys.DEAD_LETTERS_BY_REASON) == SEEDED
    assert store.get(keys.DEAD_LETTERS_REPLAYED) == "10"

    # Twice: nothing left open to replay; by id, each is reported as put right already.
    ids = [letter["letter_id"] for letter in listed]
    code, again = _dead_letters(pipeline, "replay", "--by", "luis")
    assert code == 0 and again["outcomes"] == []
    code, again = _dead_letters(
        pipeline, "replay", "--by", "luis", *(a for i in ids for a in ("--id", i))
    )
    assert code == 0 and again["counts"] == {"skipped": 10}
    assert {o["by"] for o in again["outcomes"]} == {"ana"}
    assert store.get(keys.TOTAL) == "40" and store.get(keys.DEAD_LETTERS_REPLAYED) == "10"

    client, db = _db(pipeline)
    with client:
        assert db["votes"].count_documents({"album": MISSING}) == 10
        letters = list(db["dead_letters"].find())
        records = list(db["dead_letter_replays"].find())
    assert {letter["status"] for letter in letters} == {"replayed"}
    assert {letter["replayed"]["by"] for letter in letters} == {"ana"}
    assert sorted((r["attempt"], r["by"], r["outcome"]) for r in records) == sorted(
        [(1, "ana", "still_dead")] * 10 + [(2, "ana", "counted")] * 10
    )
    code, audit = run_cli(pipeline, "audit")
    assert code == 0 and audit["ok"] is True, audit


def test_concurrent_replays_count_each_vote_once(
    pipeline: Settings, store: redis.Redis, catalog: Path, tmp_path: Path
) -> None:
    _dead_lettered(pipeline, store, tmp_path, missing=40)
    catalog.write_text(CATALOG % ECLIPSE, encoding="utf-8")
    _, listed = _dead_letters(pipeline, "list")
    ids = [letter["letter_id"] for letter in listed]
    in_threads, by_commands = ids[:20], ids[20:]

    # Six replayers of one process, released together on the same 20 letters...
    replayers = 6
    start = threading.Barrier(replayers)
    reports: list[ReplayReport | None] = [None] * replayers

    def replay(index: int) -> None:
        client, mongo = make_redis(pipeline), make_mongo(pipeline)
        try:
            desk = DeadLetters.from_settings(
                pipeline, db=vote_database(mongo, pipeline), redis=client
            )
            start.wait()
            reports[index] = desk.replay(Selection(ids=tuple(in_threads)), by=f"app-{index}")
        finally:
            client.close()
            mongo.close()

    threads = [threading.Thread(target=replay, args=(i,)) for i in range(replayers)]
    for thread in threads:
        thread.start()
    # ... and three `certamen dead-letters replay` commands at once on the other 20.
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "certamen.operations.cli", "dead-letters", "replay",
             "--by", f"shell-{i}", "--json", *_named(by_commands)],
            env=environment(pipeline), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]  # fmt: skip
    outputs = [command.communicate(timeout=180) for command in commands]
    for thread in threads:
        thread.join(timeout=180)

    per_letter: dict[str, list[str]] = {}
    for report in reports:
        assert report is not None and report.stopped is None
        for outcome in report.outcomes:
            per_letter.setdefault(outcome.letter_id, []).append(outcome.outcome.value)
    for (out, err), command in zip(outputs, commands, strict=True):
        assert command.returncode in (0, 1), err  # 1: some were still being replayed by another
        for outcome in json.loads(out)["outcomes"]:
            per_letter.setdefault(outcome["letter_id"], []).append(outcome["outcome"])
    assert sorted(per_letter) == sorted(ids)
    for letter_id, outcomes in per_letter.items():  # one replayer counted it, the others skipped
        assert sorted(outcomes) == ["counted"] + ["skipped"] * (len(outcomes) - 1), letter_id
    assert store.get(keys.TOTAL) == "70"
    assert store.get(keys.DEAD_LETTERS) == "0" and store.get(keys.DEAD_LETTERS_REPLAYED) == "40"

    # Once more, everything put right: each letter is reported so, nothing changes.
    code, again = _dead_letters(
        pipeline, "replay", "--by", "luis", *(a for i in ids for a in ("--id", i))
    )
    assert code == 0 and again["counts"] == {"skipped": 40}
    assert store.get(keys.TOTAL) == "70" and store.get(keys.DEAD_LETTERS_REPLAYED) == "40"
    client, db = _db(pipeline)
    with client:
        assert db["votes"].count_documents({}) == 70
        assert db["dead_letter_replays"].count_documents({"outcome": "counted"}) == 40
        assert db["dead_letter_replays"].count_documents({}) == 40
    code, audit = run_cli(pipeline, "audit")
    assert code == 0 and audit["ok"] is True, audit


def test_a_replay_cut_short_by_redis_is_finished_by_the_next(
    pipeline: Settings, store: redis.Redis, catalog: Path, tmp_path: Path
) -> None:
    _dead_lettered(pipeline, store, tmp_path, missing=5)
    catalog.write_text(CATALOG % ECLIPSE, encoding="utf-8")
    away = replace(pipeline, redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    mongo, gone, client = make_mongo(pipeline), make_redis(away), make_redis(pipeline)
    try:
        db = vote_database(mongo, pipeline)
        cut = DeadLetters.from_settings(pipeline, db=db, redis=gone).replay(Selection(), by="ana")
        assert [o.outcome.value for o in cut.outcomes] == ["unavailable"]
        assert cut.stopped is not None and cut.not_attempted == 4
        (record,) = db["dead_letter_replays"].find()
        assert (record["outcome"], record["by"]) == ("interrupted", "ana")
        assert db["votes"].count_documents({"album": MISSING}) == 1  # logged, not yet counted
        assert store.get(keys.TOTAL) == "30"

        done = DeadLetters.from_settings(pipeline, db=db, redis=client).replay(
            Selection(), by="luis"
        )
        assert [o.outcome.value for o in done.outcomes] == ["counted"] * 5
    finally:
        mongo.close()
        gone.close()
        client.close()
    assert store.get(keys.TOTAL) == "35" and store.get(keys.DEAD_LETTERS) == "0"
    code, audit = run_cli(pipeline, "audit")
    assert code == 0 and audit["ok"] is True, audit


def test_a_poison_record_replayed_stays_a_dead_letter_with_its_new_reason(
    pipeline: Settings, store: redis.Redis, tmp_path: Path
) -> None:
    open_contest = replace(pipeline, catalog_path=None)
    producer: KafkaProducer = make_producer(open_contest)
    topic = open_contest.votes_topic
    try:
        # As the original Go producer wrote them: json.Marshal of a struct, no key, no headers.
        for value in (
            b"hello, not a CloudEvent",
            b'{"Name":"Alux Nahual","Album":"Conquista","Year":"1983","Rank":"abc"}',
            b'{"Name":"Alux Nahual","Album":"Conquista","Year":"1983","Rank":"9.5"}',
        ):
            producer.send(topic, value=value, partition=0).get(timeout=30)
    finally:
        producer.close()
    deliver(open_contest, 3, tmp_path)  # legacy records not accepted (the default)
    assert store.hgetall(keys.DEAD_LETTERS_BY_REASON) == {**SEEDED, "unknown_type": "3"}

    code, report = _dead_letters(open_contest, "replay", "--by", "ana")
    assert code == 1 and report["counts"] == {"still_dead": 3}
    assert {o["reason"]["rule"] for o in report["outcomes"]} == {"unknown_type"}

    accepting = replace(open_contest, legacy_records="accept")
    code, report = _dead_letters(accepting, "replay", "--by", "ana")
    assert code == 1 and report["counts"] == {"still_dead": 2, "counted": 1}
    outcomes = {o["letter_id"].rpartition("/offset:")[2]: o for o in report["outcomes"]}
    assert outcomes["0"]["reason"]["rule"] == "unknown_type"  # still no vote at all
    assert (outcomes["1"]["previous_reason"]["rule"], outcomes["1"]["reason"]) == (
        "unknown_type",
        {"field": "rank", "rule": "format", "message": "must be a decimal number such as 9.5"},
    )
    assert outcomes["2"]["vote_id"] == f"legacy:{topic}:0:2"
    assert store.get(keys.TOTAL) == "1" and store.hget(keys.BY_CHANNEL, "legacy") == "1"
    assert store.get(keys.DEAD_LETTERS) == "2"
    assert store.hgetall(keys.DEAD_LETTERS_BY_REASON) == {
        **SEEDED,
        "unknown_type": "1",
        "format": "1",
    }

    client, db = _db(open_contest)
    with client:
        poison = db["dead_letters"].find_one({"event.attributes.id": "partition:0/offset:1"})
        history = list(db["dead_letter_replays"].find({"letter_id": poison["_id"]}))
    assert poison["status"] == "open" and poison["attempts"] == 2
    assert poison["reason"]["rule"] == "format"
    assert sorted((r["attempt"], r["reason"]["rule"]) for r in history) == [
        (1, "unknown_type"),
        (2, "format"),
    ]
    code, audit = run_cli(accepting, "audit")
    assert code == 0 and audit["ok"] is True, audit


def test_a_key_reused_for_another_ballot_replayed_stays_a_conflict(
    pipeline: Settings, store: redis.Redis, tmp_path: Path
) -> None:
    (first,) = _votes(1, "Mis palabras", 1997)
    other = replace(first, rank=2.0)  # the same key, another ballot
    produce(pipeline, [first])
    deliver(pipeline, 1, tmp_path)  # counted first: records have no key, so no order
    produce(pipeline, [other])  # between two records of one vote id (docs/vote-contract.md)
    deliver(pipeline, 1, tmp_path)
    assert store.get(keys.TOTAL) == "1"
    assert store.hgetall(keys.DEAD_LETTERS_BY_REASON) == {**SEEDED, "conflict": "1"}

    code, preview = _dead_letters(pipeline, "replay", "--dry-run")
    assert code == 0 and preview["counts"] == {"still_dead": 1}  # a preview never fails
    code, report = _dead_letters(pipeline, "replay", "--by", "ana")
    assert code == 1 and report["counts"] == {"still_dead": 1}
    (outcome,) = report["outcomes"]
    assert (outcome["reason"]["field"], outcome["reason"]["rule"]) == ("vote_id", "conflict")
    assert store.get(keys.TOTAL) == "1" and store.get(keys.DEAD_LETTERS) == "1"
    assert store.hgetall(keys.DEAD_LETTERS_BY_REASON) == {**SEEDED, "conflict": "1"}
    assert store.get(keys.DEAD_LETTERS_REPLAYED) == "0"

    client, db = _db(pipeline)
    with client:
        (letter,) = db["dead_letters"].find()
        logged = db["votes"].find_one({"_id": first.vote_id})
    assert letter["status"] == "open" and letter["attempts"] == 1
    assert logged is not None and logged["rank"] == first.rank
    code, audit = run_cli(pipeline, "audit")
    assert code == 0 and audit["ok"] is True, audit

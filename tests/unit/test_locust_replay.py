"""The Locust users, run headless by Locust itself against stand-in producers.

The stand-ins answer like the producers' contract (202 / OK, 503 / UNAVAILABLE on
a first attempt now and then) and record every request, so these tests see what a
producer would see: each record of the file sent, retried with the same key, and
accepted exactly once. The real producers are exercised by tests/e2e.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest

from certamen.contract import Catalog
from certamen.operations.loadgen import parse_replay_key, read_ledgers
from certamen.operations.votefiles import catalog_for, generate_votes, read_votes, write_votes
from certamen.settings import load

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Seen:
    """What a stand-in producer received: attempts per key, the body of each key."""

    attempts: Counter[str] = field(default_factory=Counter)
    bodies: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, key: str, body: Any) -> bool:
        """Record one attempt; refuse the first attempt of every third key (as if Kafka lagged)."""
        with self.lock:
            self.attempts[key] += 1
            self.bodies[key] = body
            return not (self.attempts[key] == 1 and hash(key) % 3 == 0)


@pytest.fixture
def catalog() -> Catalog:
    return catalog_for(load({}))


@pytest.fixture
def vote_file(tmp_path: Path, catalog: Catalog) -> Path:
    path = tmp_path / "contest.json"
    write_votes(path, generate_votes(catalog, count=600, seed=11))
    return path


@pytest.fixture
def http_producer() -> Iterator[tuple[str, Seen]]:
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body["rank"] == "101":
                self._answer(400, b'{"error":{"field":"rank","rule":"range","message":"no"}}')
                return
            accepted = seen.answer(self.headers["Idempotency-Key"], body)
            payload = b'{"vote_id": "x", "received_at": "y"}' if accepted else b"{}"
            self._answer(202 if accepted else 503, payload)

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def grpc_producer() -> Iterator[tuple[str, Seen]]:
    from certamen._generated.certamen.v1 import votes_pb2, votes_pb2_grpc

    seen = Seen()

    class Service(votes_pb2_grpc.VoteServiceServicer):
        def Cast(self, request: Any, context: Any) -> Any:
            key = dict(context.invocation_metadata())["idempotency-key"]
            body = {"name": request.name, "album": request.album}
            if not seen.answer(key, body):
                context.abort(grpc.StatusCode.UNAVAILABLE, "Kafka did not take it in time")
            return votes_pb2.Receipt(vote_id=key, received_at="2026-01-01T00:00:00.000Z")

        def CastBatch(self, request: Any, context: Any) -> Any:
            results = []
            for index, vote in enumerate(request.votes):
                body = {"name": vote.name, "album": vote.album}
                if seen.answer(vote.vote_id, body):
                    receipt = votes_pb2.Receipt(vote_id=vote.vote_id)
                    results.append(votes_pb2.CastResult(index=index, receipt=receipt))
                else:
                    later = votes_pb2.Unavailable(vote_id=vote.vote_id)
                    results.append(votes_pb2.CastResult(index=index, unavailable=later))
            return votes_pb2.CastBatchResponse(results=results)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    votes_pb2_grpc.add_VoteServiceServicer_to_server(Service(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", seen
    server.stop(0)


def _locust(*options: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(REPO / "load" / "locustfile.py"),
        "--headless",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--run-id",
        "test-run",
        *options,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _assert_each_record_sent_once(vote_file: Path, seen: Seen, ledger_dir: Path) -> None:
    votes = read_votes(vote_file)
    indices = []
    for key in seen.attempts:
        parsed = parse_replay_key(key)
        assert parsed is not None and parsed.run_id == "test-run" and parsed.tag == votes.tag
        indices.append(parsed.index)
        assert seen.bodies[key]["name"] == votes.records[parsed.index]["name"]
        assert seen.bodies[key]["album"] == votes.records[parsed.index]["album"]
    assert sorted(indices) == list(range(len(votes)))
    retried = sum(n - 1 for n in seen.attempts.values())
    assert retried > 0  # the stand-in refused some first attempts...
    assert max(seen.attempts.values()) == 2  # ...and each was accepted on the retry
    totals = read_ledgers(ledger_dir)
    assert totals.final
    assert totals.accepted_total == len(votes)
    assert totals.accepted_indices == frozenset(range(len(votes)))
    assert sum(totals.retries.values()) == retried


def test_replay_over_http_sends_every_record_once_and_stops(
    vote_file: Path, http_producer: tuple[str, Seen], tmp_path: Path
) -> None:
    url, seen = http_producer
    ledger_dir = tmp_path / "ledger"

    _locust(
        *("-u", "8", "-r", "8", "--host", url, "--grpc-weight", "0"),
        *("--votes-file", str(vote_file), "--ledger-dir", str(ledger_dir)),
    )

    _assert_each_record_sent_once(vote_file, seen, ledger_dir)
    assert read_ledgers(ledger_dir).accepted == Counter({"wasm": 600})


def test_a_rejected_vote_is_counted_as_rejected_and_not_retried(
    tmp_path: Path, catalog: Catalog, http_producer: tuple[str, Seen]
) -> None:
    url, seen = http_producer
    records = generate_votes(catalog, count=20, seed=3)
    records[5] = {**records[5], "rank": "101"}
    path = tmp_path / "with-a-bad-vote.json"
    write_votes(path, records)
    ledger_dir = tmp_path / "ledger"

    _locust(
        *("-u", "2", "-r", "2", "--host", url, "--grpc-weight", "0"),
        *("--votes-file", str(path), "--ledger-dir", str(ledger_dir)),
    )

    totals = read_ledgers(ledger_dir)
    assert totals.rejected == Counter({"rank/range": 1})
    assert totals.accepted_indices == frozenset(range(20)) - {5}
    assert not totals.failed_total and len(seen.attempts) == 19


def test_replay_with_two_worker_processes_partitions_the_file(
    vote_file: Path, http_producer: tuple[str, Seen], tmp_path: Path
) -> None:
    url, seen = http_producer
    ledger_dir = tmp_path / "ledger"

    result = _locust(
        *("-u", "6", "-r", "6", "--processes", "2", "--host", url, "--grpc-weight", "0"),
        *("--votes-file", str(vote_file), "--ledger-dir", str(ledger_dir)),
    )

    _assert_each_record_sent_once(vote_file, seen, ledger_dir)
    assert read_ledgers(ledger_dir).workers == 2
    assert "wasm /votes" in result.stderr


@pytest.mark.parametrize("batch", ["1", "40"])
def test_replay_over_grpc_sends_every_record_once(
    vote_file: Path, grpc_producer: tuple[str, Seen], tmp_path: Path, batch: str
) -> None:
    target, seen = grpc_producer
    ledger_dir = tmp_path / "ledger"

    result = _locust(
        *("-u", "5", "-r", "5", "--grpc-target", target, "--wasm-weight", "0"),
        *("--grpc-batch", batch, "--votes-file", str(vote_file), "--ledger-dir", str(ledger_dir)),
    )

    _assert_each_record_sent_once(vote_file, seen, ledger_dir)
    assert read_ledgers(ledger_dir).accepted == Counter({"grpc": 600})
    assert ("grpc Cast" if batch == "1" else "grpc CastBatch") in result.stderr

"""Either producer as a real process, for tests that treat both routes alike, and helpers
to send connection-per-vote bursts (``load/newconn.py``) and judge them against the stores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from pymongo import MongoClient

from certamen.adapters import redis_keys as keys
from certamen.operations.stack.parts import pid_path
from certamen.operations.stack.procs import read_pid_file
from certamen.settings import Settings
from load import newconn
from tests.integration.producer_grpc_harness import grpc_server
from tests.integration.producer_wasm_harness import wasm_server
from tests.support.pipeline import BANDS

ROUTES = ("grpc", "http")
BALLOTS = [
    {"name": band, "album": album, "year": str(year), "rank": str(rank)}
    for rank, (band, album, year) in enumerate(BANDS * 3, start=1)
]


@dataclass
class Producer:
    """A running producer of one route: its process and where to send votes."""

    route: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def plan(self, run_id: str, **options: Any) -> newconn.Plan:
        """A connection-per-vote burst of this route (``options``: Plan's fields)."""
        return newconn.Plan(
            route=self.route,
            target=self.target,
            seconds=options.pop("seconds", 60.0),
            ballots=BALLOTS,
            run_id=run_id,
            **options,
        )


@contextmanager
def producer(
    route: str, settings: Settings, log_dir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[Producer]:
    """producer-grpc (route ``grpc``) or producer-wasm (``http``), started and stopped."""
    if route == "grpc":
        with grpc_server(settings, log_dir, extra_env) as server:
            yield Producer(route, server.process, server.port)
    else:
        with wasm_server(settings, log_dir, extra_env) as wasm:
            yield Producer(route, wasm.process, wasm.port)


def signal_kafka(own: Settings, sig: signal.Signals) -> None:
    """Send ``sig`` to the whole process group of the Kafka ``own`` runs (its own Kafka)."""
    record = read_pid_file(pid_path(own, "kafka"))
    assert record is not None, "the test's Kafka is not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, sig)


def counted_ids(settings: Settings, prefix: str) -> list[str]:
    """The vote ids starting with ``prefix`` that MongoDB holds (``_id``: each at most once)."""
    with MongoClient(settings.mongodb_uri) as client:
        votes = client[settings.mongodb_database]["votes"]
        return [str(d["_id"]) for d in votes.find({"_id": {"$regex": f"^{prefix}"}}, {"_id": 1})]


def redis_markers(store: redis.Redis, ids: list[str]) -> set[str]:
    """Which of ``ids`` the consumer counted in Redis (their dedup marker exists)."""
    pipe = store.pipeline(transaction=False)
    for vote_id in ids:
        pipe.exists(keys.COUNTED_PREFIX + vote_id)
    return {vote_id for vote_id, hit in zip(ids, pipe.execute(), strict=True) if hit}


def established(port: int) -> int:
    """TCP connections to ``port`` of 127.0.0.1 in state ESTABLISHED, accepted or not."""
    wanted = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table, encoding="ascii") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].endswith(wanted) and fields[3] == "01":
                    count += 1
    return count

"""The tests touch only what they made: a Redis database holding anyone else's keys is refused.

``scripts/test`` runs beside whatever the machine runs (the demo's stack, a real
Redis named by ``REDIS_URL``). A test session given a Redis database that holds
keys it did not write must stop with a clear error and leave those keys alone.
The check runs a real test session, in a child process, against a redis-server
this test starts for itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from certamen.settings import Settings
from tests.support.pipeline import environment, free_port, redis_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# A quick test that empties its Redis database before and after (the ``store_contest`` fixture).
A_TEST_THAT_EMPTIES_REDIS = (
    "tests/integration/test_tally_redis.py::test_an_empty_open_contest_reads_as_zeros"
)


def test_a_redis_database_with_foreign_keys_is_refused_and_left_as_it_was(
    infra: Settings, tmp_path: Path
) -> None:
    port = free_port()
    server = redis_server(port, tmp_path).start()
    try:
        someone = redis.Redis(port=port, db=3)
        someone.set("someone:else", "keep me")
        env = environment(infra, REDIS_URL=f"redis://127.0.0.1:{port}/3")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             A_TEST_THAT_EMPTIES_REDIS],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        kept = someone.get("someone:else")
        someone.close()
    finally:
        server.stop()

    assert kept == b"keep me", done.stdout[-3000:]
    assert done.returncode != 0
    assert f"redis://127.0.0.1:{port}/3" in done.stdout
    assert "not the tests' own" in done.stdout, done.stdout[-3000:]

"""5,000 votes through Kafka, the local source and the consumer: counted exactly, audit passes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import redis

from certamen.contract import album_key
from certamen.results.audit import audit
from certamen.results.tally import read_standings
from certamen.settings import Settings
from tests.support.pipeline import (
    counted,
    counting,
    environment,
    make_votes,
    produce,
    source_status,
    vote_documents,
    wait_counted,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_5000_votes_are_counted_once_and_the_audit_passes(
    pipeline: Settings, store: redis.Redis, tmp_path: Path
) -> None:
    settings = pipeline
    with counting(settings, tmp_path) as status_port:
        votes = make_votes(5000)
        produce(settings, votes)
        wait_counted(store, 5000, timeout_s=120)
        wait_until(lambda: source_status(status_port)["lag"] == 0, 10, "the source's lag to be 0")

        assert counted(store) == 5000
        assert vote_documents(settings) == 5000
        standings = read_standings(store)
        expected = Counter(album_key(v.name, v.album) for v in votes)
        assert {s.key: s.votes for s in standings.by_album} == expected
        assert standings.by_channel == {"grpc": 2500, "wasm": 2500, "legacy": 0}
        assert standings.dead_letters == 0
        status = source_status(status_port)
        assert (status["delivered"], status["dead_lettered"]) == (5000, 0)

        report = audit(settings)
        assert report.ok, report.to_dict()
        cli = subprocess.run(
            [sys.executable, "-m", "certamen.operations.cli", "audit", "--json"],
            env=environment(settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["ok"] is True

"""SIGTERM in the middle of a load of concurrent votes: every vote answered 202 is on Kafka."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest

from certamen.settings import Settings
from tests.integration.producer_wasm_harness import read_topic, wasm_server
from tests.support.shutdown import ACKNOWLEDGED_BEFORE_SIGTERM, terminate_under_load

pytestmark = pytest.mark.integration

BODY = json.dumps(
    {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}
).encode()


def test_sigterm_under_load_loses_no_acknowledged_vote(contest: Settings, tmp_path: Path) -> None:
    acknowledged: list[str] = []
    refused: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    with wasm_server(contest, tmp_path) as server:

        def sender(number: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            for attempt in range(100_000):
                if stop.is_set():
                    break
                key = f"sender-{number:02d}-{attempt:06d}"
                headers = {"Content-Type": "application/json", "Idempotency-Key": key}
                try:
                    connection.request("POST", "/votes", BODY, headers)
                    response = connection.getresponse()
                    answer = response.read()
                except (OSError, http.client.HTTPException) as e:
                    with lock:
                        refused.append(type(e).__name__)
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                    time.sleep(0.01)
                    continue
                with lock:
                    if response.status == 202:
                        acknowledged.append(json.loads(answer)["vote_id"])
                    else:
                        refused.append(str(response.status))
            connection.close()

        exit_code = terminate_under_load(
            sender,
            acknowledged=acknowledged,
            stop=stop,
            terminate=lambda: server.terminate(within_s=20),
            join_s=20,
        )

    assert exit_code == 0
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_SIGTERM
    assert refused, "the load went on past the shutdown, so some requests were refused"
    assert not set(refused) - {
        "ConnectionRefusedError",
        "ConnectionResetError",
        "RemoteDisconnected",
        "BrokenPipeError",
        "503",
    }, set(refused)
    on_topic = {r.headers["ce_id"].decode() for r in read_topic(contest)}
    missing = set(acknowledged) - on_topic
    assert not missing, f"{len(missing)} acknowledged votes are not on Kafka"

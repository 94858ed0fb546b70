"""SIGTERM in the middle of a load of concurrent votes: every vote answered OK is on Kafka."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest

from certamen._generated.certamen.v1 import votes_pb2 as pb
from certamen._generated.certamen.v1 import votes_pb2_grpc as pb_grpc
from certamen.settings import Settings
from tests.integration.producer_grpc_harness import grpc_server, read_topic
from tests.support.shutdown import ACKNOWLEDGED_BEFORE_SIGTERM, terminate_under_load

pytestmark = pytest.mark.integration

GOOD = {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}


def test_sigterm_under_load_loses_no_acknowledged_vote(contest: Settings, tmp_path: Path) -> None:
    acknowledged: list[str] = []
    refused: list[grpc.StatusCode] = []
    stop = threading.Event()
    lock = threading.Lock()

    with grpc_server(contest, tmp_path) as server:
        target = f"127.0.0.1:{server.port}"

        def sender(number: int) -> None:
            with grpc.insecure_channel(target) as channel:
                stub = pb_grpc.VoteServiceStub(channel)
                for attempt in range(100_000):
                    if stop.is_set():
                        return
                    key = f"sender-{number:02d}-{attempt:06d}"
                    try:
                        receipt = stub.Cast(
                            pb.CastRequest(**GOOD), metadata=[("idempotency-key", key)], timeout=10
                        )
                    except grpc.RpcError as e:
                        with lock:
                            refused.append(e.code())
                        time.sleep(0.01)
                        continue
                    with lock:
                        acknowledged.append(receipt.vote_id)

        exit_code = terminate_under_load(
            sender,
            acknowledged=acknowledged,
            stop=stop,
            terminate=lambda: server.terminate(within_s=15),
            join_s=15,
        )

    assert exit_code == 0
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_SIGTERM
    assert refused, "the load went on past the shutdown, so some calls were refused"
    assert set(refused) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    on_topic = {r.headers["ce_id"].decode() for r in read_topic(contest)}
    missing = set(acknowledged) - on_topic
    assert not missing, f"{len(missing)} acknowledged votes are not on Kafka"

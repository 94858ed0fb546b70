"""Kafka going away and coming back, with producer-grpc running: never OK, then recovery.

This test runs its own Kafka (the stack's code, ``certamen up kafka``'s path) on
free ports of 15500-15999, and stops it: the shared development Kafka is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2

from certamen._generated.certamen.v1 import votes_pb2 as pb
from certamen._generated.certamen.v1 import votes_pb2_grpc as pb_grpc
from certamen.settings import Settings
from tests.integration.producer_grpc_harness import PORTS, grpc_server, read_topic
from tests.support.own_kafka import running_kafka, start_kafka, stop_kafka

pytestmark = pytest.mark.integration

GOOD = {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
KAFKA_TIMEOUT_S = 3.0  # CERTAMEN_KAFKA_TIMEOUT of the server under test


@pytest.fixture
def own_kafka(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A Kafka of this test's own, on ports of this suite's range."""
    with running_kafka(settings, tmp_path / "state", PORTS) as own:
        yield own


def test_kafka_stopped_means_unavailable_and_not_serving_then_recovery(
    own_kafka: Settings, tmp_path: Path
) -> None:
    with grpc_server(own_kafka, tmp_path) as server:
        stub = pb_grpc.VoteServiceStub(server.channel)
        before = stub.Cast(pb.CastRequest(**GOOD), timeout=10)

        stop_kafka(own_kafka)

        # Never OK. Until the probe notices, a vote handed to Kafka's client ends when the
        # client gives up on it: an unknown outcome (DEADLINE_EXCEEDED, said so); once
        # Kafka is known to be away, UNAVAILABLE at once (not taken). Each names the
        # vote id to retry with, within the Kafka timeout plus slack.
        outcomes: list[tuple[float, Any]] = []
        for attempt in range(4):
            key = f"while-down-{attempt:04d}"
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as caught:
                stub.Cast(pb.CastRequest(**GOOD), metadata=[("idempotency-key", key)], timeout=30)
            outcomes.append((time.monotonic() - started, caught.value))
            error: Any = caught.value
            trailers = dict(error.trailing_metadata())
            assert trailers["certamen-vote-id"] == key
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                assert trailers["certamen-outcome"] == "unknown"
            else:
                assert error.code() == grpc.StatusCode.UNAVAILABLE
                assert float(trailers["retry-after"]) > 0
        assert max(seconds for seconds, _ in outcomes) < KAFKA_TIMEOUT_S + 1.5
        assert outcomes[-1][1].code() == grpc.StatusCode.UNAVAILABLE
        server.wait_health(NOT_SERVING, within_s=10.0)
        fail_fast_started = time.monotonic()
        with pytest.raises(grpc.RpcError):
            stub.Cast(pb.CastRequest(**GOOD), timeout=30)
        assert time.monotonic() - fail_fast_started < 0.5  # known down: no waiting
        batch = stub.CastBatch(
            pb.CastBatchRequest(
                votes=[
                    pb.CastRequest(**GOOD, vote_id="batch-down-0000"),
                    pb.CastRequest(**{**GOOD, "rank": "101"}),
                ]
            ),
            timeout=30,
        )
        unavailable, rejected = batch.results
        assert unavailable.WhichOneof("outcome") == "unavailable"
        assert unavailable.unavailable.vote_id == "batch-down-0000"
        assert (rejected.rejection.field, rejected.rejection.rule) == ("rank", "range")

        start_kafka(own_kafka)

        server.wait_health(SERVING, within_s=60.0)
        retried = stub.Cast(
            pb.CastRequest(**GOOD), metadata=[("idempotency-key", "while-down-0000")], timeout=10
        )
        assert retried.vote_id == "while-down-0000"
        assert server.process.poll() is None  # recovered without a restart

    on_topic = {r.headers["ce_id"].decode() for r in read_topic(own_kafka)}
    assert {before.vote_id, "while-down-0000"} <= on_topic

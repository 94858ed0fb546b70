"""producer-grpc against real Kafka: what a gRPC client sees, and what lands on the topic."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from certamen._generated.certamen.v1 import votes_pb2 as pb
from certamen._generated.certamen.v1 import votes_pb2_grpc as pb_grpc
from certamen._generated.confproto import confproto_pb2 as cp
from certamen._generated.confproto import confproto_pb2_grpc as cp_grpc
from certamen.settings import Settings
from tests.integration.producer_grpc_harness import ServerProcess, grpc_server, read_topic

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GOOD = {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}
SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
def server(contest: Settings, tmp_path: Path) -> Iterator[ServerProcess]:
    with grpc_server(contest, tmp_path) as running:
        yield running


def _cast(server: ServerProcess, metadata: Any = None, **fields: str) -> pb.Receipt:
    stub = pb_grpc.VoteServiceStub(server.channel)
    receipt: pb.Receipt = stub.Cast(pb.CastRequest(**fields), metadata=metadata, timeout=10)
    return receipt


def _raw_cast(server: ServerProcess, body: bytes) -> None:
    """Send bytes no well-behaved client would, as the Cast request."""
    call = server.channel.unary_unary(
        "/certamen.v1.VoteService/Cast",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    call(body, timeout=10)


def _encoded(number: int, text: bytes) -> bytes:
    """A length-delimited protobuf field (tag and length below 128)."""
    return bytes([number << 3 | 2, len(text)]) + text


def _good_bytes() -> bytes:
    return pb.CastRequest(**GOOD).SerializeToString()


# (label, request fields, metadata or raw bytes, expected field, expected rule)
BAD_CASTS: list[tuple[str, dict[str, str], Any, str, str]] = [
    ("name missing", {**GOOD, "name": ""}, None, "name", "required"),
    ("name blank", {**GOOD, "name": " \u00a0 "}, None, "name", "empty"),
    ("name control", {**GOOD, "name": "Bohemia\tSuburbana"}, None, "name", "control_character"),
    ("name too long", {**GOOD, "name": "x" * 121}, None, "name", "too_long"),
    ("album missing", {**GOOD, "album": ""}, None, "album", "required"),
    ("album control", {**GOOD, "album": "Mis\x00palabras"}, None, "album", "control_character"),
    ("year missing", {**GOOD, "year": ""}, None, "year", "required"),
    ("year format", {**GOOD, "year": "97"}, None, "year", "format"),
    ("year number text", {**GOOD, "year": "1997.0"}, None, "year", "format"),
    ("year too old", {**GOOD, "year": "1899"}, None, "year", "range"),
    ("year future", {**GOOD, "year": "2999"}, None, "year", "range"),
    ("rank missing", {**GOOD, "rank": ""}, None, "rank", "required"),
    ("rank format", {**GOOD, "rank": "nine"}, None, "rank", "format"),
    ("rank exponent", {**GOOD, "rank": "1e2"}, None, "rank", "format"),
    ("rank negative", {**GOOD, "rank": "-1"}, None, "rank", "range"),
    ("rank precision", {**GOOD, "rank": "9.555"}, None, "rank", "precision"),
    ("rank over 100", {**GOOD, "rank": "100.5"}, None, "rank", "range"),
    ("vote_id format", {**GOOD, "vote_id": "short"}, None, "vote_id", "format"),
    ("key format", GOOD, [("idempotency-key", "bad key!")], "vote_id", "format"),
    (
        "key conflict",
        {**GOOD, "vote_id": "client-key-0001"},
        [("idempotency-key", "client-key-0002")],
        "vote_id",
        "conflict",
    ),
    ("unknown field", {}, _good_bytes() + _encoded(9, b"extra"), "#9", "unknown_field"),
    ("invalid UTF-8", {}, _encoded(1, b"Boh\xffmia"), "body", "utf8"),
    ("corrupt message", {}, b"\x0a\x7fab", "body", "protobuf"),
    ("over 4 KiB", {}, _good_bytes() + _encoded(9, b"x" * 120) * 40, "body", "too_large"),
]


def test_every_bad_input_class_is_invalid_argument_and_never_reaches_the_topic(
    server: ServerProcess, contest: Settings, subtests: Any
) -> None:
    for label, fields, extra, field, rule in BAD_CASTS:
        with subtests.test(label):
            with pytest.raises(grpc.RpcError) as caught:
                if isinstance(extra, bytes):
                    _raw_cast(server, extra)
                else:
                    _cast(server, metadata=extra, **fields)
            error: Any = caught.value
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            trailers = dict(error.trailing_metadata())
            assert (trailers["certamen-field"], trailers["certamen-rule"]) == (field, rule)
            assert error.details().startswith(f"{field}: ")
            assert f"(rule: {rule})" in error.details()

    with subtests.test("confproto gets the same answers"):
        stub = cp_grpc.getInfoStub(server.channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.returnInfo(cp.requestId(**{**GOOD, "rank": "101"}), timeout=10)
        refused: Any = caught.value
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        trailers = dict(refused.trailing_metadata())
        assert (trailers["certamen-field"], trailers["certamen-rule"]) == ("rank", "range")

    assert read_topic(contest) == []


def test_an_accepted_vote_is_on_the_topic_once_as_our_cloudevent(
    server: ServerProcess, contest: Settings
) -> None:
    receipt = _cast(server, **{**GOOD, "name": "  Bohemia   Suburbana "})

    (record,) = read_topic(contest)
    assert record.key is None  # keyless, sticky partitioning (docs/vote-contract.md)
    assert record.headers["ce_id"] == receipt.vote_id.encode()
    assert record.headers["ce_type"] == b"gt.certamen.vote.cast.v1"
    assert record.headers["ce_source"] == b"/producers/grpc"
    assert record.headers["ce_subject"] == b"Bohemia Suburbana"
    assert record.headers["content-type"] == b"application/json"
    assert json.loads(record.value) == {
        "vote_id": receipt.vote_id,
        "name": "Bohemia Suburbana",
        "album": "Mis palabras",
        "year": 1997,
        "rank": 9.5,
        "channel": "grpc",
        "received_at": receipt.received_at,
    }


def test_the_same_idempotency_key_twice_gives_one_vote_id(
    server: ServerProcess, contest: Settings
) -> None:
    key = [("idempotency-key", "retry-me-0001")]
    first = _cast(server, metadata=key, **GOOD)
    second = _cast(server, metadata=key, **GOOD)
    in_body = _cast(server, **{**GOOD, "vote_id": "retry-me-0001"})

    assert first.vote_id == second.vote_id == in_body.vote_id == "retry-me-0001"
    records = read_topic(contest)
    # The producer is stateless: each try is queued; the consumer counts a vote_id once.
    assert {r.headers["ce_id"] for r in records} == {b"retry-me-0001"}


def test_a_bad_vote_in_a_batch_is_reported_by_index_and_sinks_nothing(
    server: ServerProcess, contest: Settings
) -> None:
    stub = pb_grpc.VoteServiceStub(server.channel)
    votes = [
        pb.CastRequest(**GOOD, vote_id="batch-vote-0"),
        pb.CastRequest(**{**GOOD, "rank": "9.555"}),
        pb.CastRequest(**{**GOOD, "name": "La Tona"}),
    ]

    response = stub.CastBatch(pb.CastBatchRequest(votes=votes), timeout=10)

    results = list(response.results)
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.WhichOneof("outcome") for r in results] == ["receipt", "rejection", "receipt"]
    assert results[0].receipt.vote_id == "batch-vote-0"
    rejection = results[1].rejection
    assert (rejection.field, rejection.rule) == ("rank", "precision")
    records = read_topic(contest)
    on_topic = {r.headers["ce_id"].decode(): json.loads(r.value)["name"] for r in records}
    assert on_topic == {"batch-vote-0": "Bohemia Suburbana", results[2].receipt.vote_id: "La Tona"}


def test_batch_level_mistakes_are_invalid_argument(server: ServerProcess) -> None:
    stub = pb_grpc.VoteServiceStub(server.channel)
    one = pb.CastBatchRequest(votes=[pb.CastRequest(**GOOD)])
    too_many = pb.CastBatchRequest(votes=[pb.CastRequest(**GOOD)] * 1001)

    for request, metadata, field, rule in [
        (one, [("idempotency-key", "batch-key-01")], "idempotency-key", "unsupported"),
        (too_many, None, "votes", "too_many"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            stub.CastBatch(request, metadata=metadata, timeout=10)
        error: Any = caught.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        trailers = dict(error.trailing_metadata())
        assert (trailers["certamen-field"], trailers["certamen-rule"]) == (field, rule)


_CONFPROTO_CLIENT = """
import sys
import grpc
import confproto_pb2, confproto_pb2_grpc

with grpc.insecure_channel(sys.argv[1]) as channel:
    stub = confproto_pb2_grpc.getInfoStub(channel)
    request = confproto_pb2.requestId(
        name="Malacates Trebol Shop", album="Niño de la calle", year="2004", rank="88"
    )
    print(stub.returnInfo(request, timeout=10).info)
"""


def test_a_client_generated_from_the_original_confproto_alone_casts_votes(
    server: ServerProcess, contest: Settings, tmp_path: Path
) -> None:
    from grpc_tools import protoc

    original = REPO / "proto" / "confproto"
    assert protoc.main(
        ["protoc", f"-I{original}", f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", "confproto.proto"]
    ) == 0  # fmt: skip
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent(_CONFPROTO_CLIENT))

    # Its own process: only the original contract's modules, none of ours.
    answer = subprocess.run(
        [sys.executable, str(client), f"127.0.0.1:{server.port}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()

    (record,) = read_topic(contest)
    vote = json.loads(record.value)
    assert vote["vote_id"] in answer
    assert answer.startswith("Vote received: Malacates Trebol Shop")
    assert (vote["name"], vote["album"], vote["year"], vote["rank"]) == (
        "Malacates Trebol Shop",
        "Niño de la calle",
        2004,
        88,
    )
    assert vote["channel"] == "grpc"


def test_health_and_reflection_answer(server: ServerProcess) -> None:
    for service in ("", "certamen.v1.VoteService", "confproto.getInfo"):
        assert server.health(service) == SERVING

    reflected = ProtoReflectionDescriptorDatabase(server.channel)
    services = set(reflected.get_services())
    assert {
        "certamen.v1.VoteService",
        "confproto.getInfo",
        "grpc.health.v1.Health",
    } <= services
    described = reflected.FindFileContainingSymbol("certamen.v1.VoteService")
    assert described.name == "certamen/v1/votes.proto"


def test_metrics_count_accepted_and_rejected_votes(server: ServerProcess) -> None:
    _cast(server, **GOOD)
    with pytest.raises(grpc.RpcError):
        _cast(server, **{**GOOD, "year": "97"})

    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    assert 'certamen_producer_votes_total{channel="grpc",outcome="accepted"} 1.0' in text
    assert 'certamen_producer_rejected_total{channel="grpc",field="year",rule="format"} 1.0' in text
    assert 'certamen_producer_kafka_ready{channel="grpc"} 1.0' in text
    assert 'certamen_producer_cast_seconds_count{channel="grpc"} 1.0' in text


def test_with_a_catalog_only_candidates_are_accepted_in_its_spelling(
    contest: Settings, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "bands:\n"
        "  - name: Bohemia Suburbana\n"
        "    albums:\n"
        "      - {title: Mis palabras, year: 1997}\n"
    )
    with grpc_server(contest, tmp_path, {"CERTAMEN_CATALOG": str(catalog)}) as server:
        receipt = _cast(server, **{**GOOD, "name": "BOHEMIA suburbana"})
        for fields, field in [
            ({**GOOD, "name": "Viernes Verde"}, "name"),
            ({**GOOD, "album": "Otro"}, "album"),
            ({**GOOD, "year": "1998"}, "year"),
        ]:
            with pytest.raises(grpc.RpcError) as caught:
                _cast(server, **fields)
            error: Any = caught.value
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            trailers = dict(error.trailing_metadata())
            assert (trailers["certamen-field"], trailers["certamen-rule"]) == (
                field,
                "not_in_catalog",
            )

    (record,) = read_topic(contest)
    assert record.headers["ce_id"] == receipt.vote_id.encode()
    assert json.loads(record.value)["name"] == "Bohemia Suburbana"

"""The Go voters (``load/voters/``): connection-per-vote bursts at a rate Python cannot offer.

``load/newconn.py`` in Go, for the burst benchmark: grpcio costs a Python client more
CPU to set up a channel than the producer spends serving it, CPU the pipeline on the
same small machine then lacks, and which can make the generator, not the producer, set
the rate. The original contest's client was Go and did the same per vote (a new
channel, one ``returnInfo`` call, closed).

The program writes one JSON line per vote with the raw facts of its answer (status code,
trailers or the HTTP response, whether the request was sent); :func:`vote_from_record`
classifies them with newconn's own rules, so the outcome classes are defined once.

Built like the tests' Knative validator: :data:`VOTERS` is a
:class:`~certamen.operations.stack.builds.GoProgram` in the cache, stamped with its
sources. Its protobuf messages are generated from ``proto/confproto/confproto.proto``
(protoc-gen-go, at the version of ``google.golang.org/protobuf`` in its ``go.mod``,
run by grpcio-tools' protoc) into ``voters/confproto.pb.go``, not committed.

``python load/govoters.py`` builds it (or finds it current) and prints its path;
``scripts/setup`` runs it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import grpc

if __package__:  # imported as load.govoters (tests) or run from load/ (benchmarks)
    from load import newconn
else:
    import newconn

from certamen import settings as certamen_settings
from certamen.operations.stack import tools
from certamen.operations.stack.builds import GoProgram
from certamen.operations.stack.console import make_console
from certamen.operations.stack.streamed import run_streamed
from certamen.settings import Settings, child_environment

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROTO_DIR = REPO / "proto"
PROTO = "confproto/confproto.proto"
SOURCE = HERE / "voters"
STUB = SOURCE / "confproto.pb.go"
MODULE = "github.com/certamen/certamen-voters"

VOTERS = GoProgram(
    source=SOURCE,
    binary="certamen-voters",
    what="building the Go voters for load/bench_burst.py (go build)",
)


def binary(settings: Settings | None = None) -> Path:
    """The voters' binary, its stub generated and the program built first when stale."""
    settings = settings or certamen_settings.load()
    stamp = _stub_stamp()
    stamp_path = settings.cache_dir / "bin" / "certamen-voters.proto.stamp"
    stub_current = STUB.is_file() and _read(stamp_path) == stamp
    if stub_current and VOTERS.is_current(settings):
        return VOTERS.path(settings)
    out = make_console(stderr=True)
    go = tools.ensure(["go"], out)["go"]
    if not stub_current:
        _generate_stub(settings, go)
        stamp_path.parent.mkdir(parents=True, exist_ok=True)
        stamp_path.write_text(stamp, encoding="utf-8")
    return VOTERS.build(settings, go, out)


def _generate_stub(settings: Settings, go: Path) -> None:
    """``confproto.pb.go`` from the proto, by protoc-gen-go of the module's own version."""
    from grpc_tools import protoc  # type: ignore[import-untyped]  # a dev dependency

    plugin = settings.cache_dir / "bin" / "protoc-gen-go"
    run_streamed(
        make_console(stderr=True),
        [str(go), "build", "-trimpath", "-o", str(plugin),
         "google.golang.org/protobuf/cmd/protoc-gen-go"],
        what="building protoc-gen-go (go build)",
        log_path=settings.cache_dir / "logs" / "go-build-protoc-gen-go.log",
        cwd=SOURCE,
        env=child_environment({"CGO_ENABLED": "0", "GOTOOLCHAIN": "auto",
                               "GOFLAGS": "-mod=readonly"}),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            "protoc",
            f"-I{PROTO_DIR}",
            f"--plugin=protoc-gen-go={plugin}",
            f"--go_out={tmp}",
            f"--go_opt=M{PROTO}={MODULE};main",
            PROTO,
        ]
        if protoc.main(command) != 0:
            raise RuntimeError(f"protoc failed: {' '.join(command)}")
        (Path(tmp) / MODULE / "confproto.pb.go").replace(STUB)


def _stub_stamp() -> str:
    sha = hashlib.sha256()
    for path in (PROTO_DIR / PROTO, SOURCE / "go.mod", SOURCE / "go.sum"):
        sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def run(plan: newconn.Plan) -> newconn.Ledger:
    """Run the burst with the Go voters; every vote's answer, judged as newconn judges.

    One process (Go uses every core); it may have ``plan.in_flight * plan.processes``
    votes in flight, the same total as newconn's processes."""
    if plan.keyed:
        raise ValueError("the Go voters send new votes only (use newconn for retries)")
    program = binary()
    with tempfile.TemporaryDirectory() as tmp:
        ballots = Path(tmp) / "ballots.json"
        ballots.write_text(json.dumps(list(plan.ballots)), encoding="utf-8")
        ledger_path = Path(tmp) / "ledger.jsonl"
        command = [
            str(program),
            f"-route={plan.route}",
            f"-target={plan.target}",
            f"-run-id={plan.run_id}",
            f"-ballots={ballots}",
            f"-ledger={ledger_path}",
            f"-seconds={plan.seconds}",
            f"-rate={plan.rate}",
            f"-votes={plan.votes}",
            f"-in-flight={plan.in_flight * plan.processes}",
            f"-deadline={plan.deadline_s or 0}",
            f"-http-timeout={plan.http_timeout_s}",
            f"-pooled={str(not plan.new_connection).lower()}",
        ]
        subprocess.run(command, check=True)
        with ledger_path.open(encoding="utf-8") as lines:
            votes = [vote_from_record(json.loads(line), plan.ballots) for line in lines]
    ledger = newconn.Ledger(votes=votes)
    if votes:
        ledger.started = min(v.started for v in votes)
        ledger.ended = max(v.started + v.seconds for v in votes)
    return ledger


def vote_from_record(record: Mapping[str, Any], ballots: Any) -> newconn.Vote:
    """One ledger line of the Go voters as newconn's :class:`~newconn.Vote`."""
    sent = bool(record["sent"])
    if "code" in record:
        trailers = record.get("trailers") or {}
        answer = newconn.grpc_answer(_status(record["code"]), record.get("details") or "",
                                     trailers, sent=sent)  # fmt: skip
    elif "response" in record:
        answer = newconn.http_answer(record["response"].encode())
    else:
        answer = newconn.broken_answer(record.get("error") or "no answer", sent=sent)
    outcome, detail, retry_after = answer
    return newconn.Vote(
        key=record["key"],
        ballot=ballots[record["ballot"]],
        outcome=outcome,
        detail=detail,
        started=float(record["started"]),
        seconds=float(record["seconds"]),
        retry_after=retry_after,
    )


@cache
def _codes() -> dict[int, grpc.StatusCode]:
    return {code.value[0]: code for code in grpc.StatusCode}


def _status(code: int) -> grpc.StatusCode:
    return _codes()[code]


if __name__ == "__main__":
    print(binary())
    sys.exit(0)

"""Where grpcio's per-call cost goes: no-op ``Cast`` servers set up several ways, side by side.

    python load/grpc_server_variants.py [--rounds 3] [--rate 1500] [--other-servers]  # ~3 min

Why: on the gRPC route the producer's CPU per vote is mostly grpcio's own (the no-op
server of ``bench_producer_grpc.py`` costs nearly what producer-grpc does). Each
variant is a server whose ``Cast`` waits 6 ms (Kafka's acknowledgement) and returns a
fixed receipt; the same open-loop clients as ``bench_producer_grpc.py`` drive each in
turn, the variants alternating round by round; the figure is the server's CPU per
call (all its threads), the median of the rounds. The variants: the loop (asyncio,
uvloop), grpcio's threaded server, and core settings (BDP probing off, the ``poll``
poller, the ``pollset_alternative`` experiment, and grpcio's own listener: every other
variant runs with producer-grpc's ``CORE_EXPERIMENTS``). Not run by ``certamen bench``: it
explains a figure, it is not one of the goals.

``--other-servers`` adds servers that are not grpcio, to tell grpcio's cost from what a
gRPC call costs any server on this machine: grpc-go (``load/noop_cast/``, built with
the machine's Go like the burst's voters) and Envoy's HTTP/2 in front of the thinnest
ASGI handler that speaks gRPC (:func:`asgi_cast` on pyvoy: no deadline, no metadata,
no checks; pyvoy is no dependency of Certamen, ``pip install pyvoy`` first).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from concurrent import futures
from functools import cache
from pathlib import Path
from typing import Any

import benchkit
import grpc
import grpc.aio
import uvloop
from bench_producer_grpc import NOOP_RECEIPT, load, wait_port

from certamen._generated.certamen.v1 import votes_pb2 as pb
from certamen.operations.stack import tools
from certamen.operations.stack.builds import GoProgram
from certamen.operations.stack.console import make_console
from certamen.producers.grpc import CORE_EXPERIMENTS
from certamen.producers.grpc.messages import decoder
from certamen.producers.grpc.server import server_options
from certamen.settings import load as load_settings

ACK_WAIT_S = 0.006  # what a Cast waits for Kafka's acks=all (linger 5 ms) on this machine
NO_BDP = (("grpc.http2.bdp_probe", 0),)
# producer-grpc's core setting, given explicitly so that no variant depends on which
# process imported certamen.producers.grpc first; "" is grpcio's own defaults
PRODUCER_CORE = {"GRPC_EXPERIMENTS": CORE_EXPERIMENTS}
# name: (server kind, extra server options, extra environment)
VARIANTS: dict[str, tuple[str, tuple[tuple[str, Any], ...], dict[str, str]]] = {
    "grpc.aio on asyncio": ("asyncio", (), PRODUCER_CORE),
    "grpc.aio on uvloop (producer-grpc)": ("uvloop", (), PRODUCER_CORE),
    "grpc.aio on uvloop, grpcio's own listener (event_engine_listener on)": (
        "uvloop",
        (),
        {"GRPC_EXPERIMENTS": ""},
    ),
    "grpc.aio on uvloop, BDP probe off": ("uvloop", NO_BDP, PRODUCER_CORE),
    "grpc.aio on uvloop, GRPC_POLL_STRATEGY=poll": (
        "uvloop",
        (),
        PRODUCER_CORE | {"GRPC_POLL_STRATEGY": "poll"},
    ),
    "grpc.aio on uvloop, pollset_alternative": (
        "uvloop",
        (),
        {"GRPC_EXPERIMENTS": f"{CORE_EXPERIMENTS},pollset_alternative"},
    ),
    "grpcio threaded server, 64 threads": ("threads", (), PRODUCER_CORE),
}
OTHER_SERVERS = {  # not grpcio: --other-servers
    "grpc-go (compiled, no Python)": ("go", (), {"GOMAXPROCS": "2"}),
    "Envoy + thinnest ASGI gRPC handler (pyvoy, uvloop)": ("pyvoy", (), {}),
}
SERVERS = {**VARIANTS, **OTHER_SERVERS}
SERVICE = "certamen.v1.VoteService"
HERE = Path(__file__).resolve().parent
NOOP_CAST = GoProgram(
    source=HERE / "noop_cast",
    binary="certamen-noop-cast",
    what="building the Go no-op Cast server for load/grpc_server_variants.py (go build)",
)
_RECEIPT = NOOP_RECEIPT.SerializeToString()
_GRPC_FRAME = b"\x00" + len(_RECEIPT).to_bytes(4, "big") + _RECEIPT  # not compressed, length


def _add_cast(server: grpc.Server | grpc.aio.Server, cast: Any) -> None:
    handler = grpc.unary_unary_rpc_method_handler(
        cast,
        request_deserializer=decoder(pb.CastRequest),
        response_serializer=pb.Receipt.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Cast": handler}),)
    )


async def _serve_aio(port: int, options: list[tuple[str, Any]]) -> None:
    async def cast(request: Any, context: Any) -> pb.Receipt:
        await asyncio.sleep(ACK_WAIT_S)
        return NOOP_RECEIPT

    server = grpc.aio.server(options=options)
    _add_cast(server, cast)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def _serve_threads(port: int, options: list[tuple[str, Any]]) -> None:
    def cast(request: Any, context: Any) -> pb.Receipt:
        time.sleep(ACK_WAIT_S)
        return NOOP_RECEIPT

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), options=options)
    _add_cast(server, cast)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


async def asgi_cast(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A no-op ``Cast`` as an ASGI app (served by pyvoy): read the call, wait, answer OK.

    The least a server can do in Python and still be a gRPC server: the request is read
    whole and ignored, the fixed receipt framed by hand, ``grpc-status: 0`` a trailer.
    """
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await asyncio.sleep(ACK_WAIT_S)
    await send({"type": "http.response.start", "status": 200, "trailers": True,
                "headers": [(b"content-type", b"application/grpc")]})  # fmt: skip
    await send({"type": "http.response.body", "body": _GRPC_FRAME})
    await send({"type": "http.response.trailers", "headers": [(b"grpc-status", b"0")]})


@cache
def noop_cast_binary() -> Path:
    """The Go server, built once a run (the cache's copy when its sources are unchanged)."""
    out = make_console(stderr=True)
    return NOOP_CAST.build(load_settings(), tools.ensure(["go"], out)["go"], out)


@cache
def pyvoy_script() -> Path:
    """pyvoy's console script, beside this Python, or a clear exit if it is not installed."""
    pyvoy = Path(sys.executable).with_name("pyvoy")
    if importlib.util.find_spec("pyvoy") is None or not pyvoy.is_file():
        raise SystemExit("grpc_server_variants: pyvoy is not installed (pip install pyvoy)")
    return pyvoy


def server_command(name: str, port: int) -> tuple[list[str], Path | None]:
    """How to start a variant's server, and in which folder."""
    kind = SERVERS[name][0]
    if kind == "go":
        return [str(noop_cast_binary()), str(port), _RECEIPT.hex()], None
    if kind == "pyvoy":
        options = ["--port", str(port), "--loop", "uvloop", "--worker-threads", "1"]
        return [str(pyvoy_script()), *options, "grpc_server_variants:asgi_cast"], HERE
    return [sys.executable, __file__, "--serve", name, "--port", str(port)], None


def serve(name: str, port: int) -> None:
    """Serve one variant until killed (run in its own process)."""
    kind, extra, _ = VARIANTS[name]
    options = [*server_options(load_settings().producer_max_in_flight), *extra]
    if kind == "threads":
        _serve_threads(port, options)
    elif kind == "uvloop":
        uvloop.run(_serve_aio(port, options))
    else:
        asyncio.run(_serve_aio(port, options))


def measure(name: str, *, rate: float, seconds: float) -> float:
    """One round of one variant: the server's CPU µs per call."""
    port = benchkit.free_port()
    command, folder = server_command(name, port)
    process = subprocess.Popen(
        command,
        cwd=folder,
        env={**os.environ, **SERVERS[name][2]},
        start_new_session=True,
    )
    try:
        wait_port(f"127.0.0.1:{port}", within_s=30)
        run = load(name, f"127.0.0.1:{port}", f"/{SERVICE}/Cast", processes=1, concurrency=32,
                   seconds=seconds, rate=rate, server_pid=process.pid)  # fmt: skip
        return run.server_cpu_us_per_vote
    finally:
        benchkit.stop_session(process, grace_s=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1500.0, help="open-loop calls/s")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds a round")
    parser.add_argument("--other-servers", action="store_true",
                        help="add grpc-go and Envoy (pyvoy) no-op servers")  # fmt: skip
    parser.add_argument("--serve", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    names = [*VARIANTS, *(OTHER_SERVERS if args.other_servers else ())]
    if args.other_servers:  # before any round: a missing tool stops the run at once
        noop_cast_binary()
        pyvoy_script()
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(1, args.rounds + 1):
        print(f"round {round_} of {args.rounds}", flush=True)
        for name in names:
            cpu[name].append(measure(name, rate=args.rate, seconds=args.seconds))
    print(f"\nserver CPU µs per no-op Cast at {args.rate:,.0f} calls/s, median (rounds)\n")
    print("| server | µs a call | rounds |\n| --- | ---: | --- |")
    for name, values in cpu.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"| {name} | {statistics.median(values):.0f} | {rounds} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where grpcio's per-call cost goes: no-op ``Cast`` servers set up several ways, side by side.

    python load/grpc_server_variants.py [--rounds 3] [--rate 1500]    # ~3 min

Why: on the gRPC route the producer's CPU per vote is mostly grpcio's own (the no-op
server of ``bench_producer_grpc.py`` costs nearly what producer-grpc does). Each
variant is a server whose ``Cast`` waits 6 ms (Kafka's acknowledgement) and returns a
fixed receipt; the same open-loop clients as ``bench_producer_grpc.py`` drive each in
turn, the variants alternating round by round; the figure is the server's CPU per
call (all its threads), the median of the rounds. The variants: the loop (asyncio,
uvloop), grpcio's threaded server, and core settings (BDP probing off, the ``poll``
poller, the ``pollset_alternative`` experiment). Not run by ``certamen bench``: it
explains a figure, it is not one of the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from concurrent import futures
from typing import Any

import benchkit
import grpc
import grpc.aio
import uvloop
from bench_producer_grpc import NOOP_RECEIPT, load, wait_port

from certamen._generated.certamen.v1 import votes_pb2 as pb
from certamen.producers.grpc.messages import decoder
from certamen.producers.grpc.server import server_options
from certamen.settings import load as load_settings

ACK_WAIT_S = 0.006  # what a Cast waits for Kafka's acks=all (linger 5 ms) on this machine
NO_BDP = (("grpc.http2.bdp_probe", 0),)
# name: (server kind, extra server options, extra environment)
VARIANTS: dict[str, tuple[str, tuple[tuple[str, Any], ...], dict[str, str]]] = {
    "grpc.aio on asyncio": ("asyncio", (), {}),
    "grpc.aio on uvloop (producer-grpc)": ("uvloop", (), {}),
    "grpc.aio on uvloop, BDP probe off": ("uvloop", NO_BDP, {}),
    "grpc.aio on uvloop, GRPC_POLL_STRATEGY=poll": ("uvloop", (), {"GRPC_POLL_STRATEGY": "poll"}),
    "grpc.aio on uvloop, pollset_alternative": (
        "uvloop",
        (),
        {"GRPC_EXPERIMENTS": "pollset_alternative"},
    ),
    "grpcio threaded server, 64 threads": ("threads", (), {}),
}
SERVICE = "certamen.v1.VoteService"


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
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", name, "--port", str(port)],
        env={**os.environ, **VARIANTS[name][2]},
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
    parser.add_argument("--serve", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_ in range(1, args.rounds + 1):
        print(f"round {round_} of {args.rounds}", flush=True)
        for name in VARIANTS:
            cpu[name].append(measure(name, rate=args.rate, seconds=args.seconds))
    print(f"\nserver CPU µs per no-op Cast at {args.rate:,.0f} calls/s, median (rounds)\n")
    print("| server | µs a call | rounds |\n| --- | ---: | --- |")
    for name, values in cpu.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"| {name} | {statistics.median(values):.0f} | {rounds} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

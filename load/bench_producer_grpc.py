"""Benchmark producer-grpc side by side with a no-op grpcio server of the same settings.

    python load/bench_producer_grpc.py --json OUT [--markdown MD]   # ~2 min
    python load/bench_producer_grpc.py --json OUT --quick           # ~40 s smoke run

What it measures, in one run on this machine against the real local Kafka
(``KAFKA_BOOTSTRAP_SERVERS``, default the local stack's on ``CERTAMEN_KAFKA_PORT``; a
topic of its own, deleted after):

- unary ``Cast`` votes/s, closed loop, for producer-grpc and for a no-op server built by
  the same ``new_grpc_server()`` (grpc.aio, max concurrent RPCs, options) whose
  handler decodes the request and returns a constant receipt: goal >= 75%;
- ``CastBatch`` votes/s (batches of 500): goal >= 10,000;
- p50/p99 latency of ``Cast`` at a stated open-loop rate, and at full speed;
- start-up time from spawning ``certamen producer-grpc`` to health SERVING (goal <= 1.5 s);
- resident memory (VmRSS after the runs, VmHWM peak) of each server (goal <= 150 MB).

Clients run in separate processes (grpc.aio, many calls in flight each) so they do not
share the server's GIL. Every run is bounded in time. Its rates compare with its own
no-op only (the same clients): ``bench_producer_wasm.py`` drives HTTP with ``wrk``, a far
lighter load generator, so the routes are compared by server CPU per vote
(``certamen bench``'s Ratios, docs/grpc-vs-wasm.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import queue as queue_module
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import benchkit
import grpc
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certamen._generated.certamen.v1 import votes_pb2 as pb

BALLOT = {"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}
CAST = "/certamen.v1.VoteService/Cast"
CAST_BATCH = "/certamen.v1.VoteService/CastBatch"
BATCH_SIZE = 500


# --- the no-op server (runs in its own process) -------------------------------------------


NOOP_RECEIPT = pb.Receipt(vote_id="0" * 36, received_at="2026-01-01T00:00:00.000Z")


def serve_noop(port: int) -> None:
    """A grpc.aio server with producer-grpc's settings and loop whose handlers do no vote work."""
    uvloop.run(_serve_noop(port))


async def _serve_noop(port: int) -> None:
    from certamen.producers.grpc.messages import decoder
    from certamen.producers.grpc.server import new_grpc_server
    from certamen.settings import load as load_settings

    async def cast(request: Any, context: Any) -> pb.Receipt:
        return NOOP_RECEIPT

    async def cast_batch(request: Any, context: Any) -> pb.CastBatchResponse:
        receipts = [pb.CastResult(index=i, receipt=NOOP_RECEIPT) for i in range(len(request.votes))]
        return pb.CastBatchResponse(results=receipts)

    methods = {
        "Cast": grpc.unary_unary_rpc_method_handler(
            cast,
            request_deserializer=decoder(pb.CastRequest),
            response_serializer=pb.Receipt.SerializeToString,
        ),
        "CastBatch": grpc.unary_unary_rpc_method_handler(
            cast_batch,
            request_deserializer=decoder(pb.CastBatchRequest),
            response_serializer=pb.CastBatchResponse.SerializeToString,
        ),
    }
    server = new_grpc_server(load_settings().producer_max_in_flight)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("certamen.v1.VoteService", methods),)
    )
    server.add_registered_method_handlers("certamen.v1.VoteService", methods)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1)


# --- clients (each in its own process) ----------------------------------------------------


@dataclass
class ClientResult:
    """What one client process saw during the measured window."""

    votes: int = 0
    calls: int = 0
    all_votes: int = 0  # warm-up included: what the server's CPU time is divided by
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)


async def _client(
    target: str, method: str, concurrency: int, warmup_s: float, seconds: float, rate: float
) -> ClientResult:
    result = ClientResult()
    cast_request = pb.CastRequest(**BALLOT).SerializeToString()
    batch_request = pb.CastBatchRequest(
        votes=[pb.CastRequest(**BALLOT)] * BATCH_SIZE
    ).SerializeToString()
    body, votes_per_call = (
        (batch_request, BATCH_SIZE) if method == CAST_BATCH else (cast_request, 1)
    )
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(
            method, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        await call(body, timeout=30)  # connect (and warm up) before the clock starts
        start = time.monotonic() + warmup_s
        end = start + seconds

        async def one() -> None:
            sent = time.monotonic()
            try:
                await call(body, timeout=10)
            except grpc.aio.AioRpcError as e:
                if sent >= start:
                    name = e.code().name
                    result.errors[name] = result.errors.get(name, 0) + 1
                return
            done = time.monotonic()
            result.all_votes += votes_per_call
            if start <= sent and done <= end:
                result.calls += 1
                result.votes += votes_per_call
                result.latencies_ms.append((done - sent) * 1000)

        if rate > 0:  # open loop: calls leave at a fixed rate, whatever the answers do
            tasks = set()
            next_at = time.monotonic()
            while next_at < end:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                task = asyncio.create_task(one())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at += 1 / rate
            await asyncio.gather(*tasks)
        else:  # closed loop: ``concurrency`` calls always in flight

            async def worker() -> None:
                while time.monotonic() < end:
                    await one()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result


def _client_process(queue: Any, *args: Any) -> None:
    try:
        result = asyncio.run(_client(*args))
    except Exception as e:  # report it: the parent must not wait for a dead client
        result = ClientResult(errors={f"client failed: {e!r}"[:200]: 1})
    queue.put(asdict(result))


@dataclass
class Run:
    """One measured load: throughput and latency over all client processes."""

    label: str
    votes_per_s: float
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    server_cpu_us_per_vote: float
    broker_cpu_us_per_vote: float | None = None  # the Kafka broker's, if certamen up runs it


def load(
    label: str,
    target: str,
    method: str,
    *,
    processes: int,
    concurrency: int,
    seconds: float,
    rate: float = 0.0,
    warmup_s: float = 1.0,
    server_pid: int,
    broker_pid: int | None = None,
) -> Run:
    """Run ``processes`` client processes against ``target``; combine what they saw.

    The server's CPU time per vote (user + system, all its threads) does not depend
    on how busy the machine is, unlike votes/s: it is the figure to compare when the
    machine is shared. The broker's CPU (``broker_pid``) shares the cores too; it
    includes any other traffic the broker serves.
    """
    sessions = {"server": server_pid} | ({"kafka": broker_pid} if broker_pid else {})
    cpu_before = benchkit.cpu_seconds(sessions)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    clients = [
        context.Process(
            target=_client_process,
            args=(queue, target, method, concurrency, warmup_s, seconds, rate / processes),
        )
        for _ in range(processes)
    ]
    for client in clients:
        client.start()
    results = [_result(queue, clients, deadline_s=seconds + warmup_s + 60) for _ in clients]
    for client in clients:
        client.join(timeout=30)
    cpu_after = benchkit.cpu_seconds(sessions)
    server_cpu = cpu_after["server"] - cpu_before["server"]
    all_votes = max(1, sum(r.all_votes for r in results))
    latencies = sorted(x for r in results for x in r.latencies_ms)
    errors: dict[str, int] = {}
    for r in results:
        for name, count in r.errors.items():
            errors[name] = errors.get(name, 0) + count
    run = Run(
        label=label,
        votes_per_s=sum(r.votes for r in results) / seconds,
        calls_per_s=sum(r.calls for r in results) / seconds,
        p50_ms=_quantile(latencies, 0.50),
        p99_ms=_quantile(latencies, 0.99),
        errors=errors,
        server_cpu_us_per_vote=server_cpu / all_votes * 1e6,
        broker_cpu_us_per_vote=(
            (cpu_after["kafka"] - cpu_before["kafka"]) / all_votes * 1e6 if broker_pid else None
        ),
    )
    print(
        f"  {label}: {run.votes_per_s:,.0f} votes/s, p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms, server CPU {run.server_cpu_us_per_vote:.0f} us/vote "
        f"(broker {_broker(run)}), "
        f"errors {errors or 0}",
        flush=True,
    )
    return run


def _result(queue: Any, clients: list[Any], *, deadline_s: float) -> ClientResult:
    """The next client's result; fails if every client died without one, or too late."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with contextlib.suppress(queue_module.Empty):
            return ClientResult(**queue.get(timeout=1))
        if not any(client.is_alive() for client in clients) and queue.empty():
            raise RuntimeError("the client processes died without a result")
    raise RuntimeError(f"no client result within {deadline_s:.0f} s")


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


# --- servers under test -------------------------------------------------------------------


def _wait_serving(target: str, process: subprocess.Popen[bytes], within_s: float) -> float:
    """Seconds until the health service says SERVING (the server's own readiness)."""
    started = time.monotonic()
    # Reconnect at once after "connection refused": grpc's default backoff (1 s) would
    # be measured as the server's start-up time.
    options = [("grpc.initial_reconnect_backoff_ms", 10), ("grpc.min_reconnect_backoff_ms", 10),
               ("grpc.max_reconnect_backoff_ms", 20)]  # fmt: skip
    with grpc.insecure_channel(target, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() - started < within_s:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.2)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.monotonic() - started
            except grpc.RpcError:
                pass
            time.sleep(0.005)
    raise RuntimeError(f"{target} not SERVING within {within_s} s")


def wait_port(target: str, within_s: float) -> None:
    """Wait until a gRPC server answers on ``target``."""
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=within_s)


@contextmanager
def producer_grpc(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """``certamen producer-grpc``; yields its target, process and start-up seconds."""
    port, metrics_port = benchkit.free_port(), benchkit.free_port()
    target = f"127.0.0.1:{port}"
    spawned = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "certamen.operations.cli", "producer-grpc"],
        env={**env, "PORT": str(port), "CERTAMEN_PRODUCER_GRPC_METRICS_PORT": str(metrics_port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own session: benchkit.cpu_seconds counts it alone
    )
    try:
        _wait_serving(target, process, within_s=30)
        yield target, process, time.monotonic() - spawned
    finally:
        benchkit.stop_session(process, grace_s=20)


@contextmanager
def noop_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The no-op server in its own process."""
    port = benchkit.free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-noop", str(port)],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    target = f"127.0.0.1:{port}"
    try:
        wait_port(target, within_s=30)
        yield target, process
    finally:
        benchkit.stop_session(process, grace_s=20)


@contextmanager
def bench_topic(env: dict[str, str]) -> Iterator[str]:
    """A 6-partition topic of the benchmark's own on the real Kafka, deleted afterwards."""
    from certamen.adapters.kafka import ensure_topics, make_admin
    from certamen.settings import load as load_settings

    settings = load_settings(env)
    name = f"bench-grpc-{uuid.uuid4().hex[:8]}"
    admin = make_admin(settings)
    try:
        ensure_topics(admin, [(name, 6)])
        yield name
    finally:
        admin.delete_topics([name])
        admin.close()


def _broker_pid(env: dict[str, str]) -> int | None:
    """The Kafka broker's session, when ``certamen up`` started it (else its CPU is unknown)."""
    from certamen.settings import load as load_settings

    return benchkit.part_pids(load_settings(env), ["kafka"]).get("kafka")


# --- the benchmark ------------------------------------------------------------------------


def main() -> int:
    """Run the benchmark, write its figures (``--json``, and ``--markdown`` if given)."""
    parser = benchkit.bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--serve-noop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--markdown", help="also write the results as markdown here")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--concurrency", type=int, default=128, help="calls in flight/process")
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop votes/s")
    if "--serve-noop" in sys.argv:  # the no-op server's own process: no --json
        serve_noop(int(sys.argv[sys.argv.index("--serve-noop") + 1]))
        return 0
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    env = {**os.environ}
    from certamen.settings import load as load_settings

    # The stack's Kafka (its port from CERTAMEN_KAFKA_PORT), unless the variable names one.
    env["KAFKA_BOOTSTRAP_SERVERS"] = load_settings(env).kafka_bootstrap_servers
    load_before = os.getloadavg()
    broker_pid = _broker_pid(env)
    with bench_topic(env) as topic:
        env["CERTAMEN_TOPIC"] = topic
        print(f"start-up (spawn -> health SERVING), topic {topic}:", flush=True)
        startups = []
        for _ in range(2 if args.quick else 5):
            with producer_grpc(env) as (_, _, seconds_to_ready):
                startups.append(seconds_to_ready)
        print(f"  median {statistics.median(startups):.2f} s of {startups}", flush=True)

        runs: dict[str, Run] = {}
        with noop_server() as (target, process):
            print("no-op grpcio server (same settings):", flush=True)
            same = _server_runs("no-op ", target, process.pid, broker_pid, args, seconds)
            runs.update({f"noop_{name}": run for name, run in same.items()})
            noop_memory = benchkit.memory_mb(process.pid)
        with producer_grpc(env) as (target, process, _):
            print("producer-grpc (real Kafka, acks=all):", flush=True)
            runs.update(_server_runs("", target, process.pid, broker_pid, args, seconds))
            memory = benchkit.memory_mb(process.pid)
    command = benchkit.command_line("load/bench_producer_grpc.py", parser, args)
    figures = _figures(runs, startups, memory, noop_memory, args.rate, command)
    notes = [
        f"Clients: {args.processes} processes x {args.concurrency} calls in flight, closed "
        f"loop (CastBatch: x 2 batches of {BATCH_SIZE}); open loop at {args.rate:.0f} votes/s; "
        f"{seconds:.0f} s measured per run after 1 s of warm-up.",
        f"Kafka {env['KAFKA_BOOTSTRAP_SERVERS']} (acks=all, idempotent), a 6-partition topic "
        "of its own, deleted after. The no-op server is built by the same `new_grpc_server()` "
        "and answers a constant receipt. Broker CPU per vote: the broker's whole CPU during "
        "the run (other traffic it serves included), per vote of the run.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average before "
        f"{', '.join(f'{x:.2f}' for x in load_before)}. Server CPU per vote (all its threads) "
        "does not depend on how busy the machine is: compare it when the machine is shared.",
        f"Start-up runs: {', '.join(f'{s:.2f}' for s in startups)} s.",
    ]
    sections = {"Runs (where the time goes: server CPU per vote)": _runs_table(runs)}
    title = "producer-grpc beside a no-op grpcio server (real Kafka)"
    benchkit.publish(args, title, figures, notes, sections)
    return 0


def _server_runs(
    prefix: str,
    target: str,
    server_pid: int,
    broker_pid: int | None,
    args: argparse.Namespace,
    seconds: float,
) -> dict[str, Run]:
    """The same three runs against each server: Cast closed loop, CastBatch, Cast at a rate."""
    common: dict[str, Any] = {
        "processes": args.processes,
        "seconds": seconds,
        "server_pid": server_pid,
        "broker_pid": broker_pid,
    }
    return {
        "cast": load(f"{prefix}Cast", target, CAST, concurrency=args.concurrency, **common),
        "batch": load(f"{prefix}CastBatch", target, CAST_BATCH, concurrency=2, **common),
        "cast_at_rate": load(
            f"{prefix}Cast at {args.rate:.0f}/s",
            target,
            CAST,
            concurrency=0,
            rate=args.rate,
            **common,
        ),
    }


def _figures(
    runs: dict[str, Run],
    startups: list[float],
    memory: tuple[float, float],
    noop_memory: tuple[float, float],
    rate: float,
    command: str,
) -> list[benchkit.Figure]:
    cast, noop, batch = runs["cast"], runs["noop_cast"], runs["batch"]
    vs_noop = cast.votes_per_s / noop.votes_per_s if noop.votes_per_s else 0.0
    startup = statistics.median(startups)
    errors = sum(sum(r.errors.values()) for r in runs.values())
    (rss, peak), (noop_rss, _) = memory, noop_memory  # MB: now and at the peak (VmHWM)

    def figure(key: str, name: str, value: float, unit: str, **extra: Any) -> benchkit.Figure:
        full = f"producer_grpc.{key}"
        return benchkit.figure(full, name, value, unit, command=command, **extra)

    return [
        figure("votes_per_s", "unary Cast votes/s, closed loop", round(cast.votes_per_s),
               "votes/s"),
        figure("noop_votes_per_s", "no-op server Cast calls/s, same load", round(noop.votes_per_s),
               "votes/s"),
        figure("vs_noop", "Cast / no-op votes/s", round(vs_noop, 3), "ratio", goal=">= 0.75",
               met=vs_noop >= 0.75),
        figure("server_cpu_us_per_vote", "server CPU per Cast vote",
               round(cast.server_cpu_us_per_vote), "µs",
               note=f"no-op {noop.server_cpu_us_per_vote:.0f} µs"),
        figure("batch_votes_per_s", f"CastBatch votes/s ({BATCH_SIZE} a call)",
               round(batch.votes_per_s), "votes/s", goal=">= 10,000",
               met=batch.votes_per_s >= 10_000),
        figure("p50_ms", "Cast latency p50 at saturation", round(cast.p50_ms, 2), "ms"),
        figure("p99_ms", "Cast latency p99 at saturation", round(cast.p99_ms, 2), "ms"),
        figure("p50_at_rate_ms", f"Cast latency p50 at {rate:.0f} votes/s (open loop)",
               round(runs["cast_at_rate"].p50_ms, 2), "ms"),
        figure("p99_at_rate_ms", f"Cast latency p99 at {rate:.0f} votes/s (open loop)",
               round(runs["cast_at_rate"].p99_ms, 2), "ms"),
        figure("startup_s", "start-up: spawn to health SERVING (median)", round(startup, 3), "s",
               goal="<= 1.5", met=startup <= 1.5),
        figure("rss_mb", "resident memory, peak (VmHWM)", round(peak, 1), "MB",
               goal="<= 150", met=peak <= 150,
               note=f"{rss:.0f} MB after the runs; no-op {noop_rss:.0f}"),
        figure("errors", "failed calls (all runs)", errors, "calls", goal="= 0", met=errors == 0),
    ]  # fmt: skip


def _runs_table(runs: dict[str, Run]) -> str:
    lines = [
        "| run | votes/s | p50 ms | p99 ms | server CPU µs/vote | broker CPU µs/vote | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {r.label} | {r.votes_per_s:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
        f"{r.server_cpu_us_per_vote:.0f} | {_broker(r)} | {r.errors or '-'} |"
        for r in runs.values()
    ]
    return "\n".join(lines)


def _broker(run: Run) -> str:
    return "-" if run.broker_cpu_us_per_vote is None else f"{run.broker_cpu_us_per_vote:.0f}"


if __name__ == "__main__":
    sys.exit(main())

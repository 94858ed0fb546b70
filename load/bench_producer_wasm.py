"""Benchmark of producer-wasm, side by side in one run, against the real local Kafka.

    python load/bench_producer_wasm.py --json OUT [--quick] [--markdown MD]
        [--seconds 10] [--rounds 3] [--connections 128] [--light 8]

Measures (``--quick``: one 3 s round, fewer kernel calls):

- votes/s of producer-wasm and requests/s of a no-op endpoint served by the same
  HTTP stack (``server.uvicorn_config``: uvicorn, uvloop, httptools, a plain ASGI
  app that reads the body and answers a fixed 202), alternating rounds, with the
  server's CPU time per request (steadier than rates on a shared machine);
- the kernel's cost per call from Python: the low-overhead path of
  ``BallotKernel.canonical`` against the plain wasmtime-py call path
  (``Func.__call__``) and the Python contract's ``parse_ballot``;
- p50/p99 latency at saturation and at a light load (few connections);
- start-up time from ``exec`` to ``/readyz`` 200, and resident memory after the load.

Load generator: ``wrk`` (Debian package), one thread, keep-alive connections,
closed loop. Every vote goes to Kafka with acks=all on a topic of its own, deleted
afterwards. Needs Kafka at KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import benchkit

BALLOT = b'{"name": "Bohemia Suburbana", "album": "Mis palabras", "year": "1997", "rank": "9.5"}'
NOOP_RECEIPT = (
    b'{"vote_id":"01a218fb-b871-7c53-a066-4badd8283ef9","received_at":"2026-11-26T17:51:19.665Z"}'
)
WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BALLOT.decode()}'
wrk.headers["Content-Type"] = "application/json"
"""
PORTS = (15401, 15402)
METRICS_PORT = 15403  # producer-wasm's own metrics port, out of everyone else's way


async def noop_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The baseline: read the body, answer a fixed 202, on the same stack as producer-wasm."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    message = await receive()
    while message.get("more_body"):
        message = await receive()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(NOOP_RECEIPT)),
    ]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": NOOP_RECEIPT})


def serve_noop(port: int) -> None:
    import uvicorn

    from certamen.producers.wasm.server import uvicorn_config

    uvicorn.Server(uvicorn_config(noop_app, host="127.0.0.1", port=port, graceful_s=1.0)).run()


@dataclass
class WrkRun:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us_per_request: float
    broker_cpu_us_per_request: float | None = None  # the Kafka broker's, if certamen up runs it


def _cpu_seconds(pid: int) -> float:
    """CPU seconds so far of the server started (in a session of its own) as ``pid``."""
    return benchkit.cpu_seconds({"server": pid})["server"]


def _broker_pid() -> int | None:
    """The Kafka broker's session, when ``certamen up`` started it (the broker shares the
    cores, so its CPU per vote counts too; it includes any other traffic it serves)."""
    from certamen.settings import load

    return benchkit.part_pids(load(), ["kafka"]).get("kafka")


def _latency_ms(text: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    assert match, text
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(
    url: str,
    script: Path,
    *,
    seconds: int,
    connections: int,
    pid: int,
    broker_pid: int | None = None,
) -> WrkRun:
    sessions = {"server": pid} | ({"kafka": broker_pid} if broker_pid else {})
    cpu_before = benchkit.cpu_seconds(sessions)
    run = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    )
    cpu_after = benchkit.cpu_seconds(sessions)
    cpu = cpu_after["server"] - cpu_before["server"]
    out = run.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        errors += sum(int(g) for g in match.groups())
    return WrkRun(
        rate=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_latency_ms(out, "50"),
        p99_ms=_latency_ms(out, "99"),
        requests=requests,
        errors=errors,
        cpu_us_per_request=cpu / max(requests, 1) * 1e6,
        broker_cpu_us_per_request=(
            (cpu_after["kafka"] - cpu_before["kafka"]) / max(requests, 1) * 1e6
            if broker_pid
            else None
        ),
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes], within_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if 200 <= response.status < 300:
                return time.monotonic() - started
        time.sleep(0.005)
    raise RuntimeError(f"{url} not ready within {within_s} s")


@contextlib.contextmanager
def process(
    command: Sequence[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        benchkit.stop_session(proc, grace_s=20)


def kernel_costs(rounds: int, calls: int) -> dict[str, float]:
    """Per-call µs (best round) of the fast path, the plain wasmtime-py path, and Python."""
    from certamen.contract import parse_ballot
    from certamen.producers.wasm.kernel import FUEL_PER_CALL, BallotKernel

    kernel = BallotKernel()
    ballot_func: Any = kernel._exports["ballot"]
    store = kernel._store
    address_in, address_out = kernel._input, kernel._output

    def plain() -> bytes:
        ctypes.memmove(address_in, BALLOT, len(BALLOT))
        store.set_fuel(FUEL_PER_CALL)
        return ctypes.string_at(address_out, ballot_func(store, len(BALLOT), 2026))

    assert (
        plain() == kernel.canonical(BALLOT, 2026) == parse_ballot(BALLOT, year_now=2026).to_json()
    )
    paths = {
        "kernel_fast_us": lambda: kernel.canonical(BALLOT, 2026),
        "kernel_fast_to_ballot_us": lambda: kernel.parse(BALLOT, 2026),
        "kernel_plain_wasmtime_us": plain,
        "python_contract_us": lambda: parse_ballot(BALLOT, year_now=2026),
    }
    best: dict[str, float] = {}
    for name, call in paths.items():
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                call()
            times.append((time.perf_counter() - started) / calls * 1e6)
        best[name] = round(min(times), 2)
        best[name.replace("_us", "_median_us")] = round(statistics.median(times), 2)
    best["kernel_fuel_per_ballot"] = kernel.fuel_used(BALLOT, 2026)
    return best


def main() -> int:
    if "--serve-noop" in sys.argv:  # the no-op endpoint's own process: no --json
        serve_noop(int(sys.argv[sys.argv.index("--serve-noop") + 1]))
        return 0
    parser = benchkit.bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--markdown", help="also write the results as markdown here")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating no-op / producer rounds")
    parser.add_argument(
        "--connections", type=int, default=128, help="wrk connections at saturation"
    )
    parser.add_argument("--light", type=int, default=8, help="wrk connections for the light load")
    parser.add_argument("--serve-noop", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = 3 if args.quick else args.seconds
    rounds_wanted = 1 if args.quick else args.rounds

    from certamen.adapters.kafka import ensure_topics, make_admin
    from certamen.settings import load

    settings = load()
    broker_pid = _broker_pid()
    topic = f"bench-wasm-{uuid.uuid4().hex[:8]}"
    bench = replace(settings, votes_topic=topic)
    admin = make_admin(bench)
    ensure_topics(admin, [(topic, 6)])
    load_at_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-wasm-"))
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "CERTAMEN_TOPIC": topic,
        "CERTAMEN_PRODUCER_WASM_METRICS_PORT": str(METRICS_PORT),
    }
    results: dict[str, Any] = {"topic": topic, "load_average_at_start": load_at_start}
    try:
        print("kernel cost per call ...", file=sys.stderr)
        results["kernel"] = kernel_costs(rounds=5, calls=2_000 if args.quick else 20_000)

        print("start-up to ready ...", file=sys.stderr)
        startups: list[float] = []
        startup_cpu: list[float] = []
        for _ in range(3):
            port = PORTS[1]
            started = time.monotonic()
            with process(
                [sys.executable, "-m", "certamen.operations.cli", "producer-wasm"],
                {**env, "PORT": str(port)},
                work / "startup.log",
            ) as proc:
                _wait_ready(f"http://127.0.0.1:{port}/readyz", proc, 30.0)
                startups.append(time.monotonic() - started)
                startup_cpu.append(_cpu_seconds(proc.pid))
        results["startup_cpu_s"] = round(statistics.median(startup_cpu), 3)
        results["startup_s"] = {
            "runs": [round(s, 3) for s in startups],
            "median": round(statistics.median(startups), 3),
        }

        print("throughput, side by side ...", file=sys.stderr)
        noop_port, wasm_port = PORTS
        with (
            process(
                [sys.executable, __file__, "--serve-noop", str(noop_port)], env, work / "noop.log"
            ) as noop,
            process(
                [sys.executable, "-m", "certamen.operations.cli", "producer-wasm"],
                {**env, "PORT": str(wasm_port)},
                work / "producer.log",
            ) as producer,
        ):
            _wait_ready(f"http://127.0.0.1:{noop_port}/", noop, 30.0)
            _wait_ready(f"http://127.0.0.1:{wasm_port}/readyz", producer, 30.0)
            for pid, port in ((noop.pid, noop_port), (producer.pid, wasm_port)):  # warm up
                wrk(
                    f"http://127.0.0.1:{port}/votes",
                    script,
                    seconds=2,
                    connections=args.connections,
                    pid=pid,
                )
            rounds: dict[str, list[WrkRun]] = {"noop": [], "producer": []}
            for _ in range(rounds_wanted):
                for name, pid, port in (
                    ("noop", noop.pid, noop_port),
                    ("producer", producer.pid, wasm_port),
                ):
                    rounds[name].append(
                        wrk(
                            f"http://127.0.0.1:{port}/votes",
                            script,
                            seconds=seconds,
                            connections=args.connections,
                            pid=pid,
                            broker_pid=broker_pid,
                        )
                    )
            light = wrk(
                f"http://127.0.0.1:{wasm_port}/votes",
                script,
                seconds=seconds,
                connections=args.light,
                pid=producer.pid,
            )
            rss, peak = benchkit.memory_mb(producer.pid)
            noop_rss, _ = benchkit.memory_mb(noop.pid)
        results["rounds"] = {name: [asdict(r) for r in runs] for name, runs in rounds.items()}
        noop_rate = statistics.median(r.rate for r in rounds["noop"])
        producer_rate = statistics.median(r.rate for r in rounds["producer"])
        noop_cpu = statistics.median(r.cpu_us_per_request for r in rounds["noop"])
        producer_cpu = statistics.median(r.cpu_us_per_request for r in rounds["producer"])
        results["summary"] = {
            "noop_rps_median": round(noop_rate),
            "producer_votes_per_s_median": round(producer_rate),
            "producer_vs_noop_rate": round(producer_rate / noop_rate, 3),
            "producer_p50_ms_median": statistics.median(r.p50_ms for r in rounds["producer"]),
            "producer_p99_ms_median": statistics.median(r.p99_ms for r in rounds["producer"]),
            "noop_cpu_us_per_request": round(noop_cpu, 1),
            "producer_cpu_us_per_vote": round(producer_cpu, 1),
            "producer_vs_noop_cpu": round(noop_cpu / producer_cpu, 3),
            "producer_errors": sum(r.errors for r in rounds["producer"]) + light.errors,
            "light_load": asdict(light),
            "rss_mb_after_load": round(rss, 1),
            "rss_mb_peak": round(peak, 1),
            "noop_rss_mb": round(noop_rss, 1),
        }
    finally:
        with contextlib.suppress(Exception):
            admin.delete_topics([topic])
        admin.close()
    command = benchkit.command_line("load/bench_producer_wasm.py", parser, args)
    figures = _figures(results, args, command)
    notes = _notes(results, args, seconds)
    sections = {
        f"Rounds ({seconds} s each, {args.connections} connections; where the time goes: "
        "server CPU per request)": _rounds_table(results["rounds"]),
    }
    title = "producer-wasm beside a no-op endpoint on the same HTTP stack (real Kafka)"
    benchkit.publish(args, title, figures, notes, sections)
    return 0


def _figures(
    results: dict[str, Any], args: argparse.Namespace, command: str
) -> list[benchkit.Figure]:
    k = results["kernel"]
    s = results["summary"]
    light = s["light_load"]
    startup = results["startup_s"]["median"]

    def figure(key: str, name: str, value: float, unit: str, **extra: Any) -> benchkit.Figure:
        full = f"producer_wasm.{key}"
        return benchkit.figure(full, name, value, unit, command=command, **extra)

    return [
        figure("votes_per_s", f"POST /votes votes/s, {args.connections} connections (median)",
               s["producer_votes_per_s_median"], "votes/s"),
        figure("noop_requests_per_s", "no-op endpoint requests/s, same stack and load",
               s["noop_rps_median"], "requests/s"),
        figure("vs_noop", "producer-wasm / no-op requests/s", s["producer_vs_noop_rate"],
               "ratio", goal=">= 0.70", met=s["producer_vs_noop_rate"] >= 0.70),
        figure("server_cpu_us_per_vote", "server CPU per vote", s["producer_cpu_us_per_vote"],
               "µs", note=f"no-op {s['noop_cpu_us_per_request']} µs a request; ratio "
               f"{s['producer_vs_noop_cpu']:.0%}"),
        figure("p50_ms", "latency p50 at saturation", round(s["producer_p50_ms_median"], 2),
               "ms"),
        figure("p99_ms", "latency p99 at saturation", round(s["producer_p99_ms_median"], 2),
               "ms"),
        figure("light_p50_ms", f"latency p50 at a light load ({args.light} connections, "
               f"{light['rate']:.0f} votes/s)", round(light["p50_ms"], 2), "ms"),
        figure("light_p99_ms", f"latency p99 at a light load ({args.light} connections)",
               round(light["p99_ms"], 2), "ms"),
        figure("kernel_us", "kernel cost per vote from Python (fast path, best round)",
               k["kernel_fast_us"], "µs", goal="<= 20", met=k["kernel_fast_us"] <= 20,
               note=f"median {k['kernel_fast_median_us']}; with the Ballot "
               f"{k['kernel_fast_to_ballot_us']} µs"),
        figure("kernel_plain_wasmtime_us", "kernel, plain wasmtime-py call path",
               k["kernel_plain_wasmtime_us"], "µs", note="reference"),
        figure("python_contract_us", "Python contract parse_ballot", k["python_contract_us"],
               "µs", note="reference"),
        figure("startup_s", "start-up: exec to /readyz 200 (median)", startup, "s",
               goal="<= 1.5", met=startup <= 1.5, note=f"CPU {results['startup_cpu_s']} s"),
        figure("rss_mb", "resident memory, peak (VmHWM)", s["rss_mb_peak"], "MB",
               goal="<= 150", met=s["rss_mb_peak"] <= 150,
               note=f"{s['rss_mb_after_load']} MB after the load; no-op {s['noop_rss_mb']} MB"),
        figure("errors", "producer errors (non-2xx, socket)", s["producer_errors"], "requests",
               goal="= 0", met=s["producer_errors"] == 0),
    ]  # fmt: skip


def _notes(results: dict[str, Any], args: argparse.Namespace, seconds: int) -> list[str]:
    k = results["kernel"]
    return [
        f"Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"shared with other work: load average at start {results['load_average_at_start'][0]:.2f}.",
        f"Load generator: `wrk`, one thread, keep-alive, closed loop, {seconds} s runs, "
        "alternating no-op / producer rounds; figures are medians over the rounds.",
        "Stack: uvicorn + uvloop + httptools, plain ASGI, one process; the no-op reads the "
        "body and answers a fixed 202.",
        f"Kafka: the local broker, acks=all, idempotent producer, topic `{results['topic']}` "
        "(6 partitions, deleted after). Broker CPU per request: the broker's whole CPU "
        "during the round (other traffic it serves included), per request of the round.",
        f"Start-up runs: {results['startup_s']['runs']} s. Kernel fuel per typical ballot: "
        f"{k['kernel_fuel_per_ballot']} units.",
    ]


def _rounds_table(rounds: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "| server | round | req/s | p50 ms | p99 ms | server CPU µs/req | broker CPU µs/req "
        "| errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {name} | {i + 1} | {r['rate']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
        f"{r['cpu_us_per_request']:.1f} | {_broker(r)} | {r['errors']} |"
        for name, runs in rounds.items()
        for i, r in enumerate(runs)
    ]
    return "\n".join(lines)


def _broker(run: dict[str, Any]) -> str:
    value = run.get("broker_cpu_us_per_request")
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())

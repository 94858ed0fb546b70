"""What the local stack runs, in start order: each part's address, readiness, log and command.

Infrastructure first (Kafka, Redis, the MongoDB-protocol server), then
Certamen's own processes, each a ``certamen <subcommand>`` with ``PORT`` and the
servers' addresses set explicitly in its environment.

The counting side's own processes (the source, the consumer, the app) run at a lower
CPU priority (``CERTAMEN_COUNTING_NICE``) than the ingress (the producers and Kafka):
on a small machine a burst then goes to the producers at their full speed and the
counting lags behind in Kafka, then catches up. Redis and FerretDB keep the normal
priority: they only work when asked, so the niced consumer already paces them, and a
starved store would time the consumer's writes out (503s, then dead letters) instead
of letting it lag.

Every part runs under Linux's batch scheduling policy (``CERTAMEN_SCHED_POLICY``,
``batch`` by default): a process woken by a message does not preempt the one running,
it waits for that one to block or for its slice to end. A vote crosses six processes
and, in producer-grpc, three threads; on this kind of virtual machine a context switch
is the dear part, and the normal policy switched at nearly every hand-off. Side by side,
batch cut the switches a vote from 14.4 to 8.2 on the gRPC route and the CPU a vote by a
sixth (HTTP: 3.7 to 2.1, a thirteenth), and the fastest connection-per-vote gRPC burst
rose by a sixth (load/results/cost-per-vote.md, 2026-12-07 night). The nice steps above
still hold: batch tasks share the CPU by niceness as normal ones do.

With ``CERTAMEN_INGRESS_CPUS`` set (off by default) the producers also get CPUs of
their own and every other part runs on the rest: each vote's hand-offs between threads
then stay on one CPU, which costs less than a wake-up on the other on a virtual machine,
but a producer can then use no more than its own CPUs in a burst
(load/results/cost-per-vote.md, 2026-12-06 night, has both sides).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from certamen.operations.stack import builds, kafka_node, probes, tools
from certamen.operations.stack.errors import StackError
from certamen.settings import Settings, child_environment

# The servers the system stores and queues votes in; Certamen's own processes come after.
SERVERS = ("kafka", "redis", "mongodb")


@dataclass(frozen=True, slots=True)
class Launch:
    """How to run a part: the command, its environment, working folder and niceness."""

    command: list[str]
    env: dict[str, str]
    cwd: Path
    nice: int = 0  # added to the CPU niceness: the counting side yields to the ingress


@dataclass(frozen=True, slots=True)
class Part:
    """One process of the local stack."""

    name: str
    address: str
    ports: tuple[int, ...]  # must be free before we start it
    ready: probes.Probe
    timeout_s: float
    launch: Callable[[Console], Launch] = field(repr=False)
    needs: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    external_var: str | None = None  # set in the environment: use that server, never start one
    module: str | None = None  # the Python module an app part runs
    ingress: bool = False  # a producer: runs on the CPUs kept for the ingress


def state_dir(settings: Settings) -> Path:
    """The state folder, absolute: processes may run elsewhere."""
    return settings.state_dir.resolve()


def log_path(settings: Settings, name: str) -> Path:
    """Where a part's output goes."""
    return state_dir(settings) / "logs" / f"{name}.log"


def pid_path(settings: Settings, name: str) -> Path:
    """Where ``up`` records the process of a part it started."""
    return state_dir(settings) / "run" / f"{name}.pid"


def cpu_split(settings: Settings) -> tuple[frozenset[int], frozenset[int]]:
    """The producers' CPUs (the first ``ingress_cpus`` of those we may use) and everyone
    else's (the rest); both empty, any CPU for anyone, when the machine is not split."""
    usable = sorted(os.sched_getaffinity(0))
    kept = settings.ingress_cpus
    if not 0 < kept < len(usable):
        return frozenset(), frozenset()
    return frozenset(usable[:kept]), frozenset(usable[kept:])


def cpus(settings: Settings, part: Part) -> frozenset[int]:
    """The CPUs a part may run on (any when empty)."""
    ingress, rest = cpu_split(settings)
    return ingress if part.ingress else rest


def is_external(settings: Settings, part: Part) -> bool:
    """The user pointed us at an existing server for this part."""
    return part.external_var is not None and part.external_var in settings.external


def all_parts(settings: Settings) -> list[Part]:
    """Every part, in start order."""
    p = settings.ports
    local = "127.0.0.1"
    return [
        Part(
            "kafka",
            settings.kafka_bootstrap_servers,
            (p.kafka, p.kafka_controller),
            probes.kafka(settings.kafka_bootstrap_servers),
            timeout_s=180.0,
            tools=("java", "mvn"),
            external_var="KAFKA_BOOTSTRAP_SERVERS",
            launch=lambda out: _kafka(settings, out),
        ),
        Part(
            "redis",
            settings.redis_url_redacted,
            (p.redis,),
            probes.redis(settings.redis_url),
            timeout_s=30.0,
            tools=("redis-server",),
            external_var="REDIS_URL",
            launch=lambda out: _redis(settings, out),
        ),
        Part(
            "mongodb",
            settings.mongodb_uri_redacted,
            (p.mongodb,),
            probes.mongodb(settings.mongodb_uri),
            timeout_s=60.0,
            tools=("go",),
            external_var="MONGODB_URI",
            launch=lambda out: _ferretdb(settings, out),
        ),
        _app(settings, "consumer", p.consumer, probes.tcp(local, p.consumer),
             needs=("redis", "mongodb"), module="certamen.consumer.serve",
             address=f"{local}:{p.consumer} (metrics :{p.consumer_metrics})",
             also_ports=(p.consumer_metrics,), nice=settings.counting_nice),
        _app(settings, "source", p.source_metrics,
             probes.http_ok(f"http://{local}:{p.source_metrics}/metrics"),
             needs=("kafka", "consumer"), module="certamen.source.runner",
             address=f"{settings.source.sink} (metrics :{p.source_metrics})",
             nice=settings.counting_nice),
        _app(settings, "producer-grpc", p.producer_grpc, probes.tcp(local, p.producer_grpc),
             needs=("kafka",), module="certamen.producers.grpc.server",
             also_ports=(p.producer_grpc_metrics,), ingress=True),
        _app(settings, "producer-wasm", p.producer_wasm,
             probes.http_ok(f"http://{local}:{p.producer_wasm}/readyz"),
             needs=("kafka",), module="certamen.producers.wasm.server",
             address=f"http://{local}:{p.producer_wasm} (metrics :{p.producer_wasm_metrics})",
             also_ports=(p.producer_wasm_metrics,), ingress=True),
        _app(settings, "streamlit", p.streamlit,
             probes.http_ok(f"http://{local}:{p.streamlit}/_stcore/health"),
             needs=("redis", "mongodb"), module="certamen.results.webapp",
             address=f"http://{local}:{p.streamlit}", nice=settings.counting_nice),
    ]  # fmt: skip


def named(parts: list[Part], names: Iterable[str]) -> list[Part]:
    """Only the named parts, in start order; no names means all."""
    wanted = set(names)
    unknown = sorted(wanted - {part.name for part in parts})
    if unknown:
        known = ", ".join(part.name for part in parts)
        raise StackError(f"unknown part(s) {', '.join(unknown)}; parts: {known}")
    return [part for part in parts if not wanted or part.name in wanted]


def select(parts: list[Part], names: Iterable[str]) -> list[Part]:
    """The named parts and everything they need, in start order; no names means all."""
    by_name = {part.name: part for part in parts}
    chosen: set[str] = set()

    def add(name: str) -> None:
        if name not in chosen:
            chosen.add(name)
            for need in by_name[name].needs:
                add(need)

    for part in named(parts, names):
        add(part.name)
    return [part for part in parts if part.name in chosen]


def _app(
    settings: Settings,
    name: str,
    port: int,
    ready: probes.Probe,
    *,
    needs: tuple[str, ...],
    module: str,
    address: str | None = None,
    also_ports: tuple[int, ...] = (),
    nice: int = 0,
    ingress: bool = False,
) -> Part:
    def launch(_: Console) -> Launch:
        env = child_environment(
            {
                "PORT": str(port),
                "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
                "REDIS_URL": settings.redis_url,
                "MONGODB_URI": settings.mongodb_uri,
                "K_SINK": settings.source.sink,
                "CERTAMEN_STATE_DIR": str(state_dir(settings)),
                "PYTHONUNBUFFERED": "1",
            }
        )
        command = [sys.executable, "-m", "certamen.operations.cli", name]
        return Launch(command, env, Path.cwd(), nice)

    return Part(
        name,
        address or f"127.0.0.1:{port}",
        (port, *also_ports),
        ready,
        timeout_s=90.0,
        needs=needs,
        module=module,
        launch=launch,
        ingress=ingress,
    )


def _kafka(settings: Settings, out: Console) -> Launch:
    found = tools.ensure(["java", "mvn"], out)
    libs = builds.kafka_libs(settings, found["mvn"], out)
    command = kafka_node.prepare(settings, found["java"], libs)
    return Launch(command, child_environment({}), kafka_node.kafka_home(settings))


# Redis persists through its append-only file alone (``--save ""``): written every
# second, loaded at start, rewritten whenever it has doubled. Periodic RDB snapshots on
# top of it were never read back (Redis loads the AOF when it has one), and each one
# serialises the whole data set, which grows with every vote's 31-day marker: at two
# million votes one cost about 3 s of CPU, once a minute while votes arrived
# (load/results/redis-persistence.md).
def _redis(settings: Settings, out: Console) -> Launch:
    found = tools.ensure(["redis-server"], out)
    data = state_dir(settings) / "redis"
    data.mkdir(parents=True, exist_ok=True)
    command = [
        str(found["redis-server"]),
        "--bind", "127.0.0.1",
        "--port", str(settings.ports.redis),
        "--dir", str(data),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",  # no RDB snapshots (above)
        "--daemonize", "no",
        "--protected-mode", "yes",
        "--logfile", "",
    ]  # fmt: skip
    return Launch(command, child_environment({}), data)


# FerretDB's Go runtime. GOGC=400 (collect when the heap has grown 4x, not 2x)
# spends memory to save the CPU FerretDB burns collecting, per inserted and per audited
# vote (load/results/audit.md has the figures). GOMEMLIMIT bounds the larger heap for
# any query that holds many documents at once: a $group over a million votes, as the
# audit ran until 2026-12-07 (it now streams the log), grew it to 9 GB with GOGC=400 alone.
# GOMAXPROCS=1: one Go thread runs FerretDB's code at a time. With one per CPU, Go's
# scheduler woke an idle thread for nearly every goroutine made runnable: 6.9 context
# switches an inserted vote, 1.7 with one, and 0.076 -> 0.067 ms of CPU a vote side by
# side; the consumer's rate and the streamed audit did not move (cost-per-vote.md,
# 2026-12-07 night).
_FERRETDB_GO = {"GOGC": "400", "GOMEMLIMIT": "4GiB", "GOMAXPROCS": "1"}


def _ferretdb(settings: Settings, out: Console) -> Launch:
    found = tools.ensure(["go"], out)
    binary = builds.ferretdb_binary(settings, found["go"], out)
    data = state_dir(settings) / "mongodb"
    command = [
        str(binary),
        f"--listen-addr=127.0.0.1:{settings.ports.mongodb}",
        f"--data-dir={data}",
    ]
    return Launch(command, child_environment(_FERRETDB_GO), state_dir(settings))

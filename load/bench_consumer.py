"""Consumer benchmark: the function's events/s beside a no-op function, and Kafka to counted.

1. side by side, in one run: ``wrk`` posts binary-mode vote CloudEvents (each with its
   own id) to the consumer (real MongoDB insert + Redis script per event) and to a
   no-op ``@functions_framework.aio.cloud_event`` function: both CloudEvent functions
   on the same ``functions-framework --asgi --signature-type=cloudevent`` command line
   and WORKERS, alternating rounds; afterwards the consumer's counts (its ``/metrics``, on
   a port of its own) must equal Redis's and MongoDB's exactly, and the 2xx answers wrk
   read fall short only by the requests in flight when a round ended; one round of a
   no-op ``@functions_framework.aio.http`` function (HTTP serving alone, no CloudEvent
   parsing) is shown for information;
2. where the rest of the time goes: server CPU per event, and a py-spy profile of the
   consumer's worker during a round;
3. concurrency: the consumer with 10, 25 and 100 requests in flight beside the 50 of
   the rounds (the local source's window): what Knative's containerConcurrency and
   target are set from;
4. Kafka -> counted: a backlog of votes on a fresh topic drained by ``certamen source``
   and ``certamen consumer`` (votes/s), then votes produced at half that rate with
   ``received_at`` = now: the delay to the vote's ``processed_at`` in MongoDB, p50/p99.

Everything runs on free ports of 127.0.0.1 against the configured Kafka, MongoDB (a
database of its own, dropped at the end) and Redis (database ``--redis-db``,
flushed: never the stack's live database).

    python load/bench_consumer.py --json out.json [--quick] [--markdown load/results/consumer.md]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit
import redis
from pymongo import MongoClient

from certamen.adapters import redis_keys as keys
from certamen.adapters.kafka import make_producer, send_message
from certamen.consumer import serve
from certamen.consumer.startup import open_stores
from certamen.contract import Vote, format_timestamp, new_vote_id, vote_to_kafka
from certamen.settings import Settings, child_environment, load, with_redis_db

BANDS = (
    ("Bohemia Suburbana", "Mis palabras", 1997),
    ("Alux Nahual", "Leyenda", 1989),
    ("Viernes Verde", "Entre la Basura", 2001),
    ("Malacates Trébol Shop", "Niño", 2000),
)
FLOOR = '''"""Reads the request and answers 200: HTTP serving alone."""
import functions_framework.aio
from starlette.responses import Response


@functions_framework.aio.http
async def noop(request):
    await request.body()
    return Response(b"OK")
'''
NOOP = '''"""A CloudEvent function that does nothing: the consumer benchmark's baseline."""
import functions_framework.aio


@functions_framework.aio.cloud_event
async def noop(event):
    pass
'''
CONCURRENCY = (10, 25, 100)
WRK_LUA = r"""
local counter = 0
local bands = @BANDS@
request = function()
  counter = counter + 1
  local id = "@RUN@-" .. counter
  local b = bands[(counter % #bands) + 1]
  local channel = (counter % 2 == 0) and "grpc" or "wasm"
  local body = string.format(
    '{"vote_id":"%s","name":"%s","album":"%s","year":%d,"rank":%d.5,"channel":"%s",' ..
    '"received_at":"2026-11-26T17:00:00.000Z"}', id, b[1], b[2], b[3], counter % 100, channel)
  local headers = {}
  headers["ce-specversion"] = "1.0"
  headers["ce-id"] = id
  headers["ce-type"] = "gt.certamen.vote.cast.v1"
  headers["ce-source"] = "/producers/" .. channel
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/", headers, body)
end
"""


@dataclass(frozen=True, slots=True)
class Round:
    """One wrk run against one server."""

    server: str
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float  # server CPU per request


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    base = load()
    run_id = uuid.uuid4().hex[:8]
    settings = replace(
        base,
        redis_url=with_redis_db(base.redis_url, args.redis_db),
        mongodb_database=f"certamen_bench_{run_id}",
        votes_topic=f"bench-votes-{run_id}",
        dlq_topic=f"bench-votes-dlq-{run_id}",
        source=replace(base.source, consumer_group=f"bench-{run_id}"),
        catalog_path=None,
    )
    seconds = 4 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    work = Path(tempfile.mkdtemp(prefix="bench-consumer-"))
    store = redis.Redis.from_url(settings.redis_url)
    store.flushdb()
    try:
        side = side_by_side(settings, work, run_id, seconds, rounds, args.connections, store)
        sweep = concurrency_sweep(settings, work, seconds)
        pipeline = kafka_to_counted(settings, work, 2_000 if args.quick else args.backlog, store,
                                    15 if args.quick else args.paced_seconds)  # fmt: skip
    finally:
        store.flushdb()
        store.close()
        with MongoClient(settings.mongodb_uri) as client:
            client.drop_database(settings.mongodb_database)
        benchkit.drop_topics(settings)
    command = benchkit.command_line("load/bench_consumer.py", parser, args)
    figures, notes, sections = report(settings, args, side, sweep, pipeline, seconds, command)
    benchkit.publish(args, "consumer function and local KafkaSource", figures, notes, sections)
    return 0


# -- 1. side by side -----------------------------------------------------------------------


def side_by_side(
    settings: Settings,
    work: Path,
    run_id: str,
    seconds: int,
    rounds: int,
    connections: int,
    store: redis.Redis,
) -> dict[str, Any]:
    """Alternate wrk rounds on the no-op and the consumer; profile the consumer's last round."""
    open_stores(settings, prepare=True).close()
    noop_file, floor_file = work / "noop.py", work / "floor.py"
    noop_file.write_text(NOOP, encoding="utf-8")
    floor_file.write_text(FLOOR, encoding="utf-8")
    noop_port, floor_port, consumer_port = (benchkit.free_port() for _ in range(3))
    metrics_port = benchkit.free_port()
    results: list[Round] = []
    profile = ""
    with (
        _server(_noop_command(noop_file, noop_port, "cloudevent"), settings,
                work / "noop.log") as noop,
        _server(_noop_command(floor_file, floor_port, "http"), settings,
                work / "floor.log") as floor,
        _server(_consumer_command(settings, consumer_port), settings, work / "c.log",
                _metrics_env(metrics_port)) as consumer,
    ):  # fmt: skip
        _wait_consumer(consumer_port, metrics_port, consumer)
        benchkit.wait_port(noop_port, noop)
        benchkit.wait_port(floor_port, floor)
        results.append(_wrk("no-op aio.http (serving alone)", floor_port, floor.pid,
                            f"{run_id}f", seconds, connections, work))  # fmt: skip
        for n in range(rounds):
            results.append(_wrk("no-op", noop_port, noop.pid, f"{run_id}n{n}", seconds,
                                connections, work))  # fmt: skip
            last = n == rounds - 1
            profiler = _Profile(consumer.pid, seconds - 1) if last else None
            results.append(_wrk("consumer", consumer_port, consumer.pid, f"{run_id}c{n}",
                                seconds, connections, work))  # fmt: skip
            if profiler is not None:
                profile = profiler.result()
        answered = sum(r.requests - r.errors for r in results if r.server == "consumer")
        metrics = _settled_metrics(metrics_port)
    counted = int(store.get("votes:total") or 0)
    with MongoClient(settings.mongodb_uri) as client:
        documents = client[settings.mongodb_database]["votes"].count_documents({})
    return {
        "rounds": results,
        "metrics": metrics,
        "answered": answered,
        "counted": counted,
        "documents": documents,
        "profile": profile,
    }


def concurrency_sweep(settings: Settings, work: Path, seconds: int) -> dict[int, Round]:
    """The consumer with other numbers of requests in flight (wrk connections)."""
    found: dict[int, Round] = {}
    port, metrics_port = benchkit.free_port(), benchkit.free_port()
    with _server(_consumer_command(settings, port), settings, work / "sweep.log",
                 _metrics_env(metrics_port)) as consumer:  # fmt: skip
        _wait_consumer(port, metrics_port, consumer)
        for connections in CONCURRENCY:
            run_id = f"s{connections}{uuid.uuid4().hex[:6]}"
            found[connections] = _wrk(f"consumer, {connections} in flight", port, consumer.pid,
                                      run_id, seconds, connections, work)  # fmt: skip
    return found


# -- 4. Kafka to counted -------------------------------------------------------------------


def kafka_to_counted(
    settings: Settings, work: Path, backlog: int, store: redis.Redis, paced_seconds: int
) -> dict[str, Any]:
    """Drain a backlog (saturation), then feed at half that rate and measure the delay."""
    store.flushdb()
    producer = make_producer(settings)
    benchkit.fill_topic(settings, producer, [_vote(datetime.now(UTC)) for _ in range(backlog)])
    consumer_port, status_port, metrics_port = (benchkit.free_port() for _ in range(3))
    sink = f"http://127.0.0.1:{consumer_port}"
    source_env = {"K_SINK": sink, "CERTAMEN_SOURCE_METRICS_PORT": str(status_port)}
    source_command = [sys.executable, "-m", "certamen.operations.cli", "source"]
    with (
        _server(_consumer_command(settings, consumer_port), settings, work / "pc.log",
                _metrics_env(metrics_port)) as c,
    ):  # fmt: skip
        _wait_consumer(consumer_port, metrics_port, c)
        idle_consumer = benchkit.cpu_seconds({"consumer": c.pid})["consumer"]  # its start-up
        started = time.monotonic()
        with _server(source_command, settings, work / "ps.log", source_env) as s:
            _wait_counted(store, backlog, 600 if backlog > 2_000 else 120)
            drained_s = time.monotonic() - started
            saturation = backlog / drained_s
            cpu_source = benchkit.cpu_seconds({"source": s.pid})["source"]
            cpu_consumer = benchkit.cpu_seconds({"consumer": c.pid})["consumer"] - idle_consumer
            paced_rate = saturation / 2
            paced_from = format_timestamp(datetime.now(UTC))
            sent = _paced(settings, producer, paced_rate, paced_seconds)
            _wait_counted(store, backlog + sent, 300 if backlog > 2_000 else 120)
    producer.close()
    delays = _delays(settings, since=paced_from)
    return {
        "backlog": backlog,
        "drain_s": drained_s,
        "saturation": saturation,
        "cpu_ms_per_vote": {
            "source": 1000 * cpu_source / backlog,
            "consumer": 1000 * cpu_consumer / backlog,
        },
        "paced_rate": paced_rate,
        "paced_sent": sent,
        "delay_p50_ms": _percentile(delays, 50),
        "delay_p99_ms": _percentile(delays, 99),
        "counted": int(store.get("votes:total") or 0),
    }


def _paced(settings: Settings, producer: Any, rate: float, seconds: int) -> int:
    """Send votes at ``rate`` per second for ``seconds``, stamped with the time they leave."""
    sent, started = 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            send_message(producer, settings.votes_topic, vote_to_kafka(_vote(datetime.now(UTC))))
            sent += 1
        time.sleep(0.005)
    producer.flush()
    return sent


def _delays(settings: Settings, *, since: str) -> list[float]:
    """``processed_at - received_at`` (ms) of the paced votes: those received ``since``."""
    with MongoClient(settings.mongodb_uri) as client:
        documents = client[settings.mongodb_database]["votes"].find(
            {"received_at": {"$gte": since}}, {"received_at": 1, "processed_at": 1}
        )
        pairs = sorted(
            (
                datetime.strptime(d["received_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
                d["processed_at"].replace(tzinfo=UTC),
            )
            for d in documents
        )
    return [(done - received).total_seconds() * 1000 for received, done in pairs]


def _vote(now: datetime) -> Vote:
    band, album, year = random.choice(BANDS)
    return Vote(new_vote_id(), band, album, year, random.randint(0, 10000) / 100,
                random.choice(("grpc", "wasm")), format_timestamp(now))  # fmt: skip


# -- reporting -------------------------------------------------------------------------------


def report(
    settings: Settings,
    args: argparse.Namespace,
    side: dict[str, Any],
    sweep: dict[int, Round],
    pipeline: dict[str, Any],
    seconds: int,
    command: str,
) -> tuple[list[benchkit.Figure], list[str], dict[str, str]]:
    rounds: list[Round] = side["rounds"]
    consumer = [r for r in rounds if r.server == "consumer"]
    noop = [r for r in rounds if r.server == "no-op"]
    floor = [r for r in rounds if r.server == "no-op aio.http (serving alone)"]
    rate = statistics.median(r.rate for r in consumer)
    base = statistics.median(r.rate for r in noop)
    cpu = statistics.median(r.cpu_us for r in consumer)
    cpu_noop = statistics.median(r.cpu_us for r in noop)
    metrics = side["metrics"]
    # Exact: what the consumer answered as counted = Redis = MongoDB, with ==. wrk's own
    # count of 2xx answers is short by the requests in flight when a round's clock stopped
    # (wrk closes those connections without reading the answers); that gap is shown, and
    # can be at most one request per connection per consumer round.
    exact = metrics["counted"] == side["counted"] == side["documents"]
    unread = side["counted"] - side["answered"]
    unread_bound = args.connections * len(consumer)

    def figure(key: str, name: str, value: float, unit: str, **extra: Any) -> benchkit.Figure:
        return benchkit.figure(f"consumer.{key}", name, value, unit, command=command, **extra)

    figures = [
        figure("events_per_s", "consumer events/s (MongoDB + Redis writes)",
               round(rate), "events/s"),
        figure("noop_events_per_s", "no-op CloudEvent function (aio), same serving",
               round(base), "events/s"),
        figure("vs_noop", "consumer / no-op events/s", round(rate / base, 3),
               "ratio", goal=">= 0.70", met=rate / base >= 0.70),
        figure("server_cpu_us", "consumer server CPU per event", round(cpu),
               "µs", note=f"no-op: {cpu_noop:.0f} µs"),
        figure("floor_cpu_us", "no-op aio.http (HTTP serving alone) CPU per request",
               round(floor[0].cpu_us), "µs"),
        figure("p99_ms", "consumer p99 at saturation",
               round(statistics.median(r.p99_ms for r in consumer), 1), "ms"),
        figure("exact", "answered as counted (consumer) = counted (Redis) = documents (MongoDB)",
               int(exact), "bool", goal="1", met=exact),
        figure("unread_answers", "2xx answers wrk did not read (in flight when a round ended)",
               unread, "answers", goal=f"0 to {unread_bound}", met=0 <= unread <= unread_bound),
        figure("kafka_to_counted_votes_per_s",
               "Kafka -> source -> consumer -> counted (a backlog drained)",
               round(pipeline["saturation"]), "votes/s"),
        figure("delay_p50_ms", "received_at -> processed_at p50 at 50% rate",
               round(pipeline["delay_p50_ms"], 1), "ms"),
        figure("delay_p99_ms", "received_at -> processed_at p99 at 50% rate",
               round(pipeline["delay_p99_ms"], 1), "ms"),
    ]  # fmt: skip
    load1, load5, _ = os.getloadavg()
    notes = [
        f"Machine: {os.cpu_count()} cores shared with other work; load average {load1:.1f} "
        f"(5 min {load5:.1f}) at the end. Load generator: wrk, 1 thread, "
        f"{args.connections} keep-alive connections, {seconds} s rounds, alternating no-op "
        "and consumer.",
        "Serving: functions-framework --asgi (gunicorn, uvicorn worker, uvloop, httptools), "
        f"WORKERS={serve.WORKERS}, the same command line for the consumer and the no-op: "
        "both @functions_framework.aio.cloud_event functions (--signature-type=cloudevent). "
        "The aio.http no-op round (HTTP serving without CloudEvent parsing) is information "
        "only.",
        f"Stores: MongoDB {settings.mongodb_uri_redacted} (database of its own), Redis "
        f"{settings.redis_url_redacted}. Every request carries a new vote id.",
        f"Counted: the consumer reports {metrics['counted']:.0f} counted and "
        f"{metrics['duplicate']:.0f} duplicates; Redis total {side['counted']}, "
        f"{side['documents']} documents; wrk read {side['answered']} 2xx answers, {unread} "
        f"fewer: at the end of each consumer round ({len(consumer)} in all) wrk closes its "
        f"{args.connections} connections without reading the answers in flight, which the "
        "consumer still counts and stores (every one of them was a new vote: counted once). "
        f"Mean group-commit batch: {metrics['batch_mean']:.1f} votes.",
        f"Kafka -> counted: {pipeline['backlog']} votes drained in {pipeline['drain_s']:.1f} s; "
        f"CPU per vote: source {pipeline['cpu_ms_per_vote']['source']:.2f} ms (its start-up "
        f"included), consumer {pipeline['cpu_ms_per_vote']['consumer']:.2f} ms (once ready); "
        f"then {pipeline['paced_sent']} votes "
        f"at {pipeline['paced_rate']:.0f}/s (half) for the delay.",
        f"CPU: the consumer costs {cpu:.0f} µs per event, {cpu / cpu_noop:.1f} times the "
        f"no-op CloudEvent function's {cpu_noop:.0f} µs (the same serving and CloudEvent "
        f"parsing; HTTP serving alone, an aio.http no-op: {floor[0].cpu_us:.0f} µs). The "
        "rest is the vote checks, the "
        "documents, one insert_many and one Redis pipeline per batch and the hand-over to "
        "the writer thread (profile below).",
        "Why not 0.70: the consumer waits for the stores, not for its CPU "
        f"({rate * cpu / 1e6:.0%} of a core at {rate:.0f} events/s): one batch at a time on "
        f"one writer thread, {metrics['batch_mean']:.0f} votes per batch, so "
        f"{1000 * metrics['batch_mean'] / rate:.0f} ms per batch (insert_many into FerretDB, "
        "then the Redis pipeline) sets the rate, while the no-op answers as fast as its CPU "
        "allows.",
        "Concurrency: "
        + ", ".join(f"{n} in flight {r.rate:.0f}/s p99 {r.p99_ms:.0f} ms"
                    for n, r in sorted(sweep.items()))
        + f"; {args.connections} in flight in the rounds above. More requests in flight make "
        "bigger batches, so fewer store round trips per vote.",
    ]  # fmt: skip
    table = ["| server | req/s | p50 ms | p99 ms | server CPU µs/req | errors |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in [*rounds, *sweep.values()]:
        table.append(f"| {r.server} | {r.rate:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
                     f"{r.cpu_us:.0f} | {r.errors} |")  # fmt: skip
    sections = {
        "Rounds": "\n".join(table),
        "Where the consumer's time goes (py-spy, GIL-holding samples of its worker)": side[
            "profile"
        ],
    }
    return figures, notes, sections


# -- plumbing --------------------------------------------------------------------------------


class _Profile:
    """py-spy on the consumer while a round runs: the hottest functions, and where the
    samples fall by stage (each sample counted once, in the first stage that matches)."""

    STAGES = (
        ("MongoDB insert_many (PyMongo, writer thread)", "VoteLog.insert_votes ("),
        ("Redis EVALSHA pipeline (redis-py, writer thread)", "TallyWriter.count_votes ("),
        ("vote checks (contract: parse and validate)", "Handler.judge ("),
        ("documents of a batch (writer thread)", "Handler.commit ("),
        ("group commit: batches, hand-over, wake-up", "GroupCommit."),
        ("rest of our function (metrics, outcome)", "count_vote ("),
        ("CloudEvent parsing (the SDK's from_http)", "from_http ("),
        ("HTTP serving (uvicorn, Starlette, functions-framework)", "run_asgi ("),
        ("HTTP parsing (uvicorn's httptools protocol)", "HttpToolsProtocol."),
    )

    def __init__(self, pid: int, seconds: float) -> None:
        self._text = ""
        self._thread = threading.Thread(target=self._run, args=(pid, seconds))
        self._thread.start()

    def _run(self, pid: int, seconds: float) -> None:
        spy = benchkit.py_spy()
        if spy is None:
            self._text = "py-spy is not installed (`pip install py-spy`): no profile."
            return
        time.sleep(0.5)
        with tempfile.TemporaryDirectory() as folder:
            raw = Path(folder) / "raw.txt"
            subprocess.run(
                [spy, "record", "--pid", str(pid), "--duration", str(round(seconds)),
                 "--rate", "200", "--format", "raw", "--output", str(raw), "--subprocesses",
                 "--nonblocking", "--gil"],
                capture_output=True, check=False,
            )  # fmt: skip
            samples = raw.read_text(encoding="utf-8", errors="replace") if raw.exists() else ""
        self._text = self.stages(samples)

    @classmethod
    def stages(cls, samples: str) -> str:
        counts = {name: 0 for name, _ in cls.STAGES} | {"other (library threads, idle loops)": 0}
        total = 0
        for line in samples.splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            total += int(count)
            name = next((n for n, frame in cls.STAGES if frame in stack), None)
            counts[name or "other (library threads, idle loops)"] += int(count)
        if not total:
            return "py-spy took no samples (is it installed? `pip install py-spy`)."
        rows = ["| stage | share of GIL-holding samples |", "| --- | ---: |"]
        rows += [f"| {name} | {100 * n / total:.1f} % |" for name, n in counts.items()]
        return "\n".join([*rows, "", f"{total} samples at 200 Hz."])

    def result(self) -> str:
        self._thread.join()
        return self._text


def _metrics(port: int) -> dict[str, float]:
    """The consumer's counters from its ``/metrics`` (on its metrics port)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()

    def value(name: str) -> float:
        found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    batches = value("certamen_consumer_batch_votes_count")
    return {
        "counted": value('certamen_consumer_events_total{outcome="counted"}'),
        "duplicate": value('certamen_consumer_events_total{outcome="duplicate"}'),
        "batch_mean": value("certamen_consumer_batch_votes_sum") / batches if batches else 0.0,
    }


def _settled_metrics(port: int) -> dict[str, float]:
    """The counters once the requests still in flight when wrk stopped are done."""
    metrics = _metrics(port)
    for _ in range(50):
        time.sleep(0.2)
        again = _metrics(port)
        if again == metrics:
            return metrics
        metrics = again
    return metrics


def _noop_command(source: Path, port: int, signature: str) -> list[str]:
    """The consumer's command line (serve.command), with the no-op's target and source."""
    consumer = serve.command(replace(load(), port=port, bind_host="127.0.0.1"))
    fixed = {"--target": "--target=noop", "--source": f"--source={source}",
             "--signature-type": f"--signature-type={signature}"}  # fmt: skip
    return [fixed.get(arg.split("=")[0], arg) for arg in consumer]


def _metrics_env(port: int) -> dict[str, str]:
    """Where the consumer serves its ``/metrics`` (its function port routes POST only)."""
    return {"CERTAMEN_CONSUMER_METRICS_PORT": str(port)}


def _consumer_command(settings: Settings, port: int) -> list[str]:
    return serve.command(replace(settings, port=port, bind_host="127.0.0.1"))


@contextlib.contextmanager
def _server(
    command: list[str], settings: Settings, log: Path, extra: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    port = next((a.split("=")[1] for a in command if a.startswith("--port=")), "0")
    env = child_environment(
        {
            **serve.server_environment(replace(settings, port=int(port))),
            "REDIS_URL": settings.redis_url,
            "MONGODB_URI": settings.mongodb_uri,
            "MONGODB_DATABASE": settings.mongodb_database,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "CERTAMEN_TOPIC": settings.votes_topic,
            "CERTAMEN_DLQ_TOPIC": settings.dlq_topic,
            "CERTAMEN_SOURCE_GROUP": settings.source.consumer_group,
            **(extra or {}),
        }
    )
    if "--port=0" in command or port == "0":
        env.pop("PORT", None)
    # The votes are made up (BANDS): checked against the contract only, never a catalog.
    env.pop("CERTAMEN_CATALOG", None)
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        yield proc
    finally:
        benchkit.stop_session(proc)


def _wrk(
    name: str, port: int, pid: int, run_id: str, seconds: int, connections: int, work: Path
) -> Round:
    lua = work / f"{run_id}.lua"
    bands = "{" + ",".join(f'{{"{b}","{a}",{y}}}' for b, a, y in BANDS) + "}"
    lua.write_text(WRK_LUA.replace("@BANDS@", bands).replace("@RUN@", run_id), encoding="utf-8")
    before = benchkit.cpu_seconds({"server": pid})["server"]
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua),
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    cpu = benchkit.cpu_seconds({"server": pid})["server"] - before
    requests = int(_match(r"(\d+) requests in", out))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    if socket_errors := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                                  r"timeout (\d+)", out):  # fmt: skip
        errors += sum(int(g) for g in socket_errors.groups())
    return Round(name, float(_match(r"Requests/sec:\s+([\d.]+)", out)), _latency(out, "50"),
                 _latency(out, "99"), requests, errors, 1e6 * cpu / max(requests, 1))  # fmt: skip


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"wrk output without {pattern!r}: {text}")
    return found.group(1)


def _latency(text: str, percentile: str) -> float:
    found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk output without the {percentile}th percentile: {text}")
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _wait_http(url: str, proc: subprocess.Popen[bytes], within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        if benchkit.answers(url):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready within {within_s} s")


def _wait_consumer(port: int, metrics_port: int, proc: subprocess.Popen[bytes]) -> None:
    """Until the consumer's worker serves: its ``/metrics`` (up right after the fork), then
    an answer on the function's port (GET is 405), so that its start-up CPU is all spent."""
    _wait_http(f"http://127.0.0.1:{metrics_port}/metrics", proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # an answer: the worker serves
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the consumer on port {port} did not answer within 60 s")


def _wait_counted(
    store: redis.Redis, expected: int, within_s: float, stalled_s: float = 60
) -> None:
    """Until Redis counts ``expected`` votes; a clear error after ``within_s`` or when the
    count has not moved for ``stalled_s`` (the votes went elsewhere: dead letters?)."""
    started = time.monotonic()
    last, moved = -1, started
    while (counted := int(store.get(keys.TOTAL) or 0)) < expected:
        now = time.monotonic()
        if counted != last:
            last, moved = counted, now
        if now - started > within_s or now - moved > stalled_s:
            dead = int(store.get(keys.DEAD_LETTERS) or 0)
            why = f"no progress for {now - moved:.0f} s" if now - moved > stalled_s else (
                f"not within {within_s:.0f} s")  # fmt: skip
            raise RuntimeError(
                f"Kafka -> counted: {counted} of {expected} votes counted, {why}; "
                f"{dead} dead letters (votes the consumer rejected); see the source's and "
                "the consumer's logs (ps.log, pc.log) in the work folder"
            )
        time.sleep(0.02)


def _percentile(values: list[float], p: int) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _parser() -> argparse.ArgumentParser:
    parser = benchkit.bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--markdown", help="also write the results as markdown here")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per function")
    parser.add_argument(
        "--connections", type=int, default=50, help="wrk connections (the source's window)"
    )
    parser.add_argument("--backlog", type=int, default=10_000, help="votes drained from Kafka")
    parser.add_argument("--paced-seconds", type=int, default=30, help="length of the half-rate run")
    parser.add_argument("--redis-db", type=int, default=3, help="Redis database to use (flushed)")
    return parser


if __name__ == "__main__":
    sys.exit(main())

"""Source benchmark: CPU per delivered vote of ``certamen source`` draining a backlog.

A fresh topic (6 partitions) gets ``--votes`` vote records; ``certamen source`` then
delivers them to a null sink (an asyncio HTTP/1.1 server in this process that reads
each request and answers 200 on a kept-alive connection), so the source's own CPU is
what is measured: the CPU seconds of its process from the moment its /metrics
answers (start-up excluded) to the moment /status says every record was delivered,
divided by the votes. ``--profile`` also samples the source with py-spy meanwhile.
``--consumer`` delivers to ``certamen consumer`` instead (real Redis and MongoDB
writes: Redis database ``--redis-db``, flushed, and a MongoDB database of its own,
dropped), as the pipeline runs.

Free ports of 127.0.0.1; the topics are deleted at the end.

    python load/bench_source.py --json out.json [--quick] [--votes N] [--ordering ordered]
        [--consumer [--redis-db N]] [--profile SECONDS] [--markdown load/results/source.md]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit
import redis
from pymongo import MongoClient

from certamen.adapters.kafka import make_producer
from certamen.contract import Vote, format_timestamp, new_vote_id
from certamen.settings import Settings, child_environment, load, with_redis_db

GOAL_MS = 0.2


class NullSink:
    """Answers every POST with 200 on a kept-alive connection, counting requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", self.port)
        )
        self._ready.set()
        with contextlib.suppress(RuntimeError):
            self._loop.run_until_complete(server.serve_forever())

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        writer.close()


def _status(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as response:
            status: dict[str, Any] = json.load(response)
            return status
    except OSError:
        return None


def _fill(settings: Settings, count: int) -> None:
    now = format_timestamp(datetime.now(UTC))
    votes = (
        Vote(new_vote_id(), "Alux Nahual", "Alux Nahual", 1983, i % 100,
             "grpc" if i % 2 else "wasm", now)
        for i in range(count)
    )  # fmt: skip
    producer = make_producer(settings)
    try:
        benchkit.fill_topic(settings, producer, votes)
    finally:
        producer.close()


@contextlib.contextmanager
def _consumer(settings: Settings, log: Path) -> Iterator[str]:
    """``certamen consumer`` on a free port, on a flushed Redis database and a new MongoDB one."""
    port, metrics_port = benchkit.free_port(), benchkit.free_port()
    redis.Redis.from_url(settings.redis_url).flushdb()
    env = child_environment(
        {
            "REDIS_URL": settings.redis_url,
            "MONGODB_URI": settings.mongodb_uri,
            "MONGODB_DATABASE": settings.mongodb_database,
            "CERTAMEN_CONSUMER_PORT": str(port),
            "CERTAMEN_CONSUMER_METRICS_PORT": str(metrics_port),
        }
    )
    env.pop("PORT", None)
    env.pop("CERTAMEN_CATALOG", None)  # made-up votes: checked against the contract only
    with log.open("ab") as out:
        command = [sys.executable, "-m", "certamen.operations.cli", "consumer"]
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while not benchkit.answers(f"http://127.0.0.1:{metrics_port}/metrics"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the consumer did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        benchkit.stop_session(proc)
        with MongoClient(settings.mongodb_uri) as client:
            client.drop_database(settings.mongodb_database)


@contextlib.contextmanager
def _source(settings: Settings, sink: str, port: int, ordering: str, log: Path) -> Iterator[int]:
    env = child_environment(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "CERTAMEN_TOPIC": settings.votes_topic,
            "CERTAMEN_DLQ_TOPIC": settings.dlq_topic,
            "CERTAMEN_SOURCE_GROUP": f"bench-{settings.votes_topic}",
            "CERTAMEN_SOURCE_ORDERING": ordering,
            "K_SINK": sink,
            "CERTAMEN_SOURCE_METRICS_PORT": str(port),
        }
    )
    env.pop("PORT", None)
    with log.open("ab") as out:
        command = [sys.executable, "-m", "certamen.operations.cli", "source"]
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc.pid
    finally:
        benchkit.stop_session(proc)


def drain(
    settings: Settings, votes: int, ordering: str, profile_s: float, *, consumer: bool
) -> dict[str, Any]:
    """Fill a topic, let the source drain it into the sink; CPU and time of the drain."""
    tag = uuid.uuid4().hex[:8]
    settings = replace(
        _with_topics(settings, f"bench-source-{tag}"), mongodb_database=f"bench_source_{tag}"
    )
    _fill(settings, votes)
    null_sink = None if consumer else NullSink(benchkit.free_port())
    port = benchkit.free_port()
    log = Path(f"/tmp/bench-source-{tag}.log")
    profile: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            if null_sink is None:
                sink = stack.enter_context(_consumer(settings, log.with_suffix(".consumer.log")))
            else:
                sink = f"http://127.0.0.1:{null_sink.port}/"
            pid = stack.enter_context(_source(settings, sink, port, ordering, log))
            deadline = time.monotonic() + 60
            while _status(port) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the source did not start: {log.read_text()[-2000:]}")
                time.sleep(0.05)
            started = time.monotonic()
            cpu_start = benchkit.cpu_seconds({"source": pid})["source"]
            sampler = None
            if profile_s > 0:
                sampler = threading.Thread(
                    target=lambda: profile.append(benchkit.profile(pid, profile_s, top=25)),
                    daemon=True,
                )
                sampler.start()
            delivered, progressed = 0, time.monotonic()
            while delivered < votes:
                now = (_status(port) or {}).get("delivered") or 0
                if now > delivered:
                    delivered, progressed = now, time.monotonic()
                elif time.monotonic() - progressed > 30:
                    raise RuntimeError(f"no delivery for 30 s, see {log}")
                time.sleep(0.25)  # each /status costs the source a little CPU
            drained_s = time.monotonic() - started
            cpu = benchkit.cpu_seconds({"source": pid})["source"] - cpu_start
            if sampler is not None:
                sampler.join(timeout=profile_s + 60)
    finally:
        benchkit.drop_topics(settings)
    return {
        "votes": votes,
        "ordering": ordering,
        "drain_s": drained_s,
        "rate": votes / drained_s,
        "cpu_s": cpu,
        "cpu_ms_per_vote": 1000 * cpu / votes,
        "sink_requests": None if null_sink is None else null_sink.requests,
        "startup_cpu_s": cpu_start,
        "profile": profile[0] if profile else None,
    }


def _with_topics(settings: Settings, topic: str) -> Settings:
    return replace(settings, votes_topic=topic, dlq_topic=f"{topic}-dlq")


def main() -> int:
    parser = benchkit.bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=0, help="backlog size (10,000; quick 3,000)")
    parser.add_argument("--ordering", default="unordered", choices=("unordered", "ordered"))
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy seconds (0: none)")
    parser.add_argument("--consumer", action="store_true", help="into certamen consumer")
    parser.add_argument("--redis-db", type=int, default=3, help="--consumer: Redis db (flushed)")
    parser.add_argument("--markdown", help="also write the results as markdown here")
    args = parser.parse_args()
    votes = args.votes or (3_000 if args.quick else 10_000)
    settings = load()
    if args.consumer:
        settings = replace(settings, redis_url=with_redis_db(settings.redis_url, args.redis_db))
    result = drain(settings, votes, args.ordering, args.profile, consumer=args.consumer)
    into = "certamen consumer" if args.consumer else "a null sink"
    command = benchkit.command_line("load/bench_source.py", parser, args)
    ms = round(result["cpu_ms_per_vote"], 4)
    figures = [
        benchkit.figure(
            "source.cpu_ms_per_vote", f"source CPU per delivered vote ({args.ordering})", ms,
            "ms", goal=f"<= {GOAL_MS}", met=ms <= GOAL_MS, command=command,
            note=f"{votes:,} votes into {into}, start-up excluded",
        ),
        benchkit.figure(
            "source.votes_per_s", f"source drain rate into {into}",
            round(result["rate"], 1), "votes/s", command=command,
        ),
    ]  # fmt: skip
    notes = [
        f"drained {votes:,} votes in {result['drain_s']:.2f} s using {result['cpu_s']:.2f} CPU s "
        f"(start-up {result['startup_cpu_s']:.2f} CPU s, not counted)",
        "the machine was shared with other work: compare CPU per vote, not rates",
    ]
    sections = {"Profile of the source": result["profile"]} if result["profile"] else {}
    benchkit.publish(args, "The local KafkaSource's CPU per vote", figures, notes, sections)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

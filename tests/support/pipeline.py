"""The delivery pipeline as real processes for integration tests: consumer, source, votes, waits.

The consumer and the source run as ``certamen consumer`` / ``certamen source``
child processes (each in its own process group, so a test can SIGKILL one
whole process and nothing else) on free ports of the 18000-18999 range.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
from kafka import KafkaProducer
from pymongo import MongoClient

from certamen.adapters import redis_keys as keys
from certamen.adapters.kafka import make_producer, send_message
from certamen.contract import VOTE_EVENT_TYPE, Vote, new_vote_id, vote_to_kafka
from certamen.operations.stack import tools
from certamen.operations.stack.console import make_console
from certamen.settings import Settings, child_environment
from tests.support import processes

PORTS = range(18000, 19000)
BANDS = (
    ("Bohemia Suburbana", "Mis palabras", 1997),
    ("Alux Nahual", "Alux Nahual", 1983),
    ("Viernes Verde", "Verde", 2003),
    ("Malacates Trébol Shop", "Niño", 2000),
)


def free_port() -> int:
    """A port of our range that nothing listens on right now."""
    return processes.free_port(PORTS)


def isolated(settings: Settings, **source: object) -> Settings:
    """A contest's settings with its own consumer group (and any source option changed)."""
    group = f"test-{settings.votes_topic}"
    return replace(settings, source=replace(settings.source, consumer_group=group, **source))


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The variables that make a child process load ``settings``."""
    source = settings.source
    env = child_environment(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "REDIS_URL": settings.redis_url,
            "MONGODB_URI": settings.mongodb_uri,
            "MONGODB_DATABASE": settings.mongodb_database,
            "CERTAMEN_TOPIC": settings.votes_topic,
            "CERTAMEN_DLQ_TOPIC": settings.dlq_topic,
            "CERTAMEN_SOURCE_GROUP": source.consumer_group,
            "CERTAMEN_SOURCE_INITIAL_OFFSET": source.initial_offset,
            "CERTAMEN_SOURCE_ORDERING": source.ordering,
            "CERTAMEN_SOURCE_WINDOW": str(source.window),
            "CERTAMEN_SOURCE_RETRY": str(source.retry),
            "CERTAMEN_SOURCE_BACKOFF_POLICY": source.backoff_policy,
            "CERTAMEN_SOURCE_BACKOFF_DELAY": str(source.backoff_delay_s),
            "CERTAMEN_LEGACY_RECORDS": settings.legacy_records,
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    env.pop("PORT", None)
    if settings.catalog_path is None:
        env.pop("CERTAMEN_CATALOG", None)
    else:
        env["CERTAMEN_CATALOG"] = str(settings.catalog_path)
    return env


@dataclass
class Service:
    """A child process we started, in its own process group, with its log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    ready: Callable[[], bool]
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self, timeout_s: float = 30.0) -> Service:
        """Start and wait until it is ready."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            wait_until(
                lambda: self._exited() or self.ready(), timeout_s, f"{self.name} to be ready"
            )
        except AssertionError as e:  # not ready: stop it (no stray process), show its log
            self.stop()
            raise AssertionError(f"{e}; its log ends:\n{self.log.read_text()[-2000:]}") from None
        if self._exited():
            raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
        return self

    def kill(self, sig: signal.Signals = signal.SIGKILL, timeout_s: float = 30.0) -> int:
        """Signal the whole process group we started; wait for the process to end."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        code = self.process.wait(timeout=timeout_s)
        if sig == signal.SIGKILL:
            self._reap_group()
        return code

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go."""
        if self.process is None or self.process.poll() is not None:
            self._reap_group()
            return
        try:
            self.kill(signal.SIGTERM, timeout_s=20.0)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
        self._reap_group()

    def _exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def _reap_group(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # leftovers, e.g. a gunicorn worker


def consumer(
    settings: Settings, port: int, log_dir: Path, metrics_port: int | None = None
) -> Service:
    """``certamen consumer`` on ``port``, its ``/metrics`` on ``metrics_port`` (any free one)."""
    metrics = metrics_port or free_port()
    env = environment(
        settings, CERTAMEN_CONSUMER_PORT=str(port), CERTAMEN_CONSUMER_METRICS_PORT=str(metrics)
    )
    return Service(
        "consumer",
        [sys.executable, "-m", "certamen.operations.cli", "consumer"],
        env,
        log_dir / "consumer.log",
        lambda: _answers(f"http://127.0.0.1:{metrics}/metrics") and _open(port),
    )


def source(settings: Settings, sink: str, metrics_port: int, log_dir: Path) -> Service:
    """``certamen source`` delivering to ``sink``, metrics and status on ``metrics_port``."""
    env = environment(settings, K_SINK=sink, CERTAMEN_SOURCE_METRICS_PORT=str(metrics_port))
    return Service(
        "source",
        [sys.executable, "-m", "certamen.operations.cli", "source"],
        env,
        log_dir / "source.log",
        lambda: _answers(f"http://127.0.0.1:{metrics_port}/metrics"),
    )


@contextmanager
def counting(settings: Settings, log_dir: Path) -> Iterator[int]:
    """The real delivery path for ``settings``' topic: a consumer and a source, started and
    stopped; yields the source's status port."""
    consumer_port, status_port = free_port(), free_port()
    services = [
        consumer(settings, consumer_port, log_dir),
        source(settings, f"http://127.0.0.1:{consumer_port}", status_port, log_dir),
    ]
    try:
        for service in services:
            service.start()
        yield status_port
    finally:
        for service in reversed(services):
            service.stop()


def deliver(settings: Settings, expected: int, log_dir: Path, timeout_s: float = 90) -> None:
    """Run a consumer and a source until the source delivered ``expected`` records, then stop."""
    with counting(settings, log_dir) as status_port:
        wait_until(
            lambda: source_status(status_port)["delivered"] >= expected,
            timeout_s,
            f"{expected} records delivered",
        )


def run_cli(settings: Settings, *args: str, timeout_s: float = 120) -> tuple[int, Any]:
    """``certamen ARGS --json`` for ``settings``: its exit status and its JSON output."""
    done = subprocess.run(
        [sys.executable, "-m", "certamen.operations.cli", *args, "--json"],
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout else {}


def server(name: str, command: list[str], port: int, log_dir: Path) -> Service:
    """A server of our own (Redis, FerretDB) for tests that stop and start it."""
    return Service(
        name, command, child_environment({}), log_dir / f"{name}.log", lambda: _open(port)
    )


def redis_server(port: int, log_dir: Path) -> Service:
    """A redis-server of our own on ``port`` (data under ``log_dir``), not yet started."""
    data = log_dir / "redis"
    data.mkdir(exist_ok=True)
    command = [
        str(tools.ensure(["redis-server"], make_console(stderr=True))["redis-server"]),
        "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
        "--appendonly", "yes", "--appendfsync", "always", "--save", "",
    ]  # fmt: skip
    return server("redis", command, port, log_dir)


def make_votes(count: int, *, seed: int = 7) -> list[Vote]:
    """``count`` valid votes over a few bands, both channels, ranks with decimals."""
    rng = random.Random(seed)
    votes = []
    for i in range(count):
        band, album, year = BANDS[rng.randrange(len(BANDS))]
        votes.append(
            Vote(
                vote_id=new_vote_id(),
                name=band,
                album=album,
                year=year,
                rank=rng.choice([rng.randint(0, 100), rng.randint(0, 9999) / 100]),
                channel="grpc" if i % 2 else "wasm",
                received_at="2026-11-26T17:00:00.000Z",
            )
        )
    return votes


def produce(
    settings: Settings, votes: Iterable[Vote], producer: KafkaProducer | None = None
) -> int:
    """Write votes to the contest's topic as our producers do; wait for Kafka's acks."""
    own = producer is None
    producer = producer or make_producer(settings)
    try:
        futures = [send_message(producer, settings.votes_topic, vote_to_kafka(v)) for v in votes]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
        return len(futures)
    finally:
        if own:
            producer.close()


def counted(client: redis.Redis) -> int:
    """``votes:total`` as it is now."""
    return int(client.get(keys.TOTAL) or 0)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` every 50 ms; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def _counted_if_answering(client: redis.Redis) -> int | None:
    """``votes:total``, or None while Redis is away or loading its data after a restart."""
    try:
        return counted(client)
    except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
        return None


def counted_once_answering(client: redis.Redis, timeout_s: float = 60.0) -> int:
    """``votes:total`` once Redis answers: after a restart it is away, then loading its data."""
    seen: list[int] = []

    def read() -> bool:
        value = _counted_if_answering(client)
        if value is None:
            return False
        seen.append(value)
        return True

    wait_until(read, timeout_s, "Redis answering")
    return seen[-1]


def wait_counted(client: redis.Redis, expected: int, timeout_s: float) -> None:
    """Wait until Redis counted ``expected`` votes (through its restarts)."""

    def reached() -> bool:
        value = _counted_if_answering(client)
        return value is not None and value >= expected

    wait_until(reached, timeout_s, f"{expected} counted votes")


def vote_documents(settings: Settings) -> int:
    """How many vote documents the contest's MongoDB database holds."""
    with MongoClient(settings.mongodb_uri) as client:
        return client[settings.mongodb_database]["votes"].count_documents({})


def post_vote_event(url: str, vote: Vote, *, timeout_s: float = 30) -> int:
    """POST a vote's binary-mode CloudEvent to a consumer, as a source does; its status
    (0: no answer within ``timeout_s``)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": vote.vote_id,
        "ce-type": VOTE_EVENT_TYPE,
        "ce-source": f"/producers/{vote.channel}",
        "Content-Type": "application/json",
    }
    request = urllib.request.Request(url, data=vote.to_json(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def source_status(port: int) -> dict[str, Any]:
    """The source's ``GET /status``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
        status: dict[str, Any] = json.load(response)
    return status


def _open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False

"""Chaos run: the whole local stack under load while its parts die at random, and a verdict.

1. capacity: a vote file replayed once through both producers as fast as the stack
   takes it (Locust, one vote a call); the counted votes/s is the stack's capacity;
2. chaos: a new file replayed at half that rate through both routes by the same Locust
   users as the demo (``certamen.operations.loadgen``): every vote carries its own
   idempotency key and is retried as the producers' answers say (a refusal after its
   ``Retry-After``, an unknown outcome with the same key), and the ledger keeps each
   vote's outcome by the producers' answers (``loadgen.outcomes``): acknowledged (202 /
   OK), refused (503 / UNAVAILABLE with the vote id: never reached Kafka), unknown
   (504 / DEADLINE_EXCEEDED, a cut connection, no answer: maybe taken), rejected (400,
   409 conflict / INVALID_ARGUMENT, ALREADY_EXISTS). Meanwhile, at seeded random
   moments printed before the start, the whole process group of a part is SIGKILLed
   (the Kafka broker, Redis, FerretDB, the consumer, the source, each producer;
   sometimes two at once) and brought back ``down`` seconds later with ``certamen up``;
3. drain: every part up again, the source's group has committed everything in Kafka;
4. verdict, per vote of the run, from the ledger against MongoDB's vote log and the
   Redis counters and dedup markers: acknowledged -> counted exactly once; refused ->
   never counted; unknown -> at most once; the tally grew by exactly the logged votes;
   ``certamen audit`` agrees.

    python load/bench_chaos.py --json out.json [--quick] [--seed N] [--minutes M] [--rate R]

Figures: votes offered, acknowledged, refused, unknown (and how many of those were
counted); lost, doubled and refused-but-counted (each must be 0); kills per part;
the longest time from a part's restart until the counting caught up with everything
Kafka held at that moment. Exit 1 on a breach, naming the vote ids; the figures are
written either way. It kills the stack the environment names (``certamen up``'s pid
files): run it on a stack of its own, never beside someone's demo.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit
import redis
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from rich.console import Console

from certamen.adapters import redis_keys as keys
from certamen.adapters.kafka import make_admin
from certamen.contract import Catalog, load_catalog
from certamen.operations.loadgen import new_run_id, replay_key
from certamen.operations.loadgen.chaos import Kill, kill_plan, kills_per_part
from certamen.operations.loadgen.locust_run import LocustPlan
from certamen.operations.loadgen.replay import (
    Progress,
    ReplayOutcome,
    Stores,
    open_stores,
    replay_and_count,
    report_paths,
)
from certamen.operations.stack import procs, runner
from certamen.operations.stack.parts import all_parts, is_external, pid_path
from certamen.operations.votefiles import (
    catalog_for,
    expected_tally,
    generate_votes,
    read_votes,
    write_votes,
)
from certamen.settings import Settings, load

# What is killed: every part a vote goes through (Streamlit only reads).
PARTS = ("kafka", "redis", "mongodb", "consumer", "source", "producer-grpc", "producer-wasm")
POLL_S = 0.5
UP_TIMEOUT_S = 600.0
CATCH_UP_TIMEOUT_S = 300.0  # a restart's catch-up is measured this long at most


@dataclass(frozen=True)
class Sizes:
    """How long and how hard: the full run and the quick one (CI)."""

    load_s: float
    kills_per_part: int
    capacity_votes: int
    users: int
    lead_in_s: float
    tail_s: float
    drain_timeout_s: float


FULL = Sizes(600.0, 2, 20_000, 32, lead_in_s=20.0, tail_s=60.0, drain_timeout_s=900.0)
QUICK = Sizes(90.0, 1, 3_000, 16, lead_in_s=8.0, tail_s=20.0, drain_timeout_s=300.0)
# A careful client: this many tries per vote (bounded backoff, Retry-After honoured).
ATTEMPTS = 10


@dataclass
class KillRecord:
    """What happened to one planned kill."""

    kill: Kill
    started_s: float = 0.0  # into the load, when the SIGKILLs were sent
    pids: dict[str, int] = field(default_factory=dict)
    up_s: float = 0.0  # how long ``certamen up`` took
    restarted_s: float = 0.0  # into the load, when ``certamen up`` returned
    up_ok: bool = True
    caught_up_s: float | None = None  # from the restart until the counting caught up


class GroupOffsets:
    """The source group's committed offsets and the topic's ends, from Kafka itself.

    A second witness beside the source's own /status: it still answers while the
    source is down (and not while Kafka is: then every call gives ``None``).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin: KafkaAdminClient | None = None
        self._reader: KafkaConsumer | None = None

    def ends(self) -> dict[int, int] | None:
        """The end offset of every partition of the votes topic."""
        try:
            reader = self._reader or KafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap_servers,
                group_id=None,
                request_timeout_ms=5_000,
            )
            self._reader = reader
            topic = self._settings.votes_topic
            partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)]
            return {tp.partition: end for tp, end in reader.end_offsets(partitions).items()}
        except (KafkaError, OSError):  # Kafka away (or coming back): ask again later
            self.close()
            return None

    def committed(self) -> dict[int, int] | None:
        """The source group's committed offset per partition (0 for none yet)."""
        try:
            admin = self._admin or make_admin(self._settings)
            self._admin = admin
            group = self._settings.source.consumer_group
            found = admin.list_group_offsets({group: None}).get(group, {})
            return {
                tp.partition: max(0, meta.offset)
                for tp, meta in found.items()
                if tp.topic == self._settings.votes_topic
            }
        except (KafkaError, OSError):
            self.close()
            return None

    def caught_up_with(self, ends: dict[int, int]) -> bool:
        """Has the group committed every record up to ``ends``?"""
        committed = self.committed()
        return committed is not None and all(committed.get(p, 0) >= e for p, e in ends.items())

    def close(self) -> None:
        """Drop the clients (a new call makes new ones)."""
        for client in (self._admin, self._reader):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._admin = self._reader = None


class Chaos:
    """Runs the plan on a thread of its own while the load runs; keeps what happened."""

    def __init__(self, settings: Settings, plan: list[Kill], work: Path, out: Console) -> None:
        self.settings = settings
        self.plan = plan
        self.work = work
        self.out = out
        self.records: list[KillRecord] = []
        self.started = 0.0
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)
        self._watchers: list[threading.Thread] = []

    def start(self) -> None:
        """From now on the plan's clock runs."""
        self.started = time.monotonic()
        self._thread.start()

    def join(self) -> None:
        """Wait for the last kill's restart and every catch-up measurement."""
        self._thread.join()
        for watcher in self._watchers:
            watcher.join()

    def now(self) -> float:
        """Seconds into the load."""
        return time.monotonic() - self.started

    def _run(self) -> None:
        for kill in self.plan:
            time.sleep(max(0.0, kill.at_s - self.now()))
            record = KillRecord(kill, started_s=self.now())
            for part in kill.parts:
                record.pids[part] = sigkill(self.settings, part)
            self.out.print(
                f"t={record.started_s:6.1f} s  SIGKILL "
                + ", ".join(f"{part} (pid {pid})" for part, pid in record.pids.items())
            )
            time.sleep(kill.down_s)
            began = time.monotonic()
            record.up_ok = certamen_up(self.work / "up.log")
            record.up_s = time.monotonic() - began
            record.restarted_s = self.now()
            self.out.print(
                f"t={record.restarted_s:6.1f} s  certamen up: {' + '.join(kill.parts)} back "
                f"in {record.up_s:.1f} s" + ("" if record.up_ok else " (FAILED: see up.log)")
            )
            self.records.append(record)
            watcher = threading.Thread(target=self._catch_up, args=(record,), daemon=True)
            watcher.start()
            self._watchers.append(watcher)

    def _catch_up(self, record: KillRecord) -> None:
        """Until the source group has committed everything Kafka held at the restart."""
        offsets = GroupOffsets(self.settings)
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        try:
            ends = None
            while ends is None and time.monotonic() < deadline:
                ends = offsets.ends()
                if ends is None:
                    time.sleep(POLL_S)
            while ends is not None and time.monotonic() < deadline:
                if offsets.caught_up_with(ends):
                    record.caught_up_s = self.now() - record.restarted_s
                    return
                time.sleep(POLL_S)
        finally:
            offsets.close()


def sigkill(settings: Settings, part: str) -> int:
    """SIGKILL the process group ``certamen up`` started for ``part``; its pid (0: not up)."""
    record = procs.read_pid_file(pid_path(settings, part))
    if record is None or not procs.is_alive(record):
        return 0
    procs.kill(record)
    return record.pid


def certamen_up(log: Path) -> bool:
    """``certamen up`` in a child process (this environment: the same stack); True if it
    brought every part up."""
    with log.open("ab") as sink:
        sink.write(f"\n=== {datetime.now(UTC):%H:%M:%S} certamen up\n".encode())
        sink.flush()
        try:
            done = subprocess.run(
                [str(benchkit.CERTAMEN), "up"],
                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                timeout=UP_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


def drained(settings: Settings, stores: Stores, timeout_s: float) -> float | None:
    """Wait until the group committed everything in Kafka and the tally stood still for 2 s;
    the seconds it took, or None if it did not within ``timeout_s``."""
    offsets = GroupOffsets(settings)
    began = time.monotonic()
    still_since, last = time.monotonic(), -1
    try:
        while time.monotonic() - began < timeout_s:
            ends = offsets.ends()
            try:
                total = int(stores.redis.get(keys.TOTAL) or 0)
            except redis.RedisError:
                total = -1  # Redis away: not still
            if total != last:
                last, still_since = total, time.monotonic()
            if (
                ends is not None
                and offsets.caught_up_with(ends)
                and time.monotonic() - still_since >= 2.0
            ):
                return time.monotonic() - began
            time.sleep(POLL_S)
    finally:
        offsets.close()
    return None


def audit(log: Path) -> dict[str, Any]:
    """``certamen audit --json`` of the stack; ``{"ok": False, ...}`` when it could not run."""
    done = subprocess.run(
        [str(benchkit.CERTAMEN), "audit", "--json"],
        capture_output=True, text=True, timeout=1_800, check=False,
    )  # fmt: skip
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        return {"ok": False, "error": (done.stderr or done.stdout)[-500:]}
    report["exit_code"] = done.returncode
    return report


def main() -> int:
    parser = benchkit.bench_parser(__doc__ or "")
    parser.add_argument("--seed", type=int, default=None, help="the kill plan's seed (random)")
    parser.add_argument("--minutes", type=float, default=None, help="minutes of load")
    parser.add_argument("--rate", type=float, default=None,
                        help="votes/s offered (default: half the measured capacity)")  # fmt: skip
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    load_s = 60 * args.minutes if args.minutes else sizes.load_s
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    settings = load()
    out = Console()
    external = [part.name for part in all_parts(settings) if is_external(settings, part)]
    parts = tuple(part for part in PARTS if part not in external)
    runner.start(settings, list(PARTS), out)
    folder = (
        settings.state_dir.resolve()
        / "bench"
        / "chaos"
        / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    )
    folder.mkdir(parents=True, exist_ok=True)
    catalog: Catalog = catalog_for(settings)
    judged_by = (
        load_catalog(settings.catalog_path, year_now=datetime.now(UTC).year)
        if settings.catalog_path
        else None
    )
    stores = open_stores(settings)

    def replay(label: str, count: int, rate: float, on_start: Any, on_counted: Any,
               timeout_s: float) -> tuple[ReplayOutcome, str, str]:  # fmt: skip
        path = folder / f"{label}-{count}.json"
        write_votes(path, generate_votes(catalog, count=count, seed=seed))
        votes = read_votes(path)
        run_id = new_run_id()
        ledger_dir, report_prefix = report_paths(folder / run_id)
        plan = LocustPlan(
            votes_file=path, run_id=run_id, users=sizes.users,
            wasm_url=f"http://127.0.0.1:{settings.ports.producer_wasm}",
            grpc_target=f"127.0.0.1:{settings.ports.producer_grpc}",
            ledger_dir=ledger_dir, report_prefix=report_prefix,
            run_time_s=3 * load_s + 300, user_rate=rate / sizes.users if rate else 0.0,
            attempts=ATTEMPTS,
        )  # fmt: skip
        last = [0.0]

        def show(now: Progress) -> None:
            if time.monotonic() - last[0] >= 10:
                last[0] = time.monotonic()
                out.print(
                    f"  {label}: {now.done:,} of {now.share:,} votes sent, {now.counted:,} "
                    f"counted for {now.acknowledged:,} acknowledged"
                )

        outcome = replay_and_count(
            plan, votes, expected_tally(votes.records, judged_by), stores, catalog=catalog,
            count_timeout_s=timeout_s, progress=show, on_start=on_start, on_counted=on_counted,
        )  # fmt: skip
        return outcome, run_id, votes.tag

    if drained(settings, stores, sizes.drain_timeout_s) is None:
        out.print("[red]the stack is not idle[/]: the source group has records still to deliver")
        return 2
    if args.rate:
        capacity, rate = 2 * args.rate, args.rate
        out.print(f"rate {rate:,.0f} votes/s, as asked (--rate)")
    else:
        out.print(f"capacity: {sizes.capacity_votes:,} votes through both routes, full speed")
        measured, _, _ = replay(
            "capacity", sizes.capacity_votes, 0.0, lambda: None, lambda: None, 300.0
        )
        capacity = measured.log.rate
        if not measured.verdict.ok or capacity <= 0:
            out.print(f"[red]the capacity run is not exact or not measured[/] ({capacity:.0f} "
                      f"votes/s): {'; '.join(measured.verdict.problems)}")  # fmt: skip
            return 2
        rate = capacity / 2
        out.print(f"capacity {capacity:,.0f} votes/s counted: chaos at {rate:,.0f} votes/s")
    plan = kill_plan(parts, kills_per_part=sizes.kills_per_part, load_s=load_s, seed=seed,
                     lead_in_s=sizes.lead_in_s, tail_s=sizes.tail_s)  # fmt: skip
    out.print(f"kill plan (seed {seed}; `--seed {seed}` repeats it):")
    for kill in plan:
        out.print("  " + kill.describe())
    chaos = Chaos(settings, plan, folder, out)
    drain: dict[str, float | None] = {}

    def after_load() -> None:
        chaos.join()
        drain["up_ok"] = 1.0 if certamen_up(folder / "up.log") else 0.0
        drain["seconds"] = drained(settings, stores, sizes.drain_timeout_s)

    outcome, run_id, tag = replay(
        "chaos", max(100, round(rate * load_s)), rate, chaos.start, after_load,
        sizes.drain_timeout_s,
    )  # fmt: skip
    report = audit(folder / "audit.json")
    figures, notes, sections = _report(
        outcome, chaos, report, parts, external, capacity, rate, load_s, seed, drain,
        benchkit.command_line("load/bench_chaos.py", parser, args), sizes,
    )  # fmt: skip
    benchkit.write_results(args.json, "Chaos: parts killed at random under load", figures,
                           notes, sections)  # fmt: skip
    failed = not outcome.verdict.ok or not report.get("ok") or drain.get("seconds") is None
    if failed:
        _print_breaches(outcome, run_id, tag, report, drain, out)
    else:
        out.print("[green]OK[/]: every acknowledged vote counted once, no refused vote counted")
    return 1 if failed else 0


def _report(
    outcome: ReplayOutcome,
    chaos: Chaos,
    report: dict[str, Any],
    parts: tuple[str, ...],
    external: list[str],
    capacity: float,
    rate: float,
    load_s: float,
    seed: int,
    drain: dict[str, float | None],
    command: str,
    sizes: Sizes,
) -> tuple[list[benchkit.Figure], list[str], dict[str, str]]:
    ledger, verdict = outcome.ledger, outcome.verdict
    logged = outcome.log.indices
    kills = kills_per_part([record.kill for record in chaos.records])
    overlapped = {id(r) for r in chaos.records if _overlapped(r, chaos.records)}
    caught = [
        (r.caught_up_s, r)
        for r in chaos.records
        if r.caught_up_s is not None and id(r) not in overlapped
    ]
    longest = max(caught, key=lambda pair: pair[0], default=None)
    never = [r for r in chaos.records if r.caught_up_s is None]
    wanted = sizes.kills_per_part

    def figure(key: str, name: str, value: float, unit: str, **extra: Any) -> benchkit.Figure:
        return benchkit.figure(f"chaos.{key}", name, value, unit, command=command, **extra)

    offered = ledger.accepted_total + ledger.rejected_total + ledger.refused_total
    offered += ledger.unknown_total
    figures = [
        figure("offered", "votes offered", offered, "votes",
               note=f"{rate:,.0f} votes/s for {load_s:.0f} s, half the measured "
               f"{capacity:,.0f} votes/s"),
        figure("acknowledged", "acknowledged", ledger.accepted_total, "votes"),
        figure("refused", "refused (not taken)", ledger.refused_total, "votes"),
        figure("unknown", "outcome unknown after every retry", ledger.unknown_total, "votes",
               note=f"{len(ledger.unknown_indices & logged)} of them counted, once each"),
        figure("rejected", "rejected (broke a rule)", ledger.rejected_total, "votes", goal="= 0",
               met=ledger.rejected_total == 0),
        figure("lost", "acknowledged but not counted", len(verdict.missing), "votes", goal="= 0",
               met=not verdict.missing),
        figure("doubled", "counted more than once", verdict.doubled, "votes", goal="= 0",
               met=not verdict.doubled),
        figure("refused_counted", "refused but counted", len(verdict.refused_counted), "votes",
               goal="= 0", met=not verdict.refused_counted),
        figure("half_counted", "in the vote log or the tally, not both",
               len(verdict.half_counted), "votes", goal="= 0", met=not verdict.half_counted),
        figure("audit", "certamen audit agrees", int(bool(report.get("ok"))), "bool", goal="1",
               met=bool(report.get("ok"))),
        figure("longest_catch_up_s", "longest from a restart until the counting caught up "
               "(no other kill meanwhile)", round(longest[0], 1) if longest else 0.0, "s",
               note=f"after {' + '.join(longest[1].kill.parts)}" if longest else "none measured"),
    ]  # fmt: skip
    for part in PARTS:
        figures.append(
            figure(f"kills_{part.replace('-', '_')}", f"{part} killed", kills[part], "times",
                   goal=f">= {wanted}", met=kills[part] >= wanted)
        )  # fmt: skip
    load1, load5, _ = os.getloadavg()
    notes = [
        f"Seed {seed}: `python load/bench_chaos.py --seed {seed}` repeats the plan "
        "(the moments, not the machine's timing).",
        f"Load: Locust, {sizes.users} users in one process, both routes 1:1, one vote a call, "
        f"every vote with its idempotency key, {ATTEMPTS} tries at most (backoff with jitter, "
        "a refusal's Retry-After honoured).",
        f"Drain after the load: {drain.get('seconds') or 0:.1f} s until the source group had "
        "committed everything in Kafka and the tally stood still"
        + ("" if drain.get("seconds") is not None else " (NOT DRAINED in time)"),
        f"Machine: {os.cpu_count()} cores, load average {load1:.1f} (5 min {load5:.1f}) at the "
        "end; the load generator runs on it too.",
        *outcome.verdict.notes,
    ]
    if external:
        notes.append(f"Not killed (external servers): {', '.join(external)}")
    if never:
        notes.append(
            "The counting never caught up (within the wait) after: "
            + ", ".join(f"{' + '.join(r.kill.parts)} at {r.restarted_s:.0f} s" for r in never)
        )
    table = [
        "| planned at | killed at | parts (pid) | down | `certamen up` | caught up after |",
        "| ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in chaos.records:
        pids = ", ".join(f"{p} ({pid or 'not running'})" for p, pid in r.pids.items())
        up = f"{r.up_s:.1f} s" + ("" if r.up_ok else " FAILED")
        caught_up = f"{r.caught_up_s:.1f} s" if r.caught_up_s is not None else "—"
        if id(r) in overlapped:
            caught_up += " (another kill meanwhile)"
        table.append(f"| {r.kill.at_s:.1f} s | {r.started_s:.1f} s | {pids} | "
                     f"{r.kill.down_s:.1f} s | {up} | {caught_up} |")  # fmt: skip
    return figures, notes, {"Kills": "\n".join(table)}


def _overlapped(record: KillRecord, records: list[KillRecord]) -> bool:
    """Another kill came between this restart and the counting catching up."""
    end = record.restarted_s + (record.caught_up_s if record.caught_up_s is not None else 1e9)
    return any(
        other is not record and record.restarted_s <= other.started_s < end for other in records
    )


def _print_breaches(
    outcome: ReplayOutcome,
    run_id: str,
    tag: str,
    report: dict[str, Any],
    drain: dict[str, float | None],
    out: Console,
) -> None:
    """Every broken promise, with the vote ids (all of them, into the log)."""
    verdict = outcome.verdict
    for problem in verdict.problems:
        out.print(f"[red]BREACH[/] {problem}")
    for what, indices in (
        ("acknowledged but not counted", verdict.missing),
        ("refused but counted", verdict.refused_counted),
        ("in the vote log or the tally, not both", verdict.half_counted),
    ):
        if indices:
            ids = [replay_key(run_id, tag, i) for i in sorted(indices)]
            out.print(f"[red]BREACH[/] {len(ids)} {what}, vote ids: {' '.join(ids)}")
    if not report.get("ok"):
        why = report.get("differences", report)
        out.print(f"[red]BREACH[/] certamen audit does not agree: {why}")
    if drain.get("seconds") is None:
        out.print("[red]NOT DRAINED[/]: the pipeline did not catch up in time")


if __name__ == "__main__":
    sys.exit(main())

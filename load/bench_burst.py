"""Burst benchmark: connection-per-vote clients against the whole running pipeline.

For each route (gRPC ``confproto.getInfo/returnInfo``, HTTP ``POST /votes``), a burst of
``--seconds`` from clients that open a new connection for every vote (a new gRPC channel
per call, as the original Go client did; HTTP with ``Connection: close``), offered at
``--rate`` (1,050 votes/s: the goal's 1,000 with a margin, so that the rate measured from
the first vote started to the last is at or above the goal; 0: as fast as the load
generator goes), then
drained: the pipeline counts the backlog Kafka took. The load generator
(``--generator``) is the Go voters (``load/govoters.py``, the default: a Python client
spends more CPU on a channel than the producer does, taking it from the pipeline) or
``load/newconn.py``; both routes are driven by the same one, run off any CPUs kept for
the producers (``CERTAMEN_INGRESS_CPUS``), as voters' devices would. Every vote carries
its own key, so each is judged against MongoDB and Redis:

- accepted (2xx / OK): counted exactly once, none missing;
- refused (503 / UNAVAILABLE from the producer): never counted;
- unknown (504 / DEADLINE_EXCEEDED, a cut connection): counted at most once;
- failed (any other answer): a refusal of the wrong kind.

Then the overload check: each route at twice the rate its burst was accepted at,
with a 1 s gRPC deadline: every refusal is UNAVAILABLE / 503, no refused vote is
counted, every accepted one is counted once.

Figures: votes offered, accepted, refused, unknown, failed, lost, doubled; accepted and
counted; the time from the end of the burst until the last vote was counted; the
vote-to-count delay p50/p99; the load generator's and the producer's CPU per vote; each
process's CPU during the burst. ``--quick`` (short bursts, run in
CI) exits 1 on a lost, doubled or falsely acknowledged vote, never on a rate.

    python load/bench_burst.py --json out.json [--quick]
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import benchkit
import govoters
import newconn
from rich.console import Console

from certamen.adapters import redis_keys as keys
from certamen.operations.loadgen import new_run_id
from certamen.operations.loadgen.replay import Stores, open_stores, wait_until_quiet
from certamen.operations.loadgen.runlog import percentile, read_votes
from certamen.operations.stack import runner
from certamen.operations.votefiles import catalog_for, generate_votes, record_fields
from certamen.settings import Settings, load

PARTS = ("consumer", "source", "producer-grpc", "producer-wasm")
PIPELINE = ("kafka", "redis", "mongodb", *PARTS)
ROUTES = ("grpc", "http")
GOAL_RATE = 1_000.0  # votes/s offered, each route
# Paced a little above the goal: pacing at exactly 1,000 measured 999.9 votes/s offered.
OFFERED_RATE = 1.05 * GOAL_RATE
GOAL_DRAIN_S = 15.0
OVERLOAD_DEADLINE_S = 1.0
PRODUCER = {"grpc": "producer-grpc", "http": "producer-wasm"}
GENERATORS = {"go": govoters.run, "python": newconn.run}
GENERATOR = "load generator"  # its row in the CPU figures
_RECEIVED_AT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Sizes:
    burst_s: float
    overload_s: float
    drain_timeout_s: float
    connection_cost_s: float
    connection_cost_rate: float


FULL = Sizes(burst_s=10.0, overload_s=10.0, drain_timeout_s=300.0, connection_cost_s=10.0,
             connection_cost_rate=400.0)  # fmt: skip
QUICK = Sizes(burst_s=2.0, overload_s=2.0, drain_timeout_s=120.0, connection_cost_s=2.0,
              connection_cost_rate=200.0)  # fmt: skip


@dataclass
class Judged:
    """One burst of one route, judged vote by vote against the stores."""

    route: str
    ledger: newconn.Ledger
    counted: set[str]
    delays_ms: list[float]
    last_counted: datetime | None
    total_delta: int
    cpu_burst: dict[str, float]
    cpu_drain: dict[str, float]
    drained_s: float
    peak_in_flight: float = 0.0
    peak_rss_mb: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def offered_per_s(self) -> float:
        """Votes started per second, from the first vote started to the last."""
        starts = [v.started for v in self.ledger.votes]
        if len(starts) < 2:
            return 0.0
        return (len(starts) - 1) / max(max(starts) - min(starts), 1e-9)

    @property
    def accepted_per_s(self) -> float:
        return len(self.by("accepted")) / max(self.ledger.span_s, 1e-9)

    def by(self, outcome: str) -> list[newconn.Vote]:
        return [v for v in self.ledger.votes if v.outcome == outcome]

    @property
    def generator_us(self) -> float:
        """The load generator's CPU µs per vote offered."""
        return 1e6 * self.cpu_burst.get(GENERATOR, 0.0) / max(1, len(self.ledger.votes))

    @property
    def producer_us(self) -> float:
        """The route's producer's CPU µs per accepted vote during the burst."""
        seconds = self.cpu_burst.get(PRODUCER[self.route], 0.0)
        return 1e6 * seconds / max(1, len(self.by("accepted")))

    @property
    def lost(self) -> int:
        """Accepted votes that were never counted."""
        return len(_keys(self.by("accepted")) - self.counted)

    @property
    def doubled(self) -> int:
        """Counts in Redis beyond one per distinct vote in MongoDB."""
        return max(0, self.total_delta - len(self.counted))

    @property
    def drain_s(self) -> float:
        """From the last answer of the burst to the last vote counted."""
        if self.last_counted is None:
            return 0.0
        return max(0.0, self.last_counted.timestamp() - self.ledger.ended)


def main() -> int:
    parser = benchkit.bench_parser(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=None, help="burst length")
    parser.add_argument(
        "--generator", choices=sorted(GENERATORS), default="go", help="the load generator"
    )
    parser.add_argument(
        "--rate", type=float, default=OFFERED_RATE, help="votes/s offered (0: as fast as it goes)"
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="load generator processes (python)"
    )
    parser.add_argument(
        "--in-flight", type=int, default=4000, help="votes waiting for an answer at once, at most"
    )
    parser.add_argument("--routes", default=",".join(ROUTES), help="grpc,http")
    parser.add_argument("--no-overload", action="store_true", help="skip the overload check")
    parser.add_argument(
        "--no-connection-cost", action="store_true", help="skip the pooled/new comparison"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    burst_s = args.seconds or sizes.burst_s
    settings = load()
    out = Console()
    runner.start(settings, list(PARTS), out)
    if args.generator == "go":
        govoters.binary()  # built now, or its build would count as the generator's CPU
    bench = Bench(
        settings,
        out,
        benchkit.command_line("load/bench_burst.py", parser, args),
        args.generator,
    )
    routes = [r for r in args.routes.split(",") if r]
    bursts = [
        bench.burst(route, burst_s, processes=args.processes,
                    in_flight=args.in_flight // args.processes,
                    timeout_s=sizes.drain_timeout_s, rate=args.rate)
        for route in routes
    ]  # fmt: skip
    overloads = []
    if not args.no_overload:
        for judged in bursts:
            rate = 2 * max(judged.accepted_per_s, 1.0)
            overloads.append(
                bench.burst(judged.route, sizes.overload_s, processes=args.processes,
                            in_flight=args.in_flight // args.processes,
                            timeout_s=sizes.drain_timeout_s, rate=rate,
                            deadline_s=OVERLOAD_DEADLINE_S, label="overload")
            )  # fmt: skip
    costs = []
    if not args.no_connection_cost:
        for route in routes:
            costs.append(bench.connection_cost(route, sizes, processes=args.processes))
    figures = [f for judged in bursts for f in bench.figures(judged)]
    figures += [f for cost in costs for f in bench.cost_figures(cost)]
    figures += [f for judged in overloads for f in bench.overload_figures(judged)]
    judged_runs = [*bursts, *overloads, *(j for cost in costs for j in cost.runs)]
    problems = [f"{j.route}: {p}" for j in judged_runs for p in j.problems]
    sections = {"CPU during the burst, by process": _cpu_table(bursts)}
    notes = [
        f"{j.route} {'overload' if j in overloads else 'burst'}: "
        + ("exact" if not j.problems else "; ".join(j.problems))
        for j in [*bursts, *overloads]
    ]
    benchkit.publish(
        args,
        "Bursts at the ingress: a new connection per vote, the whole pipeline running",
        figures,
        notes,
        sections,
    )
    if problems:
        out.print("[red]NOT EXACT:[/red] " + "; ".join(problems))
        return 1
    return 0


class Bench:
    """The stack's settings and stores, the ballots, and the parts' processes."""

    def __init__(
        self,
        settings: Settings,
        out: Console,
        command: str,
        generator: str,
    ) -> None:
        self.settings = settings
        self.generator_name = generator
        self.generate: Callable[[newconn.Plan], newconn.Ledger] = GENERATORS[generator]
        self.out = out
        self.command = command
        self.stores: Stores = open_stores(settings)
        self.sessions = benchkit.part_pids(settings, PIPELINE)
        catalog = catalog_for(settings)
        self.ballots = [record_fields(r) for r in generate_votes(catalog, count=997, seed=13)]

    def metrics_url(self, route: str) -> str:
        ports = self.settings.ports
        if route == "grpc":
            return f"http://127.0.0.1:{ports.producer_grpc_metrics}/metrics"
        return f"http://127.0.0.1:{ports.producer_wasm_metrics}/metrics"

    def target(self, route: str) -> str:
        ports = self.settings.ports
        return f"127.0.0.1:{ports.producer_grpc if route == 'grpc' else ports.producer_wasm}"

    def burst(
        self,
        route: str,
        seconds: float,
        *,
        processes: int,
        in_flight: int,
        timeout_s: float,
        rate: float = 0.0,
        deadline_s: float | None = None,
        label: str = "burst",
        new_connection: bool = True,
    ) -> Judged:
        """Send one burst, wait until it is counted, judge every vote."""
        wait_until_quiet(self.stores, timeout_s=timeout_s)
        run_id = new_run_id()
        plan = newconn.Plan(
            route=route,
            target=self.target(route),
            seconds=seconds,
            ballots=self.ballots,
            run_id=run_id,
            rate=rate,
            in_flight=in_flight,
            processes=processes,
            deadline_s=deadline_s,
            new_connection=new_connection,
        )
        pace = f"{rate:,.0f} votes/s" if rate else "as fast as it goes"
        self.out.print(
            f"{route} {label}: {seconds:g} s, {pace}, {self.generator_name} voters, run {run_id}"
        )
        total_before = _total(self.stores)
        cpu_start = benchkit.cpu_seconds(self.sessions)
        cpu_start[GENERATOR] = benchkit.children_cpu_seconds()
        with (
            _InFlight(self.metrics_url(route)) as in_flight,
            benchkit.PeakMemory(self.sessions.get(PRODUCER[route])) as memory,
            benchkit.off_the_ingress_cpus(self.settings),
        ):
            ledger = self.generate(plan)
        cpu_end = benchkit.cpu_seconds(self.sessions)
        cpu_end[GENERATOR] = benchkit.children_cpu_seconds()
        counts = ledger.counts()
        self.out.print(f"  offered {len(ledger.votes):,} in {ledger.span_s:.1f} s: {counts}")
        other = Counter(v.detail for v in ledger.votes if v.outcome != "accepted")
        if other:
            self.out.print(f"  answers other than accepted: {dict(other.most_common(4))}")
        expected = counts["accepted"]
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if _total(self.stores) - total_before >= expected:
                break
            time.sleep(0.25)
        # Unknown outcomes may still land: wait until the total stands still.
        wait_until_quiet(self.stores, timeout_s=30.0)
        drained = time.monotonic() - started
        cpu_drained = benchkit.cpu_seconds(self.sessions)
        counted, delays, last = _read_counted(self.stores, [v.key for v in ledger.votes])
        judged = Judged(
            route=route,
            ledger=ledger,
            counted=counted,
            delays_ms=delays,
            last_counted=last,
            total_delta=_total(self.stores) - total_before,
            cpu_burst=_minus(cpu_end, cpu_start),
            peak_in_flight=in_flight.peak,
            peak_rss_mb=memory.peak_mb,
            cpu_drain=_minus(cpu_drained, cpu_end),
            drained_s=drained,
        )
        judged.problems = _judge(judged, self.stores)
        self.out.print(f"  offered {judged.offered_per_s:,.0f} votes/s")
        self.out.print(
            f"  CPU a vote: load generator {judged.generator_us:,.0f} µs, "
            f"{PRODUCER[route]} {judged.producer_us:,.0f} µs"
        )
        self.out.print(
            f"  counted {len(counted):,} (Redis +{judged.total_delta:,}), last "
            f"{judged.drain_s:.1f} s after the burst; "
            + ("exact" if not judged.problems else "NOT EXACT: " + "; ".join(judged.problems))
        )
        return judged

    def connection_cost(self, route: str, sizes: Sizes, *, processes: int) -> ConnectionCost:
        """The producer's CPU per vote at a fixed rate: pooled clients, then a new
        connection per vote (the difference is what a connection costs it)."""
        runs = [
            self.burst(route, sizes.connection_cost_s, processes=processes, in_flight=1000,
                       timeout_s=sizes.drain_timeout_s, rate=sizes.connection_cost_rate,
                       label=label, new_connection=new)
            for label, new in (("pooled", False), ("new connection per vote", True))
        ]  # fmt: skip
        return ConnectionCost(route, runs[0], runs[1])

    def cost_figures(self, cost: ConnectionCost) -> list[benchkit.Figure]:
        """Producer CPU µs per accepted vote, pooled and with a new connection per vote."""
        r, c = cost.route, self.command
        pooled, new = cost.pooled.producer_us, cost.new.producer_us
        rate = cost.pooled.offered_per_s
        return [
            benchkit.figure(f"burst.{r}.pooled_producer_us", f"{r}: producer CPU per vote, "
                            f"pooled clients ({rate:,.0f} votes/s)", round(pooled, 1), "µs",
                            command=c),
            benchkit.figure(f"burst.{r}.new_connection_producer_us", f"{r}: producer CPU per "
                            "vote, a new connection per vote (same rate)", round(new, 1), "µs",
                            command=c),
            benchkit.figure(f"burst.{r}.connection_us", f"{r}: what a new connection costs the "
                            "producer", round(new - pooled, 1), "µs", command=c),
        ]  # fmt: skip

    def figures(self, j: Judged) -> list[benchkit.Figure]:
        """The burst's figures for RESULTS.md."""
        r, c = j.route, self.command
        counts = j.ledger.counts()
        offered = j.offered_per_s
        exact = not j.problems
        p50, p99 = percentile(j.delays_ms, 0.5), percentile(j.delays_ms, 0.99)
        return [
            benchkit.figure(f"burst.{r}.offered_per_s", f"{r}: votes/s offered, new connection "
                            f"per vote ({len(j.ledger.votes):,} in {j.ledger.span_s:.1f} s, "
                            f"{self.generator_name} voters)",
                            round(offered, 1), "votes/s", goal=f">= {GOAL_RATE:,.0f}",
                            met=offered >= GOAL_RATE, command=c),
            benchkit.figure(f"burst.{r}.accepted", f"{r}: accepted", counts["accepted"], "votes",
                            command=c),
            benchkit.figure(f"burst.{r}.refused", f"{r}: refused (503 / UNAVAILABLE)",
                            counts["refused"], "votes", goal="= 0", met=counts["refused"] == 0,
                            command=c),
            benchkit.figure(f"burst.{r}.failed", f"{r}: failed (any other answer) or unknown",
                            counts["failed"] + counts["unknown"] + counts["rejected"], "votes",
                            goal="= 0", met=counts["failed"] + counts["unknown"] == 0, command=c),
            benchkit.figure(f"burst.{r}.unknown", f"{r}: of which unknown (504 / "
                            "DEADLINE_EXCEEDED, a cut connection)", counts["unknown"], "votes",
                            command=c),
            benchkit.figure(f"burst.{r}.lost", f"{r}: accepted but never counted", j.lost,
                            "votes", goal="= 0", met=j.lost == 0, command=c),
            benchkit.figure(f"burst.{r}.doubled", f"{r}: counted more than once", j.doubled,
                            "votes", goal="= 0", met=j.doubled == 0, command=c),
            benchkit.figure(f"burst.{r}.generator_us", f"{r}: the load generator's CPU per "
                            f"vote offered ({self.generator_name})", round(j.generator_us, 1),
                            "µs", command=c),
            benchkit.figure(f"burst.{r}.producer_us", f"{r}: the producer's CPU per vote "
                            "accepted, during the burst", round(j.producer_us, 1), "µs",
                            command=c),
            benchkit.figure(f"burst.{r}.counted", f"{r}: accepted and counted (must equal "
                            "accepted)", len(j.counted & _keys(j.by("accepted"))), "votes",
                            goal=f"= {counts['accepted']:,}", met=exact, command=c),
            benchkit.figure(f"burst.{r}.drain_s", f"{r}: from the end of the burst to the last "
                            "vote counted", round(j.drain_s, 1), "s", goal=f"<= {GOAL_DRAIN_S:g}",
                            met=j.drain_s <= GOAL_DRAIN_S, command=c),
            benchkit.figure(f"burst.{r}.delay_p50_ms", f"{r}: vote-to-count delay p50",
                            p50 or 0.0, "ms", command=c),
            benchkit.figure(f"burst.{r}.delay_p99_ms", f"{r}: vote-to-count delay p99",
                            p99 or 0.0, "ms", command=c),
            benchkit.figure(f"burst.{r}.peak_in_flight", f"{r}: most calls waiting for Kafka "
                            "at once in the producer (sampled every 0.1 s)", j.peak_in_flight,
                            "calls", command=c),
            benchkit.figure(f"burst.{r}.peak_rss_mb", f"{r}: the producer's resident memory at "
                            "its highest during the burst", round(j.peak_rss_mb, 1), "MB",
                            command=c),
            benchkit.figure(f"burst.{r}.answer_p99_ms", f"{r}: time to the producer's answer "
                            "p99 (connection included)", _answer_ms(j, 0.99), "ms", command=c),
        ]  # fmt: skip

    def overload_figures(self, j: Judged) -> list[benchkit.Figure]:
        """The overload check's figures: which answers, and that refusals were honest."""
        r, c = j.route, self.command
        counts = j.ledger.counts()
        return [
            benchkit.figure(f"burst.{r}.overload_offered_per_s", f"{r} overload: votes/s "
                            f"offered (asked for twice the burst's accepted rate, gRPC deadline "
                            f"{OVERLOAD_DEADLINE_S:g} s)", round(j.offered_per_s, 1), "votes/s",
                            command=c),
            benchkit.figure(f"burst.{r}.overload_refused", f"{r} overload: refused "
                            "(503 / UNAVAILABLE), none counted", counts["refused"], "votes",
                            command=c),
            benchkit.figure(f"burst.{r}.overload_other", f"{r} overload: answers other than "
                            "accepted, refused or unknown", counts["failed"] + counts["rejected"],
                            "votes", goal="= 0", met=counts["failed"] + counts["rejected"] == 0,
                            command=c),
            benchkit.figure(f"burst.{r}.overload_exact", f"{r} overload: votes lost, doubled "
                            "or refused-but-counted", len(j.problems), "problems", goal="= 0",
                            met=not j.problems, command=c),
        ]  # fmt: skip


class _InFlight(benchkit.Sampler):
    """The producer's most calls in flight at once, from its /metrics."""

    def __init__(self, metrics_url: str) -> None:
        super().__init__()
        self._url = metrics_url
        self.peak = 0.0

    def sample(self) -> None:
        try:
            with urllib.request.urlopen(self._url, timeout=1) as response:
                text = response.read().decode()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("certamen_producer_calls_in_flight{"):
                self.peak = max(self.peak, float(line.split()[-1]))


@dataclass
class ConnectionCost:
    """One route at the same rate, pooled and with a new connection per vote."""

    route: str
    pooled: Judged
    new: Judged

    @property
    def runs(self) -> tuple[Judged, Judged]:
        return self.pooled, self.new


def _judge(j: Judged, stores: Stores) -> list[str]:
    """What is wrong with the burst's outcome, vote by vote (empty: exact)."""
    problems = []
    accepted = _keys(j.by("accepted"))
    refused = _keys(j.by("refused"))
    unknown = _keys(j.by("unknown"))
    lost = accepted - j.counted
    if lost:
        problems.append(f"{len(lost)} accepted but not counted, e.g. {_some(lost)}")
    falsely_refused = refused & j.counted
    if falsely_refused:
        problems.append(
            f"{len(falsely_refused)} refused but counted, e.g. {_some(falsely_refused)}"
        )
    markers = _markers(stores, refused)
    if markers:
        problems.append(f"{len(markers)} refused but counted in Redis, e.g. {_some(markers)}")
    strangers = j.counted - accepted - unknown
    if strangers:
        problems.append(f"{len(strangers)} counted without being accepted: {_some(strangers)}")
    if j.total_delta != len(j.counted):
        problems.append(f"Redis counted {j.total_delta} for {len(j.counted)} distinct votes")
    wrong = [v for v in j.by("refused") if not v.retry_after]
    if wrong:
        problems.append(f"{len(wrong)} refusals without Retry-After, e.g. {wrong[0].key}")
    return problems


def _read_counted(
    stores: Stores, offered: Iterable[str]
) -> tuple[set[str], list[float], datetime | None]:
    """The offered votes stored in MongoDB, their vote-to-count delays (sorted), the last count."""
    counted: set[str] = set()
    delays: list[float] = []
    last: datetime | None = None
    projection = {"received_at": 1, "processed_at": 1}
    for document in read_votes(stores.db, offered, projection):
        counted.add(str(document["_id"]))
        received = _utc(document["received_at"])
        processed = _utc(document["processed_at"])
        delays.append((processed - received).total_seconds() * 1000)
        last = processed if last is None else max(last, processed)
    return counted, sorted(delays), last


def _markers(stores: Stores, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` have a dedup marker in Redis (the consumer counted them)."""
    ids = list(ids)
    found: set[str] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        pipe = stores.redis.pipeline(transaction=False)
        for vote_id in chunk:
            pipe.exists(keys.COUNTED_PREFIX + vote_id)
        found |= {vote_id for vote_id, hit in zip(chunk, pipe.execute(), strict=True) if hit}
    return found


def _answer_ms(j: Judged, quantile: float) -> float:
    seconds = sorted(v.seconds for v in j.ledger.votes)
    value = percentile(seconds, quantile)
    return round(1000 * value, 1) if value is not None else 0.0


def _cpu_table(bursts: Sequence[Judged]) -> str:
    rows = [
        "CPU seconds each process used during the burst (and during the drain after it), "
        "with its share of one core over the burst.",
        "",
        "| part | " + " | ".join(f"{j.route} burst | {j.route} drain" for j in bursts) + " |",
        "| --- |" + " ---: | ---: |" * len(bursts),
    ]
    parts = sorted({p for j in bursts for p in j.cpu_burst})
    for part in parts:
        cells = []
        for j in bursts:
            burst = j.cpu_burst.get(part, 0.0)
            share = 100 * burst / max(j.ledger.span_s, 1e-9)
            cells.append(f"{burst:.2f} s ({share:.0f} %)")
            cells.append(f"{j.cpu_drain.get(part, 0.0):.2f} s ({j.drained_s:.0f} s)")
        rows.append(f"| {part} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _keys(votes: Iterable[newconn.Vote]) -> set[str]:
    return {v.key for v in votes}


def _some(ids: Iterable[str]) -> str:
    return ", ".join(sorted(ids)[:5])


def _minus(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {part: after[part] - before.get(part, 0.0) for part in after}


def _total(stores: Stores) -> int:
    return int(stores.redis.get(keys.TOTAL) or 0)


def _utc(moment: Any) -> datetime:
    if isinstance(moment, str):
        return datetime.strptime(moment, _RECEIVED_AT).replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


if __name__ == "__main__":
    raise SystemExit(main())

"""Locust users that vote through both producers: gRPC (VoteService) and HTTP (producer-wasm).

Run it as ``locust -f load/locustfile.py`` (that file re-exports these users); add
``,load/burst.py`` for the burst shape. The demo runs this very module headless.

Every vote carries an idempotency key derived from the run, the file and the
record index (:mod:`certamen.loadgen.keys`), so a retry after 503 / UNAVAILABLE is
the same vote; retries are bounded (:mod:`certamen.loadgen.retry`). Locust's
statistics show each request; the ledger (:mod:`certamen.loadgen.ledger`) counts
votes: accepted, rejected, failed.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import FastHttpUser, User, constant_throughput, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, Runner, WorkerRunner

from certamen.loadgen.cursor import ReplayCursor, SampleCursor
from certamen.loadgen.keys import check_run_id, replay_key, sample_key
from certamen.loadgen.ledger import Ledger
from certamen.loadgen.options import add_options, options_of
from certamen.loadgen.retry import Backoff
from certamen.votefiles import Record, VoteFile, read_votes, record_body, record_fields

# grpcio must yield to gevent, or one call blocks every Locust user of the process.
grpc_gevent.init_gevent()

log = logging.getLogger("certamen.load")

_RETRY_STATUSES = frozenset({0, 408, 429, 500, 502, 503, 504})
_RETRY_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


@dataclass(frozen=True, slots=True)
class _Accepted:
    pass


@dataclass(frozen=True, slots=True)
class _Rejected:
    rule: str  # "field/rule"


@dataclass(frozen=True, slots=True)
class _Retry:
    reason: str


_Outcome = _Accepted | _Rejected | _Retry


@dataclass(slots=True)
class _Item:
    """One vote to send: its record, its key and (replays) its index in the file."""

    record: Record
    key: str
    index: int | None


@dataclass(slots=True)
class _Contest:
    """What the users of one Locust process share: the file, the cursor and the ledger."""

    environment: Environment
    votes: VoteFile
    run_id: str
    backoff: Backoff
    ledger: Ledger
    ledger_dir: Path | None
    replay: ReplayCursor | None
    sample: SampleCursor | None
    quitting: bool = False
    _writer: Any = field(default=None)

    def next_item(self) -> _Item | None:
        """The next vote for a user, or ``None`` when the replay has none left."""
        if self.sample is not None:
            sequence, index = self.sample.take()
            key = sample_key(self.run_id, self.ledger.worker, sequence)
            return _Item(self.votes.records[index], key, None)
        assert self.replay is not None
        position = self.replay.take()
        if position is None:
            return None
        key = replay_key(self.run_id, self.votes.tag, position)
        return _Item(self.votes.records[position], key, position)

    def done(self, item: _Item) -> None:
        """The item got its final outcome; the replay may now be over."""
        if self.replay is not None and item.index is not None:
            self.replay.done()

    def exhausted(self) -> None:
        """A user found nothing left: stop it, or end the run if it was the last vote."""
        if self.replay is not None and self.replay.finished and not self.quitting:
            self.quitting = True
            self.write(final=True)
            runner = self.environment.runner
            if runner is not None:
                log.info("replay done: %s", _summary(self.ledger))
                gevent.spawn(_quit, runner)
        raise StopUser()

    def write(self, *, final: bool = False) -> None:
        """Write the ledger (when asked for with --ledger-dir)."""
        self.ledger.final = self.ledger.final or final
        if self.ledger_dir is not None:
            self.ledger.write(self.ledger_dir)

    def send(self, item: _Item, route: str, attempt: Callable[[_Item], _Outcome]) -> None:
        """Send one vote with bounded retries and put its final outcome in the ledger."""
        try:
            for delay in [*self.backoff.delays(), None]:
                outcome = attempt(item)
                if isinstance(outcome, _Accepted):
                    self.ledger.accept(route, item.index)
                    return
                if isinstance(outcome, _Rejected):
                    self.ledger.reject(outcome.rule)
                    return
                if delay is None:
                    self.ledger.fail(route, item.index)
                    return
                self.ledger.retry(route)
                gevent.sleep(delay)
        finally:
            self.done(item)


_CONTEST: _Contest | None = None


def _contest(environment: Environment) -> _Contest:
    """The process's contest, built on first use: a worker has the master's options by then."""
    global _CONTEST
    if _CONTEST is None:
        _CONTEST = _build_contest(environment)
    return _CONTEST


def _build_contest(environment: Environment) -> _Contest:
    options = options_of(environment)
    runner = environment.runner
    worker, workers = 0, 1
    if isinstance(runner, WorkerRunner):
        worker, workers = runner.worker_index, max(1, int(options.expect_workers))
    votes = read_votes(Path(options.votes_file))
    run_id = check_run_id(options.run_id)
    replay = ReplayCursor(len(votes), worker, workers) if options.mode == "replay" else None
    sample = (
        SampleCursor(len(votes), seed=options.seed * 1_000 + worker)
        if options.mode == "sample"
        else None
    )
    ledger = Ledger(
        worker=worker,
        workers=workers,
        run_id=run_id,
        tag=votes.tag,
        mode=options.mode,
        share=replay.share if replay is not None else 0,
    )
    contest = _Contest(
        environment=environment,
        votes=votes,
        run_id=run_id,
        backoff=Backoff(attempts=options.attempts),
        ledger=ledger,
        ledger_dir=Path(options.ledger_dir) if options.ledger_dir else None,
        replay=replay,
        sample=sample,
    )
    log.info(
        "worker %d/%d: %s %s (%d records, tag %s), run %s",
        worker,
        workers,
        options.mode,
        votes.path,
        len(votes),
        votes.tag,
        run_id,
    )
    contest._writer = gevent.spawn(_write_every_second, contest)
    return contest


def _write_every_second(contest: _Contest) -> None:
    while not contest.ledger.final:
        contest.write()
        gevent.sleep(1.0)


def _pace(user: User) -> float:
    """Seconds to wait before the user's next call (Locust's constant_throughput when paced)."""
    rate = float(options_of(user.environment).user_rate)
    if rate <= 0:
        return 0.0
    wait: float = constant_throughput(rate)(user)
    return wait


def _quit(runner: Runner) -> None:
    """End this process's run; a worker first hands its last statistics to the master."""
    if isinstance(runner, WorkerRunner):
        runner._send_stats()  # Locust does this only when the master says quit
    runner.quit()


def _summary(ledger: Ledger) -> str:
    return (
        f"accepted {sum(ledger.accepted.values())} {dict(ledger.accepted)}, "
        f"rejected {sum(ledger.rejected.values())}, failed {sum(ledger.failed.values())}, "
        f"retries {sum(ledger.retries.values())}"
    )


def _weights(environment: Environment, **_: Any) -> None:
    """User weights come from options; a route with weight 0 gets no users at all."""
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    GrpcVoter.weight = options.grpc_weight
    WasmVoter.weight = options.wasm_weight
    environment.user_classes = [u for u in environment.user_classes if u.weight > 0]
    if not environment.user_classes:
        raise SystemExit("certamen: --grpc-weight and --wasm-weight are both 0")


def _final_ledger(environment: Environment, **_: Any) -> None:
    if _CONTEST is not None and not isinstance(environment.runner, MasterRunner):
        _CONTEST.write(final=True)
        log.info("votes: %s", _summary(_CONTEST.ledger))


class WasmVoter(FastHttpUser):
    """Votes through producer-wasm: ``POST /votes`` with the record as its JSON body."""

    host = "http://127.0.0.1:8080"

    def wait_time(self) -> float:
        """No wait, or the pace that gives --user-rate calls per second."""
        return _pace(self)

    def on_start(self) -> None:
        """Read the route's options once per user."""
        options = options_of(self.environment)
        self._contest = _contest(self.environment)
        self._path: str = options.wasm_path
        self._timeout: float = options.request_timeout
        self._headers = {"Content-Type": "application/json"}
        if options.wasm_host_header:
            self._headers["Host"] = options.wasm_host_header

    @task
    def vote(self) -> None:
        """Send the next record; stop when the replay is over."""
        item = self._contest.next_item()
        if item is None:
            self._contest.exhausted()
            return
        self._contest.send(item, "wasm", self._attempt)

    def _attempt(self, item: _Item) -> _Outcome:
        headers = {**self._headers, "Idempotency-Key": item.key}
        client: Any = self.client  # FastHttpSession.post takes bytes, though typed str
        with client.post(
            self._path,
            data=record_body(item.record),
            headers=headers,
            name=f"wasm {self._path}",
            catch_response=True,
        ) as response:
            status = response.status_code or 0
            if status in (200, 201, 202):
                response.success()
                return _Accepted()
            if status in _RETRY_STATUSES:
                reason = response.error if status == 0 else status
                response.failure(f"{reason}: will retry")
                return _Retry(str(status))
            rule = _http_rule(response.text or "", status)
            response.failure(f"{status} rejected: {rule}")
            return _Rejected(rule)


class GrpcVoter(User):
    """Votes through producer-grpc: ``VoteService.Cast`` (or ``CastBatch`` with --grpc-batch)."""

    def wait_time(self) -> float:
        """No wait, or the pace that gives --user-rate calls per second."""
        return _pace(self)

    def on_start(self) -> None:
        """One channel per user, reused for every call."""
        options = options_of(self.environment)
        self._contest = _contest(self.environment)
        self._messages: Any = importlib.import_module("certamen._generated.certamen.v1.votes_pb2")
        services: Any = importlib.import_module("certamen._generated.certamen.v1.votes_pb2_grpc")
        channel_options = [("grpc.default_authority", options.grpc_authority)]
        self._channel = grpc.insecure_channel(
            options.grpc_target, options=channel_options if options.grpc_authority else None
        )
        self._stub = services.VoteServiceStub(self._channel)
        self._timeout: float = options.request_timeout
        self._batch: int = max(1, options.grpc_batch)

    def on_stop(self) -> None:
        """Close the user's channel."""
        self._channel.close()

    @task
    def vote(self) -> None:
        """Send the next record (or batch); stop when the replay is over."""
        if self._batch > 1:
            self._vote_batch()
            return
        item = self._contest.next_item()
        if item is None:
            self._contest.exhausted()
            return
        self._contest.send(item, "grpc", self._attempt)

    def _request(self, item: _Item) -> Any:
        return self._messages.CastRequest(**record_fields(item.record))

    def _attempt(self, item: _Item) -> _Outcome:
        try:
            request = self._request(item)
        except ValueError as e:  # a field the message cannot carry: the file's fault
            return _Rejected(f"{_first_field(str(e))}/unknown_field")
        with self._report("Cast") as report:
            try:
                self._stub.Cast(
                    request, metadata=[("idempotency-key", item.key)], timeout=self._timeout
                )
            except grpc.RpcError as e:
                report.fail(e)
                return _grpc_outcome(e)
        return _Accepted()

    def _vote_batch(self) -> None:
        items = []
        for _ in range(self._batch):
            item = self._contest.next_item()
            if item is None:
                break
            items.append(item)
        if not items:
            self._contest.exhausted()
            return
        try:
            self._send_batch(items)
        finally:
            for item in items:
                self._contest.done(item)

    def _send_batch(self, items: list[_Item]) -> None:
        """One CastBatch; votes Kafka did not take are sent again, in a smaller batch."""
        ledger = self._contest.ledger
        pending = items
        for delay in [*self._contest.backoff.delays(), None]:
            pending = self._cast_batch(pending)
            if not pending:
                return
            if delay is None:
                for item in pending:
                    ledger.fail("grpc", item.index)
                return
            for _ in pending:
                ledger.retry("grpc")
            gevent.sleep(delay)

    def _cast_batch(self, items: list[_Item]) -> list[_Item]:
        """Send ``items`` once; put final outcomes in the ledger and return what to retry."""
        ledger = self._contest.ledger
        sendable: list[_Item] = []
        requests = []
        for item in items:
            try:
                request = self._request(item)
            except ValueError as e:
                ledger.reject(f"{_first_field(str(e))}/unknown_field")
                continue
            request.vote_id = item.key
            sendable.append(item)
            requests.append(request)
        if not sendable:
            return []
        with self._report("CastBatch", len(sendable)) as report:
            try:
                response = self._stub.CastBatch(
                    self._messages.CastBatchRequest(votes=requests), timeout=self._timeout
                )
            except grpc.RpcError as e:
                report.fail(e)
                outcome = _grpc_outcome(e)
                if isinstance(outcome, _Rejected):
                    for _ in sendable:
                        ledger.reject(outcome.rule)
                    return []
                return sendable
        retry: list[_Item] = []
        for result in response.results:
            item = sendable[result.index]
            kind = result.WhichOneof("outcome")
            if kind == "receipt":
                ledger.accept("grpc", item.index)
            elif kind == "rejection":
                ledger.reject(f"{result.rejection.field}/{result.rejection.rule}")
            else:
                retry.append(item)
        return retry

    def _report(self, method: str, votes: int = 1) -> _Report:
        return _Report(self.environment, f"grpc {method}", votes)


class _Report:
    """Times a gRPC call and reports it to Locust's request event (UI, CSV, HTML)."""

    def __init__(self, environment: Environment, name: str, votes: int) -> None:
        self._environment = environment
        self._name = name
        self._votes = votes
        self._error: Exception | None = None

    def fail(self, error: Exception) -> None:
        """The call ended in an error status."""
        self._error = error

    def __enter__(self) -> _Report:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        request_event: Any = self._environment.events.request
        request_event.fire(
            request_type="grpc",
            name=self._name,
            response_time=(time.perf_counter() - self._started) * 1000,
            response_length=self._votes,
            exception=self._error,
            context={},
        )


def _grpc_outcome(error: grpc.RpcError) -> _Outcome:
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    if code in _RETRY_CODES:
        return _Retry(code.name)
    if code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(error, grpc.Call):
        trailers = dict(error.trailing_metadata() or ())
        field_name, rule = trailers.get("certamen-field", "?"), trailers.get("certamen-rule", "?")
        return _Rejected(f"{field_name}/{rule}")
    return _Rejected(f"grpc/{code.name.lower()}")


def _http_rule(body: str, status: int) -> str:
    """``field/rule`` from a producer's JSON error, or the status when there is none."""
    try:
        document = json.loads(body)
    except ValueError:
        return f"http/{status}"
    for candidate in _mappings(document):
        if "field" in candidate and "rule" in candidate:
            return f"{candidate['field']}/{candidate['rule']}"
    return f"http/{status}"


def _mappings(document: object) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        yield document
        for value in document.values():
            yield from _mappings(value)
    elif isinstance(document, list):
        for value in document:
            yield from _mappings(value)


def _first_field(message: str) -> str:
    """The field named by protobuf's "Protocol message has no "x" field" error."""
    parts = message.split('"')
    return parts[1] if len(parts) > 2 else "body"


def _listen(hook: Any, handler: Callable[..., None]) -> None:
    """Add a listener to a Locust event hook (untyped in Locust)."""
    hook.add_listener(handler)


_listen(events.init_command_line_parser, add_options)
_listen(events.init, _weights)
_listen(events.test_stop, _final_ledger)

"""Locust users that vote through both producers: gRPC (VoteService) and HTTP (producer-wasm).

Run it as ``locust -f load/locustfile.py`` (that file re-exports these users); add
``,load/burst.py`` for the burst shape. The demo runs this very module headless.

Every vote carries an idempotency key derived from the run, the file and the
record index (:mod:`certamen.operations.loadgen.keys`), so a retry after 503 / UNAVAILABLE is
the same vote; retries are bounded (:mod:`certamen.operations.loadgen.retry`). Locust's
statistics show each request; the ledger (:mod:`certamen.operations.loadgen.ledger`) counts
votes: accepted, rejected, failed.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import FastHttpUser, User, constant_throughput, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from certamen.operations.loadgen.contest import (
    Accepted,
    Item,
    Outcome,
    Rejected,
    Retry,
    shared_contest,
    write_final_ledger,
)
from certamen.operations.loadgen.options import add_options, options_of
from certamen.operations.votefiles import record_body, record_fields

# grpcio must yield to gevent, or one call blocks every Locust user of the process.
grpc_gevent.init_gevent()

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


def _pace(user: User) -> float:
    """Seconds to wait before the user's next call (Locust's constant_throughput when paced)."""
    rate = float(options_of(user.environment).user_rate)
    if rate <= 0:
        return 0.0
    wait: float = constant_throughput(rate)(user)
    return wait


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


class WasmVoter(FastHttpUser):
    """Votes through producer-wasm: ``POST /votes`` with the record as its JSON body."""

    host = "http://127.0.0.1:8080"

    def wait_time(self) -> float:
        """No wait, or the pace that gives --user-rate calls per second."""
        return _pace(self)

    def on_start(self) -> None:
        """Read the route's options once per user."""
        options = options_of(self.environment)
        self._contest = shared_contest(self.environment)
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

    def _attempt(self, item: Item) -> Outcome:
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
                return Accepted()
            if status in _RETRY_STATUSES:
                reason = response.error if status == 0 else status
                response.failure(f"{reason}: will retry")
                return Retry(str(status))
            rule = _http_rule(response.text or "", status)
            response.failure(f"{status} rejected: {rule}")
            return Rejected(rule)


class GrpcVoter(User):
    """Votes through producer-grpc: ``VoteService.Cast`` (or ``CastBatch`` with --grpc-batch)."""

    def wait_time(self) -> float:
        """No wait, or the pace that gives --user-rate calls per second."""
        return _pace(self)

    def on_start(self) -> None:
        """One channel per user, reused for every call."""
        options = options_of(self.environment)
        self._contest = shared_contest(self.environment)
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

    def _request(self, item: Item) -> Any:
        return self._messages.CastRequest(**record_fields(item.record))

    def _attempt(self, item: Item) -> Outcome:
        try:
            request = self._request(item)
        except ValueError as e:  # a field the message cannot carry: the file's fault
            return Rejected(f"{_first_field(str(e))}/unknown_field")
        with self._report("Cast") as report:
            try:
                self._stub.Cast(
                    request, metadata=[("idempotency-key", item.key)], timeout=self._timeout
                )
            except grpc.RpcError as e:
                report.fail(e)
                return _grpc_outcome(e)
        return Accepted()

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

    def _send_batch(self, items: list[Item]) -> None:
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

    def _cast_batch(self, items: list[Item]) -> list[Item]:
        """Send ``items`` once; put final outcomes in the ledger and return what to retry."""
        ledger = self._contest.ledger
        sendable: list[Item] = []
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
                if isinstance(outcome, Rejected):
                    for _ in sendable:
                        ledger.reject(outcome.rule)
                    return []
                return sendable
        retry: list[Item] = []
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


def _grpc_outcome(error: grpc.RpcError) -> Outcome:
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    if code in _RETRY_CODES:
        return Retry(code.name)
    if code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(error, grpc.Call):
        trailers = dict(error.trailing_metadata() or ())
        field_name, rule = trailers.get("certamen-field", "?"), trailers.get("certamen-rule", "?")
        return Rejected(f"{field_name}/{rule}")
    return Rejected(f"grpc/{code.name.lower()}")


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
_listen(events.test_stop, write_final_ledger)

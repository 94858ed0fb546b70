"""Locust users that vote through both producers: gRPC (VoteService) and HTTP (producer-wasm).

Run it as ``locust -f load/locustfile.py`` (that file re-exports these users); add
``,load/burst.py`` for the burst shape. The demo runs this very module headless.

Every vote carries an idempotency key derived from the run, the file and the
record index (:mod:`certamen.operations.loadgen.keys`), so a retry is the same vote;
retries are bounded (:mod:`certamen.operations.loadgen.retry`). What an answer means
(accepted, rejected, refused, unknown) is :mod:`certamen.operations.loadgen.outcomes`';
Locust's statistics show each request, the ledger
(:mod:`certamen.operations.loadgen.ledger`) counts votes by their final class.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

import gevent
import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import FastHttpUser, User, constant_throughput, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from certamen.operations.loadgen.contest import Item, shared_contest, write_final_ledger
from certamen.operations.loadgen.options import add_options, options_of
from certamen.operations.loadgen.outcomes import (
    Accepted,
    Attempts,
    Outcome,
    Rejected,
    Unknown,
    batch_result_outcome,
    grpc_outcome,
    http_outcome,
)
from certamen.operations.votefiles import record_body, record_fields

# grpcio must yield to gevent, or one call blocks every Locust user of the process.
grpc_gevent.init_gevent()


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
            error = getattr(response, "error", None)  # set only when the request failed
            outcome = http_outcome(
                status,
                (response.text or "") if status else "",
                response.headers.get("Retry-After") if status else None,
                sent=not isinstance(error, ConnectionRefusedError),
            )
            if isinstance(outcome, Accepted):
                response.success()
            else:
                response.failure(f"{error if status == 0 else status}: {outcome}")
            return outcome


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
        contest = self._contest
        attempts = {id(item): Attempts() for item in items}
        pending = items
        for delay in [*contest.backoff.delays(), None]:
            pending, wait = self._cast_batch(pending, attempts, delay or 0.0)
            if not pending:
                return
            if delay is None:
                for item in pending:
                    contest.give_up("grpc", item.index, attempts[id(item)])
                return
            for _ in pending:
                contest.ledger.retry("grpc")
            gevent.sleep(wait)

    def _cast_batch(
        self, items: list[Item], attempts: dict[int, Attempts], delay: float
    ) -> tuple[list[Item], float]:
        """Send ``items`` once; put final outcomes in the ledger; what to retry, and when."""
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
            return [], delay
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
                    return [], delay
                if isinstance(outcome, Accepted):  # OK without an answer: cannot happen
                    outcome = Unknown("no answer")
                for item in sendable:
                    attempts[id(item)].add(outcome)
                return sendable, self._contest.wait_before_retry(outcome, delay)
        retry: list[Item] = []
        for result in response.results:
            item = sendable[result.index]
            answer = batch_result_outcome(
                result.WhichOneof("outcome"), result.rejection.field, result.rejection.rule
            )
            if isinstance(answer, Accepted):
                ledger.accept("grpc", item.index)
            elif isinstance(answer, Rejected):
                ledger.reject(answer.rule)
            else:  # not taken, or taken maybe: sent again with its key
                attempts[id(item)].add(answer)
                retry.append(item)
        return retry, delay

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
    """The call's status and trailers, as :func:`outcomes.grpc_outcome` reads them."""
    if not isinstance(error, grpc.Call):
        return grpc_outcome("UNKNOWN", {})
    trailers = {str(k): str(v) for k, v in (error.trailing_metadata() or ())}
    return grpc_outcome(error.code().name, trailers, error.details() or "")


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

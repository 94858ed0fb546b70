"""The RPC handlers: a request becomes a ballot, the Intake casts it, the answer goes back.

They run on grpc.aio's event loop: a vote waiting for Kafka's acknowledgement holds
no thread, where grpcio's thread-pool server would hold one per vote in flight.

``certamen.v1.VoteService`` (Cast, CastBatch) and the original ``confproto.getInfo``
(returnInfo) share the Intake, so both count and answer votes the same way.
Handlers are registered by hand (not through the generated ``*_pb2_grpc``) so that
an undecodable request reaches the handler as an InvalidVote, not grpcio's INTERNAL.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import grpc.aio

from certamen.contract import Ballot, InvalidVote, Vote
from certamen.producers.grpc.errors import abort_with_status
from certamen.producers.grpc.messages import (
    ballot_of,
    batch_result,
    decoder,
    info,
    receipt,
)
from certamen.producers.grpc.protos import (
    CONFPROTO_SERVICE,
    VOTE_SERVICE,
    confproto_pb2,
    votes_pb2,
)
from certamen.producers.intake import Intake, OutcomeUnknown, Refused

Context = grpc.aio.ServicerContext[object, object]
IDEMPOTENCY_KEY = "idempotency-key"
MAX_BATCH = 1000


class VoteHandlers:
    """Both services' handlers over one Intake."""

    def __init__(self, intake: Intake) -> None:
        self._intake = intake

    async def cast(
        self, request: votes_pb2.CastRequest | InvalidVote, context: Context
    ) -> votes_pb2.Receipt:
        """VoteService.Cast: one vote, OK only once Kafka has it."""
        return receipt(await self._one_vote(request, context))

    async def cast_batch(
        self, request: votes_pb2.CastBatchRequest | InvalidVote, context: Context
    ) -> votes_pb2.CastBatchResponse:
        """VoteService.CastBatch: each vote gets its own result, by index."""
        try:
            if isinstance(request, InvalidVote):
                raise request
            if _idempotency_key(context) is not None:
                raise InvalidVote(
                    IDEMPOTENCY_KEY,
                    "unsupported",
                    "CastBatch takes no idempotency-key metadata: set vote_id on each vote",
                )
            if len(request.votes) > MAX_BATCH:
                raise InvalidVote("votes", "too_many", f"at most {MAX_BATCH} votes per batch")
        except InvalidVote as e:
            await abort_with_status(context, e)
        year_now = self._intake.year_now()
        items: list[tuple[Ballot, str | None] | InvalidVote] = []
        for vote in request.votes:
            try:
                items.append((ballot_of(vote, year_now=year_now), None))
            except InvalidVote as e:
                items.append(e)
        outcomes = await self._intake.cast_many(items, deadline_s=context.time_remaining())
        return votes_pb2.CastBatchResponse(
            results=[batch_result(i, outcome) for i, outcome in enumerate(outcomes)]
        )

    async def return_info(
        self, request: confproto_pb2.requestId | InvalidVote, context: Context
    ) -> confproto_pb2.replyInfo:
        """confproto.getInfo.returnInfo: the original contest's call, same rules and errors."""
        return info(await self._one_vote(request, context))

    async def _one_vote(
        self,
        request: votes_pb2.CastRequest | confproto_pb2.requestId | InvalidVote,
        context: Context,
    ) -> Vote:
        """A one-vote call's vote once Kafka has it, or the call aborted with why not."""
        try:
            return await self._intake.cast(
                self._ballot(request),
                _idempotency_key(context),
                deadline_s=context.time_remaining(),
            )
        except (InvalidVote, Refused, OutcomeUnknown) as e:
            await abort_with_status(context, e)

    def _ballot(
        self, request: votes_pb2.CastRequest | confproto_pb2.requestId | InvalidVote
    ) -> Ballot:
        try:
            if isinstance(request, InvalidVote):
                raise request
            return ballot_of(request, year_now=self._intake.year_now())
        except InvalidVote as e:
            self._intake.reject(e)
            raise


def register(server: grpc.aio.Server, handlers: VoteHandlers) -> Sequence[str]:
    """Add both services to ``server``; return their full names (for health and reflection)."""
    services = {
        VOTE_SERVICE: {
            "Cast": grpc.unary_unary_rpc_method_handler(
                handlers.cast,
                request_deserializer=decoder(votes_pb2.CastRequest),
                response_serializer=votes_pb2.Receipt.SerializeToString,
            ),
            "CastBatch": grpc.unary_unary_rpc_method_handler(
                handlers.cast_batch,
                request_deserializer=decoder(votes_pb2.CastBatchRequest),
                response_serializer=votes_pb2.CastBatchResponse.SerializeToString,
            ),
        },
        CONFPROTO_SERVICE: {
            "returnInfo": grpc.unary_unary_rpc_method_handler(
                handlers.return_info,
                request_deserializer=decoder(confproto_pb2.requestId),
                response_serializer=confproto_pb2.replyInfo.SerializeToString,
            ),
        },
    }
    for name, methods in services.items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, methods),))
        # grpcio's faster path for known methods; grpc-stubs predates it
        server.add_registered_method_handlers(name, methods)  # type: ignore[attr-defined]
    return list(services)


def _idempotency_key(context: Context) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == IDEMPOTENCY_KEY:
            return value if isinstance(value, str) else value.decode("ascii", "replace")
    return None

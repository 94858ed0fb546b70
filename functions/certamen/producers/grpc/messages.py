"""gRPC messages <-> the vote contract: nothing but mapping, no rule of its own.

Every check is :func:`certamen.contract.ballot_from_pairs`'s. proto3 cannot tell
an empty string from a field never set, so an empty string is "not given"
(``required``); a field this proto does not know (sent by a newer or foreign
client) is handed on as ``#<number>`` and rejected as ``unknown_field``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from certamen.contract import (
    MAX_BODY_BYTES,
    Ballot,
    InvalidVote,
    Vote,
    ballot_from_pairs,
)
from certamen.producers.grpc.protos import confproto_pb2, votes_pb2
from certamen.producers.intake import OutcomeUnknown, Refused

M = TypeVar("M", bound=Message)
BallotMessage = votes_pb2.CastRequest | confproto_pb2.requestId


def decoder(message_type: type[M]) -> Callable[[bytes], M | InvalidVote]:
    """A request deserializer that turns an undecodable request into an InvalidVote.

    grpcio answers INTERNAL when a deserializer raises; a client's bad bytes are
    its mistake, so the handler gets the error and answers INVALID_ARGUMENT.
    """

    def decode(data: bytes) -> M | InvalidVote:
        try:
            return message_type.FromString(data)
        except DecodeError as e:
            if "UTF-8" in str(e):
                return InvalidVote("body", "utf8", "a text field is not valid UTF-8")
            return InvalidVote("body", "protobuf", f"not a valid {message_type.__name__} message")

    return decode


def ballot_of(request: BallotMessage, *, year_now: int) -> Ballot:
    """The ballot a request carries; raise InvalidVote naming the first broken rule."""
    if request.ByteSize() > MAX_BODY_BYTES:
        raise InvalidVote("body", "too_large", f"the vote is over {MAX_BODY_BYTES} bytes")
    pairs: list[tuple[str, object]] = [
        (name, value)
        for name, value in (
            ("name", request.name),
            ("album", request.album),
            ("year", request.year),
            ("rank", request.rank),
        )
        if value
    ]
    if isinstance(request, votes_pb2.CastRequest) and request.vote_id:
        pairs.append(("vote_id", request.vote_id))
    unknown = UnknownFieldSet(request)
    for i in range(len(unknown)):
        pairs.append((f"#{unknown[i].field_number}", unknown[i].data))
    return ballot_from_pairs(pairs, year_now=year_now)


def receipt(vote: Vote) -> votes_pb2.Receipt:
    """The receipt of a vote Kafka acknowledged."""
    return votes_pb2.Receipt(vote_id=vote.vote_id, received_at=vote.received_at)


def batch_result(
    index: int, outcome: Vote | InvalidVote | Refused | OutcomeUnknown
) -> votes_pb2.CastResult:
    """One vote's outcome in a CastBatch answer."""
    if isinstance(outcome, Vote):
        return votes_pb2.CastResult(index=index, receipt=receipt(outcome))
    if isinstance(outcome, InvalidVote):
        rejection = votes_pb2.Rejection(
            field=outcome.field, rule=outcome.rule, message=outcome.message
        )
        return votes_pb2.CastResult(index=index, rejection=rejection)
    if isinstance(outcome, OutcomeUnknown):
        unknown = votes_pb2.Unknown(vote_id=outcome.vote_id, reason=outcome.error)
        return votes_pb2.CastResult(index=index, unknown=unknown)
    unavailable = votes_pb2.Unavailable(vote_id=outcome.vote_id, reason=outcome.reason)
    return votes_pb2.CastResult(index=index, unavailable=unavailable)


def info(vote: Vote) -> confproto_pb2.replyInfo:
    """The original contract's answer: a friendly sentence that names the vote_id."""
    return confproto_pb2.replyInfo(
        info=(
            f"Vote received: {vote.name} - {vote.album} ({vote.year}), rank {vote.rank}. "
            f"vote_id {vote.vote_id}"
        )
    )

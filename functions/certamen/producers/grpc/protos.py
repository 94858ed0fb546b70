"""The generated protobuf messages, with a clear message when they were not built.

The stubs are not committed: ``python -m certamen.producers.grpc.build`` writes them
into ``certamen._generated`` (``scripts/setup`` and the Dockerfile run it). The
server needs only the message modules; the ``*_pb2_grpc`` client stubs are for
clients (tests, Locust, benchmarks).
"""

from __future__ import annotations

BUILD_COMMAND = "python -m certamen.producers.grpc.build"

try:
    from certamen._generated.certamen.v1 import votes_pb2
    from certamen._generated.confproto import confproto_pb2
except ImportError as e:
    raise ImportError(
        f"the gRPC stubs are not built: run `{BUILD_COMMAND}` (scripts/setup does it)"
    ) from e

VOTE_SERVICE = votes_pb2.DESCRIPTOR.services_by_name["VoteService"].full_name
CONFPROTO_SERVICE = confproto_pb2.DESCRIPTOR.services_by_name["getInfo"].full_name

__all__ = ["BUILD_COMMAND", "CONFPROTO_SERVICE", "VOTE_SERVICE", "confproto_pb2", "votes_pb2"]

"""producer-grpc: votes over gRPC (``certamen.v1.VoteService`` and the original ``confproto``).

A vote is answered OK only once Kafka acknowledged it (see :mod:`certamen.producers.intake`).
The stubs are generated from ``proto/`` by ``python -m certamen.producers.grpc.build``.
Modules: ``protos`` (the generated messages), ``messages`` (messages <-> the vote
contract), ``errors`` (exceptions -> gRPC status, in one place), ``service`` (the
handlers), ``server`` (process wiring: health, reflection, metrics, SIGTERM).
May import the base, ``contract``, ``adapters``, the shared intake
(``certamen.producers.intake``, ``readiness``) and the generated stubs; not producer-wasm.

gRPC's core settings (:data:`CORE_EXPERIMENTS`) are set here because the core reads
``GRPC_EXPERIMENTS`` once, when ``grpc`` is first imported in a process, and every
module of this package that imports ``grpc`` is imported after this one.
"""

import os

# grpcio 1.80 moved the server's listening socket and connections to its EventEngine
# (the ``event_engine_listener`` experiment, on by default since): every read is then
# a hand-off from an EventEngine thread to grpc.aio's polling thread, then to the loop.
# Off, the polling thread reads the sockets itself, as grpcio did up to 1.78: 13 % less
# CPU a call on a no-op server, 14 % less for producer-grpc in the pipeline, 15 % less
# for a connection-per-vote burst (load/results/cost-per-vote.md, "2026-12-07").
# A GRPC_EXPERIMENTS set by the operator is kept as it is.
CORE_EXPERIMENTS = "-event_engine_listener"
os.environ.setdefault("GRPC_EXPERIMENTS", CORE_EXPERIMENTS)

__all__ = ["CORE_EXPERIMENTS"]

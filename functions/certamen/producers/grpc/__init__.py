"""producer-grpc: votes over gRPC (``certamen.v1.VoteService`` and the original ``confproto``).

A vote is answered OK only once Kafka acknowledged it (see :mod:`certamen.producers.intake`).
The stubs are generated from ``proto/`` by ``python -m certamen.producers.grpc.build``.
Modules: ``protos`` (the generated messages), ``messages`` (messages <-> the vote
contract), ``errors`` (exceptions -> gRPC status, in one place), ``service`` (the
handlers), ``server`` (process wiring: health, reflection, metrics, SIGTERM).
May import the base, ``contract``, ``adapters``, the shared intake
(``certamen.producers.intake``, ``readiness``) and the generated stubs; not producer-wasm.
"""

__all__: list[str] = []

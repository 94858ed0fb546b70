"""producer-wasm: HTTP ballots judged by a WebAssembly kernel, queued on Kafka through Intake.

``kernel/`` is the kernel's C source (built into the committed ``ballot.wasm``),
``kernel.py`` runs it, ``app.py`` is the ASGI app and ``server.py`` is
``certamen producer-wasm``. May import the base, ``contract``, ``adapters`` and
the shared intake (``certamen.producers.intake``, ``readiness``); not producer-grpc.
"""

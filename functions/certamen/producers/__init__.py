"""The producers: where a vote enters, is checked against the contract and queued on Kafka.

``grpc/`` (producer-grpc) and ``wasm/`` (producer-wasm, with its WebAssembly
ballot kernel) are the two front doors; ``intake.py`` is the one path both take
into Kafka (validate, count, answer once Kafka acknowledged) and
``readiness.py`` the Kafka probe behind their readiness. May import the base
(``settings``, ``logs``), ``contract`` and ``adapters``; the two producers share
only this folder's intake, never each other.
"""

"""Certamen: a real-time voting system for a contest of Guatemalan music bands.

The folders follow a vote's path: ``contract`` (the ballot, the vote, its
CloudEvent), ``producers`` (gRPC and WebAssembly, with their shared ``intake``
into Kafka), ``source`` (Kafka to the consumer), ``consumer`` (counted once in
Redis, logged in MongoDB), ``adapters`` (the Kafka, Redis and MongoDB clients)
and ``results`` (what the Streamlit app and the audit read), on a base of
``settings`` and ``logs``. ``operations`` holds what an operator runs: the
``certamen`` command, the local stack, the demo, the audit, benchmarks and load.
docs/architecture.md draws it and says which folder may import which.
"""

__version__ = "0.1.0"

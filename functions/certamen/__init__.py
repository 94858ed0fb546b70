"""Certamen: a real-time voting system for a contest of Guatemalan music bands.

The folders follow a vote's path: ``contract`` (the ballot, the vote, its
CloudEvent), ``producers`` (gRPC and WebAssembly, with their shared ``intake``
into Kafka), ``source`` (Kafka to the consumer), ``consumer`` (counted once in
Redis, logged in MongoDB), ``adapters`` (the Kafka, Redis and MongoDB clients)
and ``results`` (what the Streamlit app and the audit read), on a base of
``settings`` and ``logs``. ``operations`` holds what an operator runs: the
``certamen`` command, the local stack, the demo, the audit, benchmarks and load.
docs/architecture.md draws it and says which folder may import which.

Importing the package checks the interpreter first: the versions below are the
ones the tests run on (pyproject.toml's ``requires-python`` says the same), and
any other stops here with one line rather than somewhere deeper with a traceback.
"""

import sys

__version__ = "0.1.0"

SUPPORTED_PYTHON = ((3, 11), (3, 13))  # the first and the last minor version, both included


def _unsupported_python() -> "str | None":
    first, last = SUPPORTED_PYTHON
    if first <= tuple(sys.version_info[:2]) <= last:
        return None
    return (
        f"certamen: Python {sys.version_info[0]}.{sys.version_info[1]} is not supported; "
        f"use Python {first[0]}.{first[1]} to {last[0]}.{last[1]} "
        f"(for scripts/setup: PYTHON=/path/to/python3.11)"
    )


# Written for old interpreters too (no walrus, a quoted annotation): the check runs first.
_PROBLEM = _unsupported_python()
if _PROBLEM:
    raise SystemExit(_PROBLEM)

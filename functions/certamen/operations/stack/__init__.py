"""The local stack: Kafka, Redis, FerretDB and Certamen's own processes on one machine.

``certamen up/down/status/logs`` (:mod:`~certamen.operations.stack.commands`), the
benchmarks and the test fixtures (``tests/conftest.py``) drive the same code:
:mod:`~certamen.operations.stack.parts` says what runs, :mod:`~certamen.operations.stack.runner`
starts and stops it. Part of the operator's side: it may import anything; it starts the running
system's services as processes (``certamen <subcommand>``), never in-process.
"""

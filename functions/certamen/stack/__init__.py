"""The local stack: Kafka, Redis, FerretDB and Certamen's own processes on one machine.

``certamen up/down/status/logs`` (:mod:`certamen.stack.commands`) and the test
fixtures (:mod:`certamen.stack.infra`) drive the same code: :mod:`~certamen.stack.parts`
says what runs, :mod:`~certamen.stack.runner` starts and stops it.
"""

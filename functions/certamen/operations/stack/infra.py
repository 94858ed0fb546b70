"""Kafka, Redis and the MongoDB-protocol server, running and reachable: for the test session.

External servers (their variable set) are only checked; the others are started
with the same code as ``certamen up`` when they are not running yet.
"""

from __future__ import annotations

from certamen.operations.stack import runner
from certamen.operations.stack.console import make_console
from certamen.settings import Settings

INFRA = ("kafka", "redis", "mongodb")


def ensure_infra(settings: Settings) -> None:
    """Make Kafka (with the contest topics), Redis and MongoDB answer, or raise StackError."""
    runner.start(settings, INFRA, make_console(stderr=True))

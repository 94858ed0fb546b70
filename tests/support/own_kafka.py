"""A Kafka of a test's own, for tests that stop it and start it again.

Started and stopped with the stack's runner (``certamen up kafka``'s path) on free
ports of the test's range, with its state under the test's directory: the shared
development Kafka is never touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from certamen.operations.stack import runner
from certamen.operations.stack.console import make_console
from certamen.settings import Settings
from tests.support.processes import free_port


@contextmanager
def running_kafka(settings: Settings, state_dir: Path, ports: range) -> Iterator[Settings]:
    """Settings for a running Kafka of our own (topic ``votes``); stopped afterwards."""
    kafka_port, controller_port = free_port(ports), free_port(ports)
    own = replace(
        settings,
        kafka_bootstrap_servers=f"127.0.0.1:{kafka_port}",
        ports=replace(settings.ports, kafka=kafka_port, kafka_controller=controller_port),
        state_dir=state_dir,
        votes_topic="votes",
        external=frozenset(),
    )
    start_kafka(own)
    try:
        yield own
    finally:
        stop_kafka(own)


def stop_kafka(own: Settings) -> None:
    """Stop the Kafka of ``own`` (as a broker going away)."""
    runner.stop(own, make_console(stderr=True))


def start_kafka(own: Settings) -> None:
    """Start the Kafka of ``own`` again, on the same ports and state."""
    runner.start(own, ["kafka"], make_console(stderr=True))

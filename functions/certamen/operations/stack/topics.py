"""The contest's topics on a freshly started (or external) Kafka: ``votes`` and ``votes-dlq``."""

from __future__ import annotations

import time

from kafka.errors import KafkaError
from rich.console import Console

from certamen.adapters.kafka import contest_topics, ensure_topics, make_admin
from certamen.operations.stack.errors import PartFailed
from certamen.settings import Settings


def create_contest_topics(settings: Settings, out: Console, *, deadline_s: float) -> None:
    """Create the missing contest topics, retrying while a new broker settles."""
    wanted = contest_topics(settings)
    deadline = time.monotonic() + deadline_s
    problem = ""
    while time.monotonic() < deadline:
        try:
            admin = make_admin(settings)
            try:
                created = ensure_topics(admin, wanted)
                missing = {name for name, _ in wanted} - set(admin.list_topics())
            finally:
                admin.close()
        except KafkaError as e:
            problem = str(e) or type(e).__name__
        else:
            for name in created:
                out.print(f"  created topic {name}")
            if not missing:
                return
            problem = f"still missing: {', '.join(sorted(missing))}"
        time.sleep(1.0)
    raise PartFailed("kafka", f"could not create the contest topics: {problem}")

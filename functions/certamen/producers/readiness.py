"""Is Kafka reachable? A background probe, shared by both producers.

gRPC health and HTTP ``/readyz`` report :attr:`KafkaReadiness.ready`, and
:class:`~certamen.producers.intake.Intake` answers Unavailable at once while it is false
instead of holding a request for the whole Kafka timeout. Requests never probe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from certamen.adapters.kafka_producer import client_config
from certamen.settings import Settings

log = logging.getLogger("certamen.readiness")


class KafkaReadiness:
    """Whether Kafka can take votes now, from a check run in a background thread.

    Both producers report it (gRPC health, HTTP ``/readyz``) and give it to
    :class:`Intake`, which then answers Unavailable at once while Kafka is down. A
    request never waits for a probe: it reads :attr:`ready`.
    """

    def __init__(
        self,
        check: Callable[[], None],
        *,
        interval_s: float = 1.0,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._check = check
        self._interval_s = interval_s
        self._on_change = on_change
        self._ready = False
        self._probed = False  # the first answer is reported either way: say so when down at start
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        """The last probe's answer (False until the first probe succeeded)."""
        return self._ready

    def check_now(self) -> bool:
        """Probe once, in the caller's thread; report a change; return the answer."""
        try:
            self._check()
            ready, problem = True, ""
        except Exception as e:  # any failure of the check means "not ready"
            ready, problem = False, f"{type(e).__name__}: {e}"
        if ready != self._ready or not self._probed:
            self._probed = True
            self._ready = ready
            if ready:
                log.info("kafka reachable", extra={"event": "kafka_ready"})
            else:
                log.warning(
                    "kafka unreachable", extra={"event": "kafka_unready", "problem": problem}
                )
            if self._on_change is not None:
                self._on_change(ready)
        return ready

    def start(self) -> None:
        """Probe now and then every ``interval_s``, in a daemon thread (never the caller's)."""
        self._thread = threading.Thread(target=self._loop, name="kafka-readiness", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop probing (waits for a probe in progress)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        self.check_now()
        while not self._stopping.wait(self._interval_s):
            self.check_now()


def kafka_check(settings: Settings, topic: str, *, timeout_s: float = 2.0) -> Callable[[], None]:
    """A check for :class:`KafkaReadiness`: the broker answers and ``topic`` has leaders.

    One librdkafka admin client, created at the first probe and kept: it reconnects
    by itself when Kafka comes back (within ``reconnect.backoff.max.ms``).
    """
    admin: list[AdminClient] = []

    def check() -> None:
        if not admin:
            admin.append(AdminClient(client_config(settings.kafka_bootstrap_servers, "readiness")))
        try:
            metadata = admin[0].list_topics(topic=topic, timeout=timeout_s)
        except KafkaException as e:
            raise KafkaUnreachable(f"no answer from {settings.kafka_bootstrap_servers}") from e
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            problem = described.error if described is not None else "missing"
            raise KafkaUnreachable(f"topic {topic!r}: {problem}")
        partitions = described.partitions.values()
        if not partitions or any(p.leader < 0 for p in partitions):
            raise KafkaUnreachable(f"topic {topic!r} has a partition without a leader")

    return check


class KafkaUnreachable(Exception):
    """Kafka did not answer the probe, or the topic cannot take records."""

"""The consumer's Prometheus metrics, served at ``GET /metrics`` on a port of their own
(``Ports.consumer_metrics``: the CloudEvent function's app routes POST only)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from certamen.consumer.handler import Outcome


class ConsumerMetrics:
    """Events by outcome, failures by cause, and how long handling took."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "certamen_consumer_events",
            "Events handled, by outcome (counted, duplicate, dead_lettered).",
            ["outcome"],
            registry=registry,
        )
        self.outcome = {outcome: self.events.labels(outcome=outcome.value) for outcome in Outcome}
        self.failures = Counter(
            "certamen_consumer_failures",
            "Events answered 5xx (to be retried), by cause (redis, mongodb, stores: still "
            "opening them, unexpected).",
            ["cause"],
            registry=registry,
        )
        self.latency = Histogram(
            "certamen_consumer_handle_seconds",
            "Time to log and count one event (MongoDB insert + Redis script).",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.batch_size = Histogram(
            "certamen_consumer_batch_votes",
            "Votes committed together (one insert_many, one Redis script call).",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )

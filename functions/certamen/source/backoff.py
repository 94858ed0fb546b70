"""KafkaSource's retry rules: which answers are retried, and how long to wait before each retry.

Knative's dispatcher (eventing-kafka-broker, ``WebClientCloudEventSender``) retries
5xx, 404, 408, 409 and 429, and any failure without an answer (connection refused,
timeout); every other status >= 300 goes to the dead-letter sink at once. Before
retry ``n`` (1, 2, ...) it waits ``delay * n`` (linear) or ``delay * 2**n`` (exponential).
"""

from __future__ import annotations

from dataclasses import dataclass

from certamen.settings import BackoffPolicy, SourceSettings

RETRYABLE_4XX = frozenset({404, 408, 409, 429})


def is_success(status: int) -> bool:
    """2xx is success; anything else (including 1xx and 3xx) is a failure."""
    return 200 <= status < 300


def is_retryable(status: int | None) -> bool:
    """Whether a failed delivery is tried again; ``None`` means no answer at all."""
    return status is None or status >= 500 or status in RETRYABLE_4XX


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``delivery.retry``, ``backoffPolicy`` and ``backoffDelay`` of a KafkaSource spec."""

    retry: int
    policy: BackoffPolicy
    delay_s: float

    @classmethod
    def from_settings(cls, source: SourceSettings) -> RetryPolicy:
        """The policy configured for the local source."""
        return cls(retry=source.retry, policy=source.backoff_policy, delay_s=source.backoff_delay_s)

    def delay_before(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (counting from 1)."""
        if retry < 1:
            raise ValueError(f"retries count from 1, not {retry}")
        if self.policy == "linear":
            return self.delay_s * retry
        return self.delay_s * float(2**retry)

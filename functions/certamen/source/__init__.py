"""The local KafkaSource: records of the ``votes`` topic POSTed to the consumer as CloudEvents.

Same semantics as Knative's KafkaSource (ordering, retries, backoff, dead-letter
sink, commit after success); ``runner.py`` is ``certamen source``. May import
the base (``settings``, ``logs``), ``contract`` and ``adapters``; never another
service or ``operations``.
"""

from certamen.source.backoff import RetryPolicy, is_retryable
from certamen.source.events import KafkaRecord, OutgoingEvent, outgoing_event
from certamen.source.offsets import PartitionProgress

__all__ = [
    "KafkaRecord",
    "OutgoingEvent",
    "PartitionProgress",
    "RetryPolicy",
    "is_retryable",
    "outgoing_event",
]

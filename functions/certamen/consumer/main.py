"""The consumer function: a functions-framework CloudEvent function, served in ASGI mode.

``functions-framework --asgi --target=count_vote --signature-type=cloudevent
--source=<this file>`` (``serve.py``) runs it on gunicorn with uvicorn's worker
(uvloop, httptools): one event loop per worker (serve.py says why). The framework
reads the request into a CloudEvent (the SDK's ``from_http``) and calls
``count_vote(event)``; the function sees the event only, never the request. What
follows from that signature (docs/exactly-once.md, "The consumer's signature"):

- The data is as the SDK decoded it: a JSON body becomes a dict (or list,
  number...), anything else stays bytes. ``certamen.contract.vote_from_event``
  checks either; a dead letter stores the data as the SDK gave it, JSON written
  compactly (``documents.data_bytes``).
- The SDK fills in a ``time`` when an event came without one, and leaves ``ce-``
  header values percent-encoded: a dead letter's attributes are decoded
  (``documents.arrived_attributes``) and show that invented ``time``.
- Partition and offset: only a record KafkaSource wrapped (``dev.knative.kafka.event``)
  says where it was, in its id and source; a vote passes through unchanged and
  says nothing, so its document's ``partition``/``offset`` are ``None``, as on
  Knative. HTTP headers beside the event are not seen.
- ``/metrics``: the CloudEvent app routes POST only, so the Prometheus registry is
  served on a port of its own (``Ports.consumer_metrics``, 9466), by a thread
  that each worker starts right after gunicorn forks it (``CountVote.serve_metrics``).

A request that is no CloudEvent is answered 400 by the framework, before the
function runs ("Bad Request: Got CloudEvent exception: ..."); every other
outcome's status is decided in ``function.py``.

gunicorn's master imports this module and never serves a request, so nothing is
built when it is imported: each worker builds its :class:`CountVote` (settings,
metrics, then its own Redis and MongoDB clients on its first event) after the
fork, and keeps it for its life. ``certamen consumer`` (serve.py) has already
checked the settings and both stores, created the indexes and seeded the counters.
"""

from __future__ import annotations

import os

import functions_framework.aio
from cloudevents.http import CloudEvent

from certamen.consumer.function import CountVote
from certamen.logs import configure_json_logging
from certamen.serving import tune_gc_for_serving
from certamen.settings import load

_worker: CountVote | None = None


def worker_function() -> CountVote:
    """This process's function, built once: settings read, JSON logging, metrics served,
    the garbage collector tuned for serving.

    Right after gunicorn forks the worker (below), or on the first event without a
    fork (``functions-framework --debug``).
    """
    global _worker
    if _worker is None:
        configure_json_logging()
        _worker = CountVote(load())
        _worker.serve_metrics()
        tune_gc_for_serving()
    return _worker


@functions_framework.aio.cloud_event
async def count_vote(event: CloudEvent) -> None:
    """Log and count the vote the event carries, exactly once; poison becomes a dead letter."""
    await worker_function()(event)


# Each gunicorn worker is ready, metrics served, from the start, not from its first event.
os.register_at_fork(after_in_child=worker_function)

"""``certamen consumer``: check the stores, then become ``functions-framework --asgi``.

Why ASGI: the consumer is a function that mostly waits (for the group commit that
writes its vote with the others: one MongoDB ``insert_many``, one Redis script call),
and waiting is what an event loop does for free. functions-framework's ASGI mode
serves ``functions_framework.aio`` functions with gunicorn and uvicorn's worker
(uvloop, httptools), which costs a fraction of the CPU per request of the default
Flask-on-threads serving (load/results/consumer.md). Concurrency is not a thread
count: every request in flight is a coroutine on the one loop, so the group
commit's batch is whatever arrived while the previous batch was written.

``WORKERS = 1``, fixed here rather than derived from ``os.cpu_count()``: one process
per instance. On Knative an instance is the unit of scale (the autoscaler adds
pods), and locally the machine's cores are shared with Kafka, Redis, MongoDB and
the source; a second worker would also open a second set of clients, halve the
batches and split the Prometheus metrics (and find their port taken: each worker
serves its registry on ``Ports.consumer_metrics``, function.py says why).

The process is replaced (``exec``) by functions-framework, so signals and the pid
are gunicorn's: SIGTERM lets in-flight requests finish.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from certamen.adapters.errors import StoreUnavailable
from certamen.consumer import main
from certamen.consumer.startup import open_stores
from certamen.contract import CatalogError
from certamen.settings import Settings, child_environment

WORKERS = 1
FUNCTION_SOURCE = Path(__file__).with_name("main.py")
TARGET = main.count_vote.__name__
STARTUP_WAIT_S = 30.0  # a store that restarts is normal operation: wait for it, then give up


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Prepare the stores (indexes, catalog counters at 0), then exec functions-framework."""
    try:
        _prepare(settings)
    except (StoreUnavailable, CatalogError) as e:
        print(f"certamen consumer: cannot start: {e}", file=sys.stderr)
        return 1
    argv = command(settings)
    os.execve(sys.executable, argv, child_environment(server_environment(settings)))


def _prepare(settings: Settings) -> None:
    """Check the stores, create the indexes, seed the counters; wait a while for a store."""
    deadline = time.monotonic() + STARTUP_WAIT_S
    while True:
        try:
            open_stores(settings, prepare=True).close()
            return
        except StoreUnavailable as e:
            if time.monotonic() > deadline:
                raise
            print(f"certamen consumer: waiting: {e}", file=sys.stderr)
            time.sleep(1.0)


def command(settings: Settings) -> list[str]:
    """The functions-framework command line (also used by the benchmarks)."""
    return [
        sys.executable,
        "-m",
        "functions_framework",
        "--asgi",
        f"--target={TARGET}",
        f"--source={FUNCTION_SOURCE}",
        "--signature-type=cloudevent",
        f"--host={settings.bind_host}",
        f"--port={listen_port(settings)}",
    ]


def listen_port(settings: Settings) -> int:
    """``PORT`` when the platform sets it, else the local consumer port (8081)."""
    return settings.port if settings.port is not None else settings.ports.consumer


def server_environment(settings: Settings) -> dict[str, str]:
    """What functions-framework's gunicorn reads: the workers and the port."""
    return {
        "WORKERS": str(WORKERS),
        "PORT": str(listen_port(settings)),
    }

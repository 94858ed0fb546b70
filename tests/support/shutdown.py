"""SIGTERM in the middle of a load: the one drill both producers' shutdown tests run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sized

SENDERS = 16
ACKNOWLEDGED_BEFORE_SIGTERM = 300


def terminate_under_load(
    sender: Callable[[int], None],
    *,
    acknowledged: Sized,
    stop: threading.Event,
    terminate: Callable[[], int],
    join_s: float,
) -> int:
    """Run ``SENDERS`` threads of ``sender(number)``; SIGTERM the server mid-load.

    ``terminate`` is called once ``acknowledged`` holds ``ACKNOWLEDGED_BEFORE_SIGTERM``
    votes (or after 20 s), while the senders go on sending; then ``stop`` is set and
    the senders are joined. Returns the server's exit code.
    """
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(acknowledged) < ACKNOWLEDGED_BEFORE_SIGTERM and time.monotonic() < deadline:
            time.sleep(0.01)
        return terminate()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=join_s)

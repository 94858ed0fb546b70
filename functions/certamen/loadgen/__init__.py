"""Load generation shared by Locust (``load/``) and ``certamen demo``: pure parts, no Locust.

The Locust users themselves are in :mod:`certamen.loadgen.locustfile` (imported
only by Locust: it patches the process for gevent), the burst shape in
:mod:`certamen.loadgen.burst`.
"""

from certamen.loadgen.cursor import ReplayCursor, SampleCursor
from certamen.loadgen.keys import (
    ReplayKey,
    check_run_id,
    new_run_id,
    parse_replay_key,
    replay_key,
    replay_prefix,
    sample_key,
)
from certamen.loadgen.ledger import Ledger, LedgerTotals, read_ledgers
from certamen.loadgen.retry import Backoff
from certamen.loadgen.shape import BurstPlan

__all__ = [
    "Backoff",
    "BurstPlan",
    "Ledger",
    "LedgerTotals",
    "ReplayCursor",
    "ReplayKey",
    "SampleCursor",
    "check_run_id",
    "new_run_id",
    "parse_replay_key",
    "read_ledgers",
    "replay_key",
    "replay_prefix",
    "sample_key",
]

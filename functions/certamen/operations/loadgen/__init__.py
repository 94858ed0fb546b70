"""Load generation shared by Locust (``load/``) and ``certamen demo``: pure parts, no Locust.

The Locust users themselves are in :mod:`certamen.operations.loadgen.locustfile` (imported
only by Locust: it patches the process for gevent), the burst shape in
:mod:`certamen.operations.loadgen.burst`. Part of the operator's side: it may import
anything, and talks to the producers only over the network, as a voter does.
"""

from certamen.operations.loadgen.cursor import ReplayCursor, SampleCursor
from certamen.operations.loadgen.keys import (
    ReplayKey,
    check_run_id,
    new_run_id,
    parse_replay_key,
    replay_key,
    replay_prefix,
    sample_key,
)
from certamen.operations.loadgen.ledger import Ledger, LedgerTotals, read_ledgers
from certamen.operations.loadgen.retry import Backoff
from certamen.operations.loadgen.shape import LOCUST_TICK_S, BurstPlan

__all__ = [
    "LOCUST_TICK_S",
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

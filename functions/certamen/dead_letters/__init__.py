"""Dead letters put right: listed, previewed and replayed through the consumer's own path.

Shared by ``certamen dead-letters`` (``operations``) and the Streamlit app's
dead-letters page; a replay is the consumer's ``Handler`` run from another
process, so this part may import the consumer, besides the contract, the adapters
and the base (docs/architecture.md, docs/dead-letters.md).
"""

from certamen.dead_letters.desk import LEASE, DeadLetters
from certamen.dead_letters.model import (
    DeadLetter,
    LetterOutcome,
    Outcome,
    Replayed,
    ReplayRecord,
    ReplayReport,
    Selection,
    SelectionError,
)
from certamen.dead_letters.stored_event import NotReplayable, stored_event

__all__ = [
    "LEASE",
    "DeadLetter",
    "DeadLetters",
    "LetterOutcome",
    "NotReplayable",
    "Outcome",
    "ReplayRecord",
    "ReplayReport",
    "Replayed",
    "Selection",
    "SelectionError",
    "stored_event",
]

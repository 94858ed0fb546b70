"""Receipts of recently accepted votes, by idempotency key: a retry gets the first answer.

A client that retries a vote it already got 202 for (a lost response, a
timeout) sends the same key and the same ballot; answering from here keeps the
vote on the topic once. The cache is per process and bounded: a retry that
misses it is sent again, and the consumer, idempotent by vote_id, counts it once.
A different ballot under a known key is not answered from here: Intake decides.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, NamedTuple

CAPACITY: Final = 10_000


class Receipt(NamedTuple):
    """What a 202 tells the client."""

    vote_id: str
    received_at: str


class Receipts:
    """A bounded map of (key, canonical ballot bytes) to the receipt given for them."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[bytes, Receipt]] = OrderedDict()

    def get(self, key: str, ballot: bytes) -> Receipt | None:
        """The receipt already given for this key and ballot, if any."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != ballot:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, ballot: bytes, receipt: Receipt) -> None:
        """Remember a receipt; the least recently used entry goes when full."""
        self._entries[key] = (ballot, receipt)
        self._entries.move_to_end(key)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

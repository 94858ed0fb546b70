"""Waiting that a stop cuts short: the reader's and the delivery's pauses all end on SIGTERM."""

from __future__ import annotations

import asyncio


async def wait_or_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds``; True (at once) when ``stopping`` is or becomes set."""
    if stopping.is_set():
        return True
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return False
    return True

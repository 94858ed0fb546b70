"""What can go wrong while setting up or running the local stack, as messages a user can act on."""

from __future__ import annotations


class StackError(RuntimeError):
    """Base of the stack's errors: the message says what failed and what to do."""


class ToolMissing(StackError):
    """A program the stack needs (java, mvn, go, redis-server) is absent or too old."""


class PartFailed(StackError):
    """A part did not start, did not become ready, or an external server is unreachable."""

    def __init__(self, part: str, problem: str) -> None:
        super().__init__(f"{part}: {problem}")
        self.part = part

"""Structured logs: one JSON object per line on stderr, for the workloads' processes.

``extra={...}`` fields of a log call become keys of the object, so a log line is
``{"time": ..., "level": "info", "logger": "certamen.producer_grpc", "message":
"serving", "port": 50051}``: easy to grep, and what log collectors expect.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON, ``extra`` fields included."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def configure_json_logging(level: int = logging.INFO, quiet: tuple[str, ...] = ("kafka",)) -> None:
    """Send every logger's records to stderr as JSON lines (call once, at a process's start).

    ``quiet`` loggers (kafka-python's connection chatter by default) log warnings and up.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in quiet:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


class Sparing:
    """When to say again a line that repeats: at once the first time, then every ``every_s``.

    A server that is away fails every request, and a client library reports every
    reconnect: said each time, such lines bury the rest of the log. Keyed by kind,
    so that two different problems are each said.
    """

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last_said: dict[Hashable, float] = {}
        self._held_back: dict[Hashable, int] = {}

    def due(self, key: Hashable) -> int | None:
        """None: hold this one back; else say it, and this many were held back since last."""
        now = self._clock()
        last = self._last_said.get(key)
        if last is not None and now - last < self._every_s:
            self._held_back[key] = self._held_back.get(key, 0) + 1
            return None
        self._last_said[key] = now
        return self._held_back.pop(key, 0)

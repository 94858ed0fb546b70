"""librdkafka's log, where a broker that is away is said once, not several times a second.

Kafka going away and coming back is normal operation. While it is away, librdkafka
logs a ``FAIL`` line (and now and then an ``ERROR`` line: "all brokers are down")
for every reconnect attempt: two or three lines a second per client, at error
level, burying everything else in the log. Our own code already says what matters
(the producers' readiness logs "kafka unreachable" and "kafka reachable" once per
change; requests get UNAVAILABLE/503).

So the first line of a kind is logged at once, and the same kind (facility and
client) again at most every :data:`REPEAT_EVERY_S` seconds, saying how many lines
were held back in between. Every other facility passes through untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from certamen.logs import Sparing

REPEAT_EVERY_S: Final = 30.0
"""How often a repeated broker failure of one client is logged again."""

RATE_LIMITED: Final = frozenset({"FAIL", "ERROR"})
"""librdkafka's facilities for a broker connection that failed or went down."""


class BrokerFailureLog:
    """A ``logger`` for librdkafka's config: passes lines on, repeated failures sparingly.

    confluent-kafka calls ``log(level, "%s [%s] %s", facility, client, text)`` from
    whichever thread serves the client (``poll()``, ``consume()``...).
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        every_s: float = REPEAT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._every_s = every_s
        self._sparing = Sparing(every_s, clock)

    def log(self, level: int, msg: str, *args: object) -> None:
        """Log one librdkafka line, unless the same kind was logged less than ``every_s`` ago."""
        if len(args) != 3 or args[0] not in RATE_LIMITED:
            self._logger.log(level, msg, *args)
            return
        held = self._sparing.due((args[0], args[1]))
        if held is None:
            return
        if held:
            msg += " (%d more like it held back, said at most every %.0f s)"
            args = (*args, held, self._every_s)
        self._logger.log(level, msg, *args)

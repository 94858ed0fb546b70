"""The tests empty only what is theirs: the Redis database they claimed, never anyone else's.

``scripts/test`` runs beside whatever the machine runs: the demo's stack on the
default ports (its tally in Redis database 0), or a server ``REDIS_URL`` names.
Topics and MongoDB databases the tests create under new names and drop; a Redis
database cannot be created, so the session *claims* one: it must be empty, or carry
:data:`OWNER_KEY` from an earlier session, and it gets that key. Every FLUSHDB of
the tests goes through :func:`empty_redis`, which checks the key first: a database
with anything else in it is refused with a clear error and left as it was.
"""

from __future__ import annotations

import redis

from certamen.settings import redact_url

OWNER_KEY = "certamen:tests:owner"
_OWNER_NOTE = "the Certamen test suite empties this database; keep nothing else here"


class NotTheTestsOwn(RuntimeError):
    """A Redis database holds keys the tests did not write: they refuse to empty it."""


def claim_redis(url: str) -> None:
    """Make ``url``'s Redis database the tests' own, or refuse (it holds someone's keys)."""
    client = redis.Redis.from_url(url)
    try:
        if client.exists(OWNER_KEY):
            return
        keys = client.dbsize()
        if keys:
            raise NotTheTestsOwn(_refusal(url, keys))
        client.set(OWNER_KEY, _OWNER_NOTE)
    finally:
        client.close()


def empty_redis(client: redis.Redis) -> None:
    """FLUSHDB the tests' own database (checked in the same transaction), then mark it again."""
    with client.pipeline(transaction=True) as pipe:
        pipe.watch(OWNER_KEY)
        if not pipe.exists(OWNER_KEY):
            pipe.unwatch()
            kwargs = client.connection_pool.connection_kwargs
            url = f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
            raise NotTheTestsOwn(_refusal(url, int(client.dbsize())))
        pipe.multi()
        pipe.flushdb()
        pipe.set(OWNER_KEY, _OWNER_NOTE)
        pipe.execute()


def _refusal(url: str, keys: int) -> str:
    return (
        f"the tests will not empty Redis {redact_url(url)}: it holds {keys} key(s) that are "
        f"not the tests' own (no {OWNER_KEY!r} key). Point REDIS_URL at an empty database "
        "(the tests use database 15 when REDIS_URL names database 0), or empty it yourself "
        "if nothing in it matters."
    )

"""The write side of the live tally in Redis: every count is one atomic, idempotent Lua script.

The script sets each vote's dedup marker (``votes:counted:<vote_id>``) and, only if
the marker is new, increments that vote's counters; then the per-second rate series,
once for the batch it was given (one call per group commit). A
redelivered or concurrent copy of a vote finds the marker and changes nothing, so
"count again" is always safe (docs/exactly-once.md). Key names live in
``redis_keys``; docs/redis-keys.md describes each one.

Dead letters likewise: each letter's state (open under a rule, or replayed) is a
field of one hash, and the scripts that count a letter, put it right or move it to
a new rule change the counters only when they change that state
(docs/dead-letters.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry

from certamen.adapters import redis_keys as keys
from certamen.adapters.errors import StoreUnavailable
from certamen.contract import CHANNELS, Catalog, Vote, album_key
from certamen.contract.ballot import json_number
from certamen.settings import Settings

# A marker must outlive every redelivery of its record: ``votes`` keeps records 7 days
# and ``votes-dlq`` (replayed by hand after a fix) 30 days (knative/kafka/topics.yaml),
# so 31 days. Longer retention needs a longer TTL (docs/exactly-once.md).
MARKER_TTL_S = 31 * 24 * 3600
PER_SECOND_KEEP_S = 3600  # per-second fields older than an hour are trimmed
RATE_MAXLEN = 86_400  # one day of sealed seconds in the stream (approximate trim)
SEAL_AT_MOST = 60  # seconds sealed at once after a quiet spell
# Fail fast when Redis is away (the delivery is retried by the source), but survive
# one stale pooled connection after a Redis restart.
_TIMEOUT_S = 2.0
_RETRY = Retry(ExponentialBackoff(cap=0.1, base=0.01), 1)

# Counts a batch of votes in one call, each vote as before: its marker set only if new,
# and only then its counters; the per-second series once for the batch.
# KEYS: total by_band by_album by_channel rank_sum per_second rate sealed, then one marker
#       per vote
# ARGV: ttl keep_s maxlen seal_at_most, then band album_key channel rank per vote
# Returns one 1 (counted now) or 0 (its marker was there) per vote, in order.
_COUNT_VOTES = """
local ttl = ARGV[1]
local counted = {}
local new = 0
for i = 9, #KEYS do
  local a = 5 + (i - 9) * 4
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
    new = new + 1
    counted[i - 8] = 1
    redis.call('HINCRBY', KEYS[2], ARGV[a], 1)
    redis.call('HINCRBY', KEYS[3], ARGV[a + 1], 1)
    redis.call('HINCRBY', KEYS[4], ARGV[a + 2], 1)
    redis.call('HINCRBYFLOAT', KEYS[5], ARGV[a + 1], ARGV[a + 3])
  else
    counted[i - 8] = 0
  end
end
if new == 0 then
  return counted
end
redis.call('INCRBY', KEYS[1], new)
local now = tonumber(redis.call('TIME')[1])
if redis.call('HINCRBY', KEYS[6], now, new) == new then
  local sealed = tonumber(redis.call('GET', KEYS[8]))
  if sealed == nil then
    sealed = now - 1
  end
  local first = math.max(sealed + 1, now - tonumber(ARGV[4]))
  for second = first, now - 1 do
    local votes = redis.call('HGET', KEYS[6], second) or '0'
    redis.pcall('XADD', KEYS[7], 'MAXLEN', '~', ARGV[3],
                string.format('%d-1', second * 1000), 'votes', votes)
  end
  if now - 1 > sealed or redis.call('EXISTS', KEYS[8]) == 0 then
    redis.call('SET', KEYS[8], now - 1)
  end
  local keep = tonumber(ARGV[2])
  if redis.call('HLEN', KEYS[6]) > keep + 100 then
    for _, field in ipairs(redis.call('HKEYS', KEYS[6])) do
      if tonumber(field) < now - keep then
        redis.call('HDEL', KEYS[6], field)
      end
    end
  end
end
return counted
"""
_COUNTERS = (
    keys.TOTAL,
    keys.BY_BAND,
    keys.BY_ALBUM,
    keys.BY_CHANNEL,
    keys.RANK_SUM,
    keys.PER_SECOND,
    keys.RATE_STREAM,
    keys.RATE_SEALED,
)

# The dead-letter scripts share KEYS: state dead_letters by_reason replayed old_marker, and
# start alike: ``state`` is the letter's field in the state hash, ``counted`` the rule it is
# counted open under (false if it is not counted open). A letter counted before the state
# hash existed has only its old marker (votes:dead_lettered:<sha1>, with a TTL): it is
# counted open under the rule the caller knows (ARGV[2]).
_LETTER_STATE = """
local state = redis.call('HGET', KEYS[1], ARGV[1])
local counted = false
if state and state ~= 'replayed' then
  counted = string.sub(state, 6)
elseif not state and redis.call('EXISTS', KEYS[5]) == 1 then
  counted = ARGV[2]
end
"""

# The consumer dead-letters an event: count it once.   ARGV: field rule
_COUNT_DEAD_LETTER = (
    _LETTER_STATE
    + """
if state or counted then
  if not state then
    redis.call('HSET', KEYS[1], ARGV[1], 'open:' .. counted)
  end
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], 'open:' .. ARGV[2])
redis.call('INCR', KEYS[2])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return 1
"""
)

# A replay counted the letter's vote: it leaves the open letters, once.   ARGV: field rule
_RESOLVE_DEAD_LETTER = (
    _LETTER_STATE
    + """
if state == 'replayed' then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], 'replayed')
redis.call('INCR', KEYS[4])
if counted then
  redis.call('DECR', KEYS[2])
  redis.call('HINCRBY', KEYS[3], counted, -1)
end
return 1
"""
)

# A replay found the letter breaking a rule again: it is open under that rule, once.
# ARGV: field rule_before rule_now
_RECLASSIFY_DEAD_LETTER = (
    _LETTER_STATE
    + """
if state == 'replayed' or state == 'open:' .. ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], 'open:' .. ARGV[3])
if counted then
  redis.call('HINCRBY', KEYS[3], counted, -1)
else
  redis.call('INCR', KEYS[2])
end
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
return 1
"""
)

# KEYS: sealed rate   ARGV: maxlen
# A new contest's rate series: the last second sealed, at 0 votes (the counting script
# seals from there on). A series that exists already is left alone.
_START_RATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local sealed = tonumber(redis.call('TIME')[1]) - 1
redis.call('SET', KEYS[1], sealed)
redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], string.format('%d-1', sealed * 1000),
            'votes', '0')
return 1
"""
# Dead-letter reasons shown at 0 from a contest's start (others appear with their first
# letter): a key reused for another ballot, a vote the catalog does not hold, a record
# that is no vote event.
SEEDED_DEAD_LETTER_RULES = ("conflict", "not_in_catalog", "unknown_type")


def make_redis(settings: Settings) -> redis.Redis:
    """The process's Redis client (a thread-safe pool), short timeouts: fail fast, retry later."""
    client: redis.Redis = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=_TIMEOUT_S,
        socket_connect_timeout=_TIMEOUT_S,
        retry=_RETRY,
        health_check_interval=15,
    )
    return client


@contextmanager
def unavailable_as_store_error() -> Iterator[None]:
    """Turn redis-py's connection and timeout errors into :class:`StoreUnavailable`."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as e:
        raise StoreUnavailable("redis", str(e) or type(e).__name__) from e


class TallyWriter:
    """Counts votes and dead letters in Redis, each exactly once; scripts are loaded once."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._count_votes_script = client.register_script(_COUNT_VOTES)
        self._count_dead_letter = client.register_script(_COUNT_DEAD_LETTER)
        self._resolve_dead_letter = client.register_script(_RESOLVE_DEAD_LETTER)
        self._reclassify_dead_letter = client.register_script(_RECLASSIFY_DEAD_LETTER)
        self._start_rate = client.register_script(_START_RATE)

    def ping(self) -> None:
        """Check that Redis answers (at start-up)."""
        with unavailable_as_store_error():
            self._client.ping()

    def count_votes(self, votes: Sequence[Vote]) -> list[bool]:
        """Count each vote unless its marker says it was counted (per vote: True when counted
        now), with one script call for them all: atomic as a whole, so each vote's marker
        and counters still change together or not at all.

        ``EVALSHA`` straight away; only when Redis lost its script cache (a restart)
        is the script loaded and sent again: it did not run the first time.
        """
        if not votes:
            return []
        script_keys: list[str] = [*_COUNTERS]
        args: list[Any] = [MARKER_TTL_S, PER_SECOND_KEEP_S, RATE_MAXLEN, SEAL_AT_MOST]
        for vote in votes:
            script_keys.append(keys.COUNTED_PREFIX + vote.vote_id)
            args += [vote.name, vote.album_key, vote.channel, json_number(vote.rank)]
        sha = self._count_votes_script.sha
        with unavailable_as_store_error():
            try:
                counted = self._client.evalsha(sha, len(script_keys), *script_keys, *args)
            except redis.exceptions.NoScriptError:
                self._client.script_load(_COUNT_VOTES)
                counted = self._client.evalsha(sha, len(script_keys), *script_keys, *args)
        return [bool(c) for c in counted]

    def count_dead_letter(self, letter_id: str, rule: str) -> bool:
        """Count a dead letter under its rule, once per letter id; True when counted now."""
        return self._dead_letter(self._count_dead_letter, letter_id, rule)

    def resolve_dead_letter(self, letter_id: str, rule: str) -> bool:
        """A replay counted the letter's vote: take the letter out of the open ones (from
        the rule Redis has for it; ``rule`` only for a letter counted under the old
        marker), once; True when done now."""
        return self._dead_letter(self._resolve_dead_letter, letter_id, rule)

    def reclassify_dead_letter(self, letter_id: str, rule_before: str, rule_now: str) -> bool:
        """A replay found the letter breaking ``rule_now``: count it open under that rule
        (counting it if it was not yet), once per change; True when changed now."""
        return self._dead_letter(self._reclassify_dead_letter, letter_id, rule_before, rule_now)

    def _dead_letter(self, script: Script, letter_id: str, *rules: str) -> bool:
        field = hashlib.sha1(letter_id.encode()).hexdigest()
        script_keys = [
            keys.DEAD_LETTERS_STATE,
            keys.DEAD_LETTERS,
            keys.DEAD_LETTERS_BY_REASON,
            keys.DEAD_LETTERS_REPLAYED,
            keys.DEAD_LETTER_MARKER_PREFIX + field,
        ]
        with unavailable_as_store_error():
            return bool(script(keys=script_keys, args=[field, *rules]))

    def seed_contest(self, catalog: Catalog | None) -> None:
        """Create at 0 every counter a dashboard or the app reads, never touching a count.

        The total, both channels, the dead letters (and the usual reasons), the rate
        series from now on; with a catalog, every candidate band and album too (an open
        contest knows its bands only from their first votes).
        """
        pipe = self._client.pipeline(transaction=True)
        pipe.setnx(keys.TOTAL, 0)
        pipe.setnx(keys.DEAD_LETTERS, 0)
        pipe.setnx(keys.DEAD_LETTERS_REPLAYED, 0)
        for rule in SEEDED_DEAD_LETTER_RULES:
            pipe.hsetnx(keys.DEAD_LETTERS_BY_REASON, rule, 0)
        for channel in CHANNELS:
            pipe.hsetnx(keys.BY_CHANNEL, channel, 0)
        for candidate in catalog.candidates if catalog is not None else ():
            label = album_key(candidate.band, candidate.album)
            pipe.hsetnx(keys.BY_BAND, candidate.band, 0)
            pipe.hsetnx(keys.BY_ALBUM, label, 0)
            pipe.hsetnx(keys.RANK_SUM, label, 0)
        with unavailable_as_store_error():
            pipe.execute()
            self._start_rate(keys=[keys.RATE_SEALED, keys.RATE_STREAM], args=[RATE_MAXLEN])

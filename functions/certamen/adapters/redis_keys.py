"""The Redis keys of the live tally (DESIGN.md), in one place for writers and readers.

Written by the consumer, read by the Streamlit app, the audit, the demo and Grafana
(grafana/ is generated from these names).
"""

from __future__ import annotations

TOTAL = "votes:total"  # string counter: all counted votes
BY_BAND = "votes:by_band"  # hash band -> count
BY_ALBUM = "votes:by_album"  # hash "band — album" -> count
BY_CHANNEL = "votes:by_channel"  # hash grpc/wasm/legacy -> count
RANK_SUM = "votes:rank_sum"  # hash "band — album" -> sum of ranks
PER_SECOND = "votes:per_second"  # hash epoch second -> votes counted in that second
RATE_STREAM = "votes:rate"  # stream, one entry per sealed second: id <sec*1000>-1, field votes
RATE_SEALED = "votes:rate:sealed"  # string: the last second written to RATE_STREAM
DEAD_LETTERS = "votes:dead_letters"  # string counter: dead letters not (yet) put right
DEAD_LETTERS_BY_REASON = "votes:dead_letters:by_reason"  # hash current rule -> those letters
DEAD_LETTERS_REPLAYED = "votes:dead_letters:replayed"  # string counter: letters put right
# hash sha1(letter id) -> "open:<rule>" | "replayed": each letter's state, the dead-letter dedup
DEAD_LETTERS_STATE = "votes:dead_letters:state"
COUNTED_PREFIX = "votes:counted:"  # + vote_id: dedup marker (see docs/exactly-once.md)
# + sha1(letter id): the dead-letter dedup before DEAD_LETTERS_STATE, still honoured
DEAD_LETTER_MARKER_PREFIX = "votes:dead_lettered:"

CONTEST_KEYS = (
    TOTAL,
    BY_BAND,
    BY_ALBUM,
    BY_CHANNEL,
    RANK_SUM,
    PER_SECOND,
    RATE_STREAM,
    RATE_SEALED,
    DEAD_LETTERS,
    DEAD_LETTERS_BY_REASON,
    DEAD_LETTERS_REPLAYED,
    DEAD_LETTERS_STATE,
)

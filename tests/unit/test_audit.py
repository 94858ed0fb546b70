"""The audit's comparison: every Redis counter beside its MongoDB recount (pure, no servers)."""

from __future__ import annotations

from certamen.adapters.dead_letter_store import DeadLetterCounts
from certamen.adapters.mongo_store import GroupCount
from certamen.results.audit import compare
from certamen.results.tally import AlbumStanding, Standings

GROUPS = [
    GroupCount("Alux Nahual", "Alux Nahual", "grpc", 2, 19.5),
    GroupCount("Alux Nahual", "Alux Nahual", "wasm", 1, 0.1),
    GroupCount("Viernes Verde", "Verde", "wasm", 3, 30.2),
]
# One letter open under rule json, two put right, both their votes in the log.
LETTERS = DeadLetterCounts(open=1, open_by_rule={"json": 1}, replayed=2, replayed_votes_logged=2)


def _standings(**changes: object) -> Standings:
    values: dict[str, object] = {
        "total": 6,
        "by_band": {"Alux Nahual": 3, "Viernes Verde": 3},
        "by_album": [
            AlbumStanding("Alux Nahual", "Alux Nahual", 3, 19.6),
            AlbumStanding("Viernes Verde", "Verde", 3, 30.2),
        ],
        "by_channel": {"grpc": 2, "wasm": 4},
        "dead_letters": 1,
        "dead_letters_by_reason": {"json": 1, "not_in_catalog": 0},
        "dead_letters_replayed": 2,
    }
    values.update(changes)
    return Standings(**values)  # type: ignore[arg-type]


def test_equal_counts_agree() -> None:
    report = compare(_standings(), GROUPS, dead_letters=LETTERS)
    assert report.ok and report.differences == 0
    assert [(t.counter, t.label) for t in report.totals] == [
        ("band", "Alux Nahual"),
        ("band", "Viernes Verde"),
        ("channel", "grpc"),
        ("channel", "wasm"),
        ("total", "all votes"),
        ("dead letters", "not put right"),
        ("dead letters", "rule json"),
        ("dead letters", "put right by a replay"),
        ("dead letters", "put right: their votes logged"),
    ]


def test_floating_point_noise_in_rank_sums_is_not_a_difference() -> None:
    albums = [
        AlbumStanding("Alux Nahual", "Alux Nahual", 3, 19.600000000000001),
        AlbumStanding("Viernes Verde", "Verde", 3, 30.199999999999996),
    ]
    assert compare(_standings(by_album=albums), GROUPS, dead_letters=LETTERS).ok


def test_every_counter_is_compared() -> None:
    albums = [
        AlbumStanding("Alux Nahual", "Alux Nahual", 4, 19.6),
        AlbumStanding("Viernes Verde", "Verde", 3, 31.2),
    ]
    report = compare(
        _standings(
            total=7,
            by_album=albums,
            by_band={"Alux Nahual": 4, "Viernes Verde": 3},
            by_channel={"grpc": 3, "wasm": 4},
            dead_letters=0,
            dead_letters_by_reason={"json": 0},
        ),
        GROUPS,
        dead_letters=LETTERS,
    )
    assert not report.ok
    assert report.differences == 7  # two albums, a band, a channel, the total, 2 dead-letter rows
    wrong = {(c.band, c.votes_difference, c.rank_sum_difference) for c in report.albums if not c.ok}
    assert wrong == {("Alux Nahual", 1, 0.0), ("Viernes Verde", 0, 1.0)}


def test_an_album_only_in_mongodb_or_only_in_redis_shows() -> None:
    albums = [*_standings().by_album, AlbumStanding("Extra", "Seeded", 0, 0.0)]
    groups = [*GROUPS, GroupCount("Lost", "Vote", "grpc", 1, 5)]
    report = compare(_standings(by_album=albums), groups)
    rows = {(c.band, c.album): (c.redis_votes, c.mongodb_votes) for c in report.albums}
    assert rows[("Extra", "Seeded")] == (0, 0)  # a catalog candidate without votes agrees
    assert rows[("Lost", "Vote")] == (0, 1)
    assert not report.ok


def test_json_form_carries_the_verdict() -> None:
    data = compare(_standings(), GROUPS, dead_letters=LETTERS).to_dict()
    assert data["ok"] is True and data["differences"] == 0
    assert data["albums"][0]["votes_difference"] == 0


def test_replayed_letters_are_compared_and_their_votes_looked_for() -> None:
    missing_vote = DeadLetterCounts(
        open=1, open_by_rule={"json": 1}, replayed=2, replayed_votes_logged=1
    )
    report = compare(_standings(), GROUPS, dead_letters=missing_vote)
    assert [(t.label, t.redis, t.mongodb) for t in report.totals if not t.ok] == [
        ("put right: their votes logged", 2, 1)
    ]
    moved = DeadLetterCounts(open=1, open_by_rule={"range": 1}, replayed=2, replayed_votes_logged=2)
    report = compare(_standings(), GROUPS, dead_letters=moved)
    assert [(t.label, t.redis, t.mongodb) for t in report.totals if not t.ok] == [
        ("rule json", 1, 0),
        ("rule range", 0, 1),
    ]

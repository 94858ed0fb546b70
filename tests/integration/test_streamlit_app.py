"""The Streamlit pages, run with AppTest on real Redis and MongoDB filled by the consumer code.

Each test points the app at its own contest through the same environment
variables the app reads in production, then checks what a user would see.
"""

from __future__ import annotations

import re
import signal
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from certamen.contract import CHANNELS, Vote, album_key
from certamen.contract.vote import VOTE_FIELDS
from certamen.results.i18n import formats_for, messages
from certamen.settings import Settings
from streamlit_app import store
from streamlit_app.queries import votes_csv
from tests.support.pipeline import free_port, redis_server
from tests.support.tally_fill import (
    CATALOG_PATH,
    Pipeline,
    example_catalog,
    pipeline,
    sample_votes,
)

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app" / "app.py")
LOGS = "views/logs.py"
DEAD_LETTERS = "views/dead_letters.py"
AUDIT = "views/audit.py"
CONTEST_ZONE = "America/Guatemala"
NO_RANK = messages("en").app.no_votes_yet
DEAD_PORT = 17999  # nothing listens here: a server that is down


@pytest.fixture
def filled(store_contest: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """45 votes and two dead letters in the contest the app is pointed at."""
    _point_app_at(monkeypatch, store_contest)
    catalog = example_catalog()
    with pipeline(store_contest) as pipe:
        pipe.count(sample_votes(catalog, 45))
        pipe.poison("letter-1", rank=101)
        pipe.poison("letter-2", name="Nadie")
        yield pipe


def _point_app_at(monkeypatch: pytest.MonkeyPatch, settings: Settings, **extra: str) -> None:
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("MONGODB_URI", settings.mongodb_uri)
    monkeypatch.setenv("MONGODB_DATABASE", settings.mongodb_database)
    monkeypatch.setenv("CERTAMEN_CATALOG", str(CATALOG_PATH))
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()  # the app reads its settings and clients once per process


def _run(page: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=30).run()
    if page is not None:
        app.switch_page(page).run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def _metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def _logged(pipe: Pipeline) -> list[dict[str, Any]]:
    return list(pipe.db["votes"].find())


def _matching(app: AppTest, words: str = "Matching votes") -> int:
    shown = next(m.value for m in app.markdown if m.value.startswith(words))
    found = re.match(rf"{words}: \*\*([\d,.]+)\*\*", shown)
    assert found, shown
    return int(found.group(1).replace(",", "").replace(".", ""))


def test_results_show_what_the_databases_hold(filled: Pipeline) -> None:
    logged = _logged(filled)
    app = _run()
    metrics = _metrics(app)
    assert metrics["Total votes"] == str(len(logged)) == "45"
    named = messages("en").channels.of
    for channel in CHANNELS:
        shown = metrics[f"Votes via {named(channel)}"]
        assert shown == str(sum(d["channel"] == channel for d in logged))
    assert metrics["Dead letters"] == "2"

    bands, albums = (table.value for table in app.table)
    per_band = Counter(d["name"] for d in logged)
    assert dict(zip(bands["Band"], bands["Votes"], strict=True)) == {
        band: str(per_band.get(band, 0)) for band in example_catalog().bands
    }
    votes: Counter[str] = Counter()
    ranks: dict[str, float] = defaultdict(float)
    for d in logged:
        votes[album_key(d["name"], d["album"])] += 1
        ranks[album_key(d["name"], d["album"])] += d["rank"]
    shown = {
        album_key(band, album): (count, average)
        for band, album, count, average in albums.itertuples(index=False)
    }
    assert len(shown) == len(example_catalog().candidates)  # unvoted albums show as zero rows
    for label, (count, average) in shown.items():
        assert count == str(votes.get(label, 0))
        expected = (
            f"{ranks[label] / votes[label]:.2f}".rstrip("0").rstrip(".")
            if votes.get(label)
            else NO_RANK
        )
        assert average == expected


def test_results_follow_new_votes(filled: Pipeline) -> None:
    app = _run()
    assert _metrics(app)["Total votes"] == "45"
    filled.count(sample_votes(example_catalog(), 3, seed=99))
    app.run()
    assert _metrics(app)["Total votes"] == "48"


def test_an_open_contest_shows_what_was_voted(
    store_contest: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_app_at(monkeypatch, store_contest, CERTAMEN_CATALOG="")
    with pipeline(store_contest, closed_contest=False) as pipe:
        pipe.count(sample_votes(example_catalog(), 12))
        logged = _logged(pipe)
    app = _run()
    assert _metrics(app)["Total votes"] == "12"
    bands, albums = (table.value for table in app.table)
    assert dict(zip(bands["Band"], bands["Votes"], strict=True)) == {
        band: str(n) for band, n in Counter(d["name"] for d in logged).items()
    }
    assert sorted(zip(albums["Band"], albums["Album"], strict=True)) == sorted(
        {(d["name"], d["album"]) for d in logged}
    )
    app.switch_page(LOGS).run()
    assert app.multiselect(key="log_bands").options == sorted(
        {d["name"] for d in logged}, key=str.casefold
    )


def test_the_log_lists_the_newest_votes_first_with_the_matching_count(filled: Pipeline) -> None:
    app = _run(LOGS)
    newest = sorted(_logged(filled), key=lambda d: (d["received_at"], d["_id"]), reverse=True)
    assert _matching(app) == 45
    page = app.dataframe[0].value
    assert list(page["vote_id"]) == [d["_id"] for d in newest[:20]]
    assert app.pagination[0].value == 1

    app.pagination[0].set_value(3).run()
    assert list(app.dataframe[0].value["vote_id"]) == [d["_id"] for d in newest[40:]]

    app.selectbox(key="log_page_size").set_value(50).run()
    assert len(app.dataframe[0].value) == 45
    assert not app.pagination  # one page: no pager


def test_filters_match_what_mongodb_holds(filled: Pipeline) -> None:
    logged = _logged(filled)
    band = logged[0]["name"]
    app = _run(LOGS)
    app.multiselect(key="log_bands").set_value([band]).run()
    assert _matching(app) == sum(d["name"] == band for d in logged)
    assert set(app.dataframe[0].value["name"]) == {band}

    app.multiselect(key="log_channels").set_value(["wasm"]).run()
    expected = [d for d in logged if d["name"] == band and d["channel"] == "wasm"]
    assert _matching(app) == len(expected)

    app.multiselect(key="log_bands").set_value([]).run()
    app.multiselect(key="log_channels").set_value([]).run()
    app.text_input(key="log_text").input(band[2:7].upper()).run()  # part of a name, any case
    assert _matching(app) == sum(
        band[2:7].casefold() in (d["name"] + " " + d["album"]).casefold() for d in logged
    )

    app.text_input(key="log_text").input("").run()
    times = sorted(d["received_at"] for d in logged)
    since = datetime.strptime(times[10], "%Y-%m-%dT%H:%M:%S.%fZ").replace(second=0, microsecond=0)
    # The pickers are in the contest's time zone (Guatemala: UTC-6), the log in UTC.
    picked = since.replace(tzinfo=UTC).astimezone(ZoneInfo(CONTEST_ZONE)).replace(tzinfo=None)
    assert picked == since - timedelta(hours=6)
    app.datetime_input(key="log_since").set_value(picked).run()
    app.datetime_input(key="log_until").set_value(picked + timedelta(minutes=1)).run()
    # The pickers have minutes: "to" includes its whole minute.
    low = since.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    high = (since + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert _matching(app) == sum(low <= t < high for t in times) > 0


@pytest.mark.parametrize("text", ['{"$gt": ""}', ".*", "(", "^", "Alux|Bohemia"])
def test_hostile_search_text_is_just_text(filled: Pipeline, text: str) -> None:
    app = _run(LOGS)
    app.text_input(key="log_text").input(text).run()
    assert not app.exception
    assert _matching(app) == 0
    assert len(app.dataframe[0].value) == 0


def test_an_impossible_time_range_is_explained(filled: Pipeline) -> None:
    app = _run(LOGS)
    moment = datetime(2026, 11, 26, 12, 0)
    app.datetime_input(key="log_since").set_value(moment).run()
    app.datetime_input(key="log_until").set_value(moment - timedelta(hours=1)).run()
    assert not app.exception
    assert any("time range" in w.value for w in app.warning)


def test_the_csv_holds_every_matching_vote(filled: Pipeline) -> None:
    band = _logged(filled)[0]["name"]
    rows = votes_csv(store.votes_for_download(filled.db, {"name": {"$in": [band]}}))
    lines = rows.strip().split("\n")
    assert lines[0].startswith("received_at,name,album")
    assert len(lines) - 1 == filled.db["votes"].count_documents({"name": band})
    app = _run(LOGS)
    assert app.get("download_button")  # offered on the page


def test_dead_letters_have_their_own_page_with_reasons(filled: Pipeline) -> None:
    app = _run(DEAD_LETTERS)
    assert _matching(app, "Dead letters listed") == 2
    letters = app.dataframe[0].value
    assert sorted(letters["rule"]) == [
        "not in the catalog (not_in_catalog)",
        "out of range (range)",
    ]
    assert set(letters["field"]) == {"name", "rank"}
    app.multiselect(key="dead_rules").set_value(["range"]).run()
    assert list(app.dataframe[0].value["rule"]) == ["out of range (range)"]


def test_a_key_reused_for_another_ballot_shows_as_a_conflict_letter(filled: Pipeline) -> None:
    first = Vote(**{field: _logged(filled)[0][field] for field in VOTE_FIELDS})
    filled.count([replace(first, rank=0 if first.rank else 1)])  # the same key, another ballot
    app = _run(DEAD_LETTERS)
    letters = app.dataframe[0].value
    assert sorted(letters["rule"]) == [
        "not in the catalog (not_in_catalog)",
        "out of range (range)",
        "vote id reused (conflict)",
    ]
    app.multiselect(key="dead_rules").set_value(["conflict"]).run()
    assert list(app.dataframe[0].value["field"]) == ["vote_id"]


def test_the_audit_runs_on_demand_and_finds_a_tampered_counter(filled: Pipeline) -> None:
    app = _run(AUDIT)
    assert not app.success and not app.metric  # nothing runs before the button
    app.button(key="audit_run").click().run()
    assert not app.exception
    assert any("agree" in s.value for s in app.success)
    metrics = _metrics(app)
    assert metrics["Votes in Redis"] == metrics["Votes in MongoDB"] == "45"
    assert metrics["Differences"] == "0"

    band = _logged(filled)[0]["name"]
    filled.redis.hincrby("votes:by_band", band, 1)  # a counter that no longer matches the log
    app.button(key="audit_run").click().run()
    assert any("differ between Redis and MongoDB: 1**" in e.value for e in app.error)
    totals = app.dataframe[1].value
    wrong = totals[~totals["agree"]]
    assert list(wrong["name"]) == [band]


def test_a_vote_is_found_by_its_id(filled: Pipeline) -> None:
    wanted = _logged(filled)[7]
    app = _run(LOGS)
    app.text_input(key="log_vote_id").input(f" {wanted['_id']} ").run()
    assert _matching(app) == 1
    assert list(app.dataframe[0].value["vote_id"]) == [wanted["_id"]]

    app.multiselect(key="log_channels").set_value(
        [c for c in CHANNELS if c != wanted["channel"]]
    ).run()
    assert _matching(app) == 0, "the other filters narrow what the id finds"

    app.multiselect(key="log_channels").set_value([]).run()
    app.text_input(key="log_vote_id").input("0193f3c2-6a4b-7cde-8f01-000000000000").run()
    assert _matching(app) == 0

    app.text_input(key="log_vote_id").input("not an id!").run()
    assert [w.value for w in app.warning] == [
        "Cannot filter by vote id: 8 to 128 of the characters A-Z a-z 0-9 . _ : -"
    ]


def test_a_redis_that_stops_answering_is_said_to_be_slow_not_away(
    filled: Pipeline, monkeypatch: pytest.MonkeyPatch, store_contest: Settings, tmp_path: Path
) -> None:
    """A server that takes the connection but does not answer in time (as FerretDB reading
    a huge log) is said to be slow, not unreachable; the other store's pages keep working."""
    port = free_port()
    own = redis_server(port, tmp_path).start()
    _point_app_at(monkeypatch, store_contest, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    try:
        app = _run()
        assert not app.error
        assert own.process is not None
        own.process.send_signal(signal.SIGSTOP)  # accepts, never answers
        try:
            app.run()
        finally:
            own.process.send_signal(signal.SIGCONT)
    finally:
        own.stop()
    errors = [e.value for e in app.error]
    assert [e for e in errors if "Redis is taking too long" in e], errors
    assert not [e for e in errors if "not reachable" in e], errors
    app.switch_page(LOGS).run()
    assert _matching(app) == 45


def test_redis_down_is_said_on_results_and_logs_keep_working(
    filled: Pipeline, monkeypatch: pytest.MonkeyPatch, store_contest: Settings
) -> None:
    _point_app_at(monkeypatch, store_contest, REDIS_URL=f"redis://127.0.0.1:{DEAD_PORT}/0")
    app = _run()
    assert [e.value for e in app.error if "Redis is not reachable" in e.value]
    assert not app.metric
    app.switch_page(LOGS).run()
    assert not app.exception
    assert _matching(app) == 45


def test_mongodb_down_is_said_on_logs_and_results_keep_working(
    filled: Pipeline, monkeypatch: pytest.MonkeyPatch, store_contest: Settings
) -> None:
    _point_app_at(monkeypatch, store_contest, MONGODB_URI=f"mongodb://127.0.0.1:{DEAD_PORT}/")
    app = _run(LOGS)
    assert not app.exception
    assert [e.value for e in app.error if "MongoDB is not reachable" in e.value]
    app.switch_page(AUDIT).run()
    app.button(key="audit_run").click().run()
    assert not app.exception
    assert [e.value for e in app.error if "MongoDB is not reachable" in e.value]
    app.switch_page("views/results.py").run()
    assert _metrics(app)["Total votes"] == "45"


def test_a_bad_setting_is_shown_not_raised(
    store_contest: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _point_app_at(monkeypatch, store_contest, CERTAMEN_CATALOG="/nonexistent/catalog.yaml")
    app = AppTest.from_file(APP, default_timeout=30).run()
    assert not app.exception
    assert any("bad configuration" in e.value for e in app.error)


def test_the_picker_turns_every_page_to_spanish(filled: Pipeline) -> None:
    """English first (AppTest's browser names no language), Spanish once picked, on every page."""
    logged = _logged(filled)
    app = _run()
    assert app.title[0].value == "Results"
    app.button_group(key="language").set_value("es").run()
    assert app.title[0].value == "Resultados"
    metrics = _metrics(app)
    assert metrics["Votos en total"] == "45"
    assert metrics["Mensajes fallidos"] == "2"
    assert metrics["Votos por gRPC"] == str(sum(d["channel"] == "grpc" for d in logged))
    legacy = sum(d["channel"] == "legacy" for d in logged)
    assert metrics["Votos por productor anterior"] == str(legacy) == "15"
    bands, _ = (table.value for table in app.table)
    assert list(bands.columns) == ["Banda", "Votos"]

    app.switch_page(LOGS).run()
    assert app.title[0].value == "Registro de votos"
    assert app.button_group(key="language").value == "es", "the choice holds across pages"
    assert _matching(app, "Votos que coinciden") == 45
    assert app.datetime_input(key="log_since").label == f"Desde ({CONTEST_ZONE})"
    newest = max(logged, key=lambda d: (d["received_at"], d["_id"]))
    shown = app.dataframe[0].value.iloc[0]
    spanish = formats_for("es", None, CONTEST_ZONE)
    assert shown["received_at"] == spanish.moment(newest["received_at"])
    assert shown["rank"] == spanish.decimal(newest["rank"])

    app.switch_page(DEAD_LETTERS).run()
    assert _matching(app, "Mensajes fallidos en la lista") == 2
    rules = sorted(app.dataframe[0].value["rule"])
    assert rules == ["fuera de rango (range)", "no está en el catálogo (not_in_catalog)"]
    app.switch_page(AUDIT).run()
    app.button(key="audit_run").click().run()
    assert any("Redis y MongoDB coinciden" in s.value for s in app.success)
    assert _metrics(app)["Votos en MongoDB"] == "45"


def test_a_refused_filter_is_explained_in_spanish(filled: Pipeline) -> None:
    app = _run(LOGS)
    app.button_group(key="language").set_value("es").run()
    moment = datetime(2026, 11, 26, 12, 0)
    app.datetime_input(key="log_since").set_value(moment).run()
    app.datetime_input(key="log_until").set_value(moment - timedelta(hours=1)).run()
    assert [w.value for w in app.warning] == [
        "No se puede filtrar por hora de fin: el fin del intervalo es anterior a su inicio"
    ]


def test_dead_letters_are_previewed_without_a_change(filled: Pipeline) -> None:
    """Open on this machine: anyone may preview; nothing is written; nobody may replay."""
    app = _run(DEAD_LETTERS)
    assert app.button(key="dead_replay").disabled
    assert any("needs an organiser signed in" in c.value for c in app.caption)
    app.checkbox(key="dead_all").check().run()
    assert not app.button(key="dead_preview").disabled
    assert app.button(key="dead_replay").disabled
    app.button(key="dead_preview").click().run()
    assert not app.exception
    summary = next(m.value for m in app.markdown if "would stay a dead letter" in m.value)
    assert summary == "would stay a dead letter: **2**"  # rank 101, and a band not in the catalog
    outcomes = app.dataframe[1].value  # the letters, the outcomes, the replays recorded
    assert sorted(outcomes["outcome"]) == ["would stay a dead letter"] * 2
    assert filled.db["dead_letters"].count_documents({"status": "replayed"}) == 0
    assert filled.db["dead_letter_replays"].count_documents({}) == 0
    assert "No replays yet." in [c.value for c in app.caption]
    assert _metrics(_run())["Dead letters"] == "2"

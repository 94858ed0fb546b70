"""Dashboards as code: the committed JSON is the generator's, fits its schema, reads real keys;
every dashboard in each language, with the same panels and its own uid and folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard
from prometheus_client import CollectorRegistry

from certamen.adapters import redis_keys
from certamen.results.i18n import LANGUAGES, messages
from grafana import contest, datasources, generate, system

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "grafana" / "provisioning"
SCHEMA_VERSION = 41  # Grafana 11.6's dashboard schema, as grafana-foundation-sdk 11.6 writes it
ALLOWED_TRANSFORMATIONS = {"merge", "reduce", "organize", "calculateField", "sortBy"}


def _dashboards() -> dict[str, dict[str, Any]]:
    return {
        name: json.loads((generate.OUTPUT / name).read_text(encoding="utf-8"))
        for name in generate.DASHBOARDS
    }


def _panels() -> list[tuple[str, dict[str, Any]]]:
    return [(name, p) for name, board in _dashboards().items() for p in board["panels"]]


def test_the_committed_json_is_what_the_generator_writes() -> None:
    assert generate.stale() == [], "run: python -m grafana.generate"


def test_a_changed_file_is_reported_stale(tmp_path: Path) -> None:
    generate.write(tmp_path)
    assert generate.stale(tmp_path) == []
    (tmp_path / "es" / "contest.json").write_text("{}\n")
    assert generate.stale(tmp_path) == ["es/contest.json"]


def test_every_dashboard_exists_in_both_languages_with_its_own_uid() -> None:
    boards = _dashboards()
    assert sorted(boards) == sorted(
        f"{language}/{name}.json" for language in LANGUAGES for name in ("contest", "system")
    )
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids)
    assert boards["es/contest.json"]["uid"] == contest.UIDS["es"]
    assert boards["es/system.json"]["uid"] == system.UIDS["es"]
    assert boards["es/contest.json"]["title"] == messages("es").contest_dashboard.title
    assert boards["es/system.json"]["title"] == messages("es").system_dashboard.title


@pytest.mark.parametrize("name", ["contest", "system"])
def test_the_languages_differ_in_their_texts_only(name: str) -> None:
    """Same panels, queries, places and units: the Spanish board is the English one, translated."""
    english, spanish = (_dashboards()[f"{language}/{name}.json"] for language in ("en", "es"))
    assert len(english["panels"]) == len(spanish["panels"])
    for en, es in zip(english["panels"], spanish["panels"], strict=True):
        for key in ("type", "gridPos", "targets", "datasource"):
            assert en[key] == es[key], (en["title"], key)
        assert en["fieldConfig"]["defaults"].get("unit") == es["fieldConfig"]["defaults"].get(
            "unit"
        )
        assert [t["id"] for t in en.get("transformations", [])] == [
            t["id"] for t in es.get("transformations", [])
        ]
        assert en["title"] != es["title"]
    assert english["timezone"] == spanish["timezone"] == "America/Guatemala"


@pytest.mark.parametrize("name", list(generate.DASHBOARDS))
def test_the_json_reads_back_through_the_schema_unchanged(name: str) -> None:
    """Decoding with the SDK's schema types and encoding again loses nothing: no unknown keys.

    The decoder may add the schema's defaults (e.g. a bar chart's line width); every
    value the generator wrote must come back unchanged.
    """
    register_default_plugins()
    datasources.register()
    document = _dashboards()[name]
    decoded = Dashboard.from_json(document)
    assert decoded.schema_version == SCHEMA_VERSION
    again = json.loads(json.dumps(decoded, cls=JSONEncoder))
    assert _lost(document, again) == []


def _lost(written: object, decoded: object, path: str = "") -> list[str]:
    """Paths of values in ``written`` that ``decoded`` lacks or changed."""
    if isinstance(written, dict) and isinstance(decoded, dict):
        return [
            lost
            for key, value in written.items()
            for lost in (
                _lost(value, decoded[key], f"{path}/{key}") if key in decoded else [f"{path}/{key}"]
            )
        ]
    if isinstance(written, list) and isinstance(decoded, list) and len(written) == len(decoded):
        return [
            lost
            for i, pair in enumerate(zip(written, decoded, strict=True))
            for lost in _lost(*pair, f"{path}[{i}]")
        ]
    return [] if written == decoded else [path]


@pytest.mark.parametrize("name", list(generate.DASHBOARDS))
def test_dashboards_have_an_identity_and_a_refresh(name: str) -> None:
    board = _dashboards()[name]
    assert board["schemaVersion"] == SCHEMA_VERSION
    assert board["uid"].startswith("certamen-")
    assert board["title"].startswith("Certamen")
    assert board["refresh"] in {"5s", "10s"}
    ids = [p["id"] for p in board["panels"]]
    assert ids == list(range(1, len(ids) + 1))


def test_every_panel_has_a_provisioned_datasource_and_a_query() -> None:
    provisioned = {d["uid"]: d["type"] for d in _provisioned_datasources()}
    for _, panel in _panels():
        assert panel["datasource"]["uid"] in provisioned, panel["title"]
        assert provisioned[panel["datasource"]["uid"]] == panel["datasource"]["type"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids)
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            if target["datasource"]["type"] == datasources.REDIS_TYPE:
                assert target["type"] == "command"
                assert target["command"] in {"get", "hgetall", "xrange"}
                assert target["keyName"] in redis_keys.CONTEST_KEYS, target["keyName"]
                assert "query" not in target  # never a free-text CLI command
            else:
                assert target["expr"].strip()


@pytest.mark.parametrize("language", LANGUAGES)
def test_live_panels_stream_and_no_panel_hides_zero_rows(language: str) -> None:
    board = {p["title"]: p for p in _dashboards()[f"{language}/contest.json"]["panels"]}
    texts = messages(language).contest_dashboard
    for title in (texts.total_votes, texts.by_band, texts.by_album, texts.by_channel):
        (target,) = board[title]["targets"]
        assert target["streaming"] is True
        assert target["streamingInterval"] <= 2000
    for _, panel in _panels():
        used = {t["id"] for t in panel.get("transformations", [])}
        assert used <= ALLOWED_TRANSFORMATIONS, panel["title"]  # no filterByValue, no limit
        assert "hideZeros" not in json.dumps(panel.get("options", {}))


def test_panels_fit_the_grid_without_overlapping() -> None:
    for name, board in _dashboards().items():
        taken: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, (name, panel["title"])
            cells = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & taken, (name, panel["title"])
            taken |= cells


def test_the_system_dashboard_reads_metrics_the_services_export() -> None:
    from certamen.consumer.metrics import ConsumerMetrics
    from certamen.producers.intake import IntakeMetrics
    from certamen.source.status import SourceMetrics

    registry = CollectorRegistry()
    IntakeMetrics(registry)
    ConsumerMetrics(registry)
    SourceMetrics(registry)
    exported: set[str] = set()
    for family in registry.collect():
        exported.add(family.name)
        if family.type == "counter":
            exported.add(family.name + "_total")
        if family.type == "histogram":
            exported.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    for _, panel in _panels():
        for target in panel["targets"]:
            for metric in re.findall(r"\b(certamen_[a-z_]+)", target.get("expr", "")):
                assert metric in exported, (panel["title"], metric)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_lag_panels_read_the_local_source_and_the_kafka_exporter(language: str) -> None:
    """Locally the stand-in exports the lag, on the cluster Strimzi's Kafka Exporter does:
    each lag panel asks for both, so it shows whichever exists (tests/deploy/test_lag.py
    checks the exporter's group against the KafkaSource)."""
    lag_panels = [
        panel
        for panel in _dashboards()[f"{language}/system.json"]["panels"]
        if any("certamen_source_lag" in t.get("expr", "") for t in panel["targets"])
    ]
    texts = messages(language).system_dashboard
    assert [p["title"] for p in lag_panels] == [texts.lag, texts.lag_by_partition]
    for panel in lag_panels:
        exprs = " ".join(t["expr"] for t in panel["targets"])
        assert "kafka_consumergroup_lag{" in exprs, panel["title"]
        legends = {t.get("legendFormat") for t in panel["targets"]}
        assert len(legends) == 1, "the same series, from either source, named alike"


def _provisioned_datasources() -> list[dict[str, Any]]:
    documents = [
        yaml.safe_load(p.read_text()) for p in (PROVISIONING / "datasources").glob("*.yaml")
    ]
    return [d for doc in documents for d in doc["datasources"]]


def test_datasources_take_addresses_and_secrets_from_the_environment() -> None:
    redis_sources = [d for d in _provisioned_datasources() if d["type"] == "redis-datasource"]
    (redis_source,) = redis_sources
    assert redis_source["uid"] == datasources.REDIS_UID
    assert re.fullmatch(r"\$\{[A-Z_]+\}", redis_source["url"])
    assert re.fullmatch(r"\$\{[A-Z_]+\}", redis_source["secureJsonData"]["password"])
    (prometheus,) = [d for d in _provisioned_datasources() if d["type"] == "prometheus"]
    assert prometheus["uid"] == datasources.PROMETHEUS_UID
    assert re.fullmatch(r"\$\{[A-Z_]+\}", prometheus["url"])


def test_the_dashboard_providers_load_each_language_into_its_own_folder() -> None:
    (document,) = [
        yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in (PROVISIONING / "dashboards").glob("*.yaml")
    ]
    assert document["apiVersion"] == 1
    providers = document["providers"]
    assert len(providers) == len(LANGUAGES)
    paths = [provider["options"]["path"] for provider in providers]
    assert sorted(path.rsplit("/", 1)[1] for path in paths) == sorted(LANGUAGES)
    for provider in providers:
        assert provider["type"] == "file"
        assert provider["options"]["path"].startswith("/")
    for key in ("name", "folder", "folderUid"):
        assert len({provider[key] for provider in providers}) == len(providers), key
    # No provider's path holds another's: Grafana reads a provider's folder recursively.
    for path in paths:
        assert not [other for other in paths if other != path and other.startswith(path + "/")]

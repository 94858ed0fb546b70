"""Grafana on the cluster gets what grafana/provisioning asks for: variables, plugin, paths."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.deploy.render import REPO, Rendered
from tests.deploy.workloads import container_environment

PROVISIONING = REPO / "grafana" / "provisioning"
# Data source types that ship with Grafana; any other type is a plugin to install.
BUILT_IN_TYPES = frozenset({"prometheus", "loki", "tempo", "testdata", "grafana"})


def _grafana_container(rendered: Rendered) -> dict[str, Any]:
    container: dict[str, Any] = rendered.named("Deployment", "grafana")["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def _provisioning(kind: str) -> list[dict[str, Any]]:
    files = sorted((PROVISIONING / kind).glob("*.y*ml"))
    assert files, f"no provisioning files in {PROVISIONING / kind}"
    return [yaml.safe_load(f.read_text(encoding="utf-8")) for f in files]


def test_every_variable_the_provisioning_reads_is_set(default_render: Rendered) -> None:
    wanted: set[str] = set()
    for kind in ("datasources", "dashboards"):
        for path in (PROVISIONING / kind).glob("*.y*ml"):
            text = "\n".join(
                line
                for line in path.read_text(encoding="utf-8").splitlines()
                if not line.lstrip().startswith("#")
            )
            wanted |= {a or b for a, b in re.findall(r"\$\{(\w+)\}|\$__env\{(\w+)\}", text)}
    assert wanted, "the data sources take their addresses from the environment"
    environment = container_environment(default_render, _grafana_container(default_render))
    missing = wanted - set(environment)
    assert not missing, f"Grafana's manifest does not set {sorted(missing)}"


def test_plugin_of_every_provisioned_data_source_is_installed(default_render: Rendered) -> None:
    types = {
        source["type"]
        for doc in _provisioning("datasources")
        for source in doc.get("datasources", [])
    }
    environment = container_environment(default_render, _grafana_container(default_render))
    installed = {
        entry.split("@")[0]
        for key in ("GF_PLUGINS_PREINSTALL_SYNC", "GF_PLUGINS_PREINSTALL", "GF_INSTALL_PLUGINS")
        for entry in environment.get(key, "").split(",")
        if entry
    }
    assert types - BUILT_IN_TYPES <= installed


def test_the_plugin_setting_the_provisioning_names_is_the_one_the_manifest_uses(
    default_render: Rendered,
) -> None:
    """A GF_PLUGINS_*=value its comments (or the dashboards doc) give is what Grafana gets."""
    environment = container_environment(default_render, _grafana_container(default_render))
    texts = [p.read_text(encoding="utf-8") for p in sorted(PROVISIONING.rglob("*.y*ml"))]
    texts.append((REPO / "docs" / "dashboards.md").read_text(encoding="utf-8"))
    named = {
        m
        for text in texts
        for m in re.findall(r"\b(GF_PLUGINS_\w+|GF_INSTALL_PLUGINS)=([\w.@-]+)", text)
    }
    assert named, "the provisioning says how the plugin is installed"
    assert {name: environment.get(name) for name, _ in named} == dict(named)


def test_dashboards_are_mounted_where_the_provider_reads_them(default_render: Rendered) -> None:
    paths = {
        provider["options"]["path"]
        for doc in _provisioning("dashboards")
        for provider in doc.get("providers", [])
    }
    mounts = {m["mountPath"] for m in _grafana_container(default_render)["volumeMounts"]}
    assert paths and paths <= mounts


def test_admin_password_comes_from_a_secret(default_render: Rendered) -> None:
    env = {e["name"]: e for e in _grafana_container(default_render)["env"]}
    assert "secretKeyRef" in env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]

"""knative/ and every overlay render with Debian's kubectl into the objects we mean to apply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.render import REPO, Rendered, kustomization_roots

NAMESPACE = "certamen"
# What the contest needs on the cluster (kind, name), generated names without hash.
EXPECTED = {
    ("Namespace", "certamen"),
    ("KafkaNodePool", "dual-role"),
    ("Kafka", "certamen"),
    ("KafkaTopic", "votes"),
    ("KafkaTopic", "votes-dlq"),
    ("StatefulSet", "redis"),
    ("StatefulSet", "mongodb"),
    ("Deployment", "grafana"),
    ("Service", "producer-grpc"),
    ("Service", "producer-wasm"),
    ("Service", "consumer"),
    ("Service", "streamlit"),
    ("KafkaSource", "votes"),
    ("KafkaSink", "votes-dlq"),
    ("Secret", "redis-credentials"),
    ("Secret", "mongodb-credentials"),
    ("Secret", "grafana-credentials"),
    ("ConfigMap", "certamen-config"),
}


def test_every_overlay_is_rendered(renders: dict[str, Rendered]) -> None:
    assert "knative/overlays/ha" in kustomization_roots()
    assert set(renders) == set(kustomization_roots())


@pytest.mark.parametrize("root", kustomization_roots())
def test_render_has_everything_the_contest_needs(renders: dict[str, Rendered], root: str) -> None:
    rendered = renders[root]
    for kind, name in EXPECTED:
        rendered.named(kind, name)  # raises when missing or ambiguous


@pytest.mark.parametrize("root", kustomization_roots())
def test_everything_lives_in_the_certamen_namespace(
    renders: dict[str, Rendered], root: str
) -> None:
    elsewhere = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in renders[root].objects
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != NAMESPACE
    ]
    assert not elsewhere


def test_ha_overlay_runs_three_kafka_nodes_with_replication_three(
    renders: dict[str, Rendered],
) -> None:
    ha = renders["knative/overlays/ha"]
    assert ha.named("KafkaNodePool", "dual-role")["spec"]["replicas"] == 3
    config = ha.named("Kafka", "certamen")["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    for topic in ha.of_kind("KafkaTopic"):
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2


def test_every_topic_states_its_retention(default_render: Rendered) -> None:
    for topic in default_render.of_kind("KafkaTopic"):
        assert int(topic["spec"]["config"]["retention.ms"]) > 0, topic["metadata"]["name"]


def test_generated_names_are_filled_in_inside_knative_services(default_render: Rendered) -> None:
    """kustomize knows Deployments, not Knative Services: kustomizeconfig.yaml teaches it."""
    names = {o["metadata"]["name"] for o in default_render.of_kind("ConfigMap")}
    names |= {o["metadata"]["name"] for o in default_render.of_kind("Secret")}
    for ksvc in default_render.of_kind("Service", "serving.knative.dev"):
        container = ksvc["spec"]["template"]["spec"]["containers"][0]
        refs = [
            s.get("configMapRef", s.get("secretRef", {}))["name"]
            for s in container.get("envFrom", [])
        ]
        refs += [
            next(iter(e["valueFrom"].values()))["name"]
            for e in container.get("env", [])
            if "valueFrom" in e
        ]
        assert refs, ksvc["metadata"]["name"]
        assert set(refs) <= names, ksvc["metadata"]["name"]


def test_each_workload_runs_the_image_built_for_it(default_render: Rendered) -> None:
    for ksvc in default_render.of_kind("Service", "serving.knative.dev"):
        image = ksvc["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith(f"dev.local/certamen-{ksvc['metadata']['name']}:"), image


def _listed_files(kustomization: Path) -> set[Path]:
    spec = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
    listed = set()
    for generator in spec.get("configMapGenerator", []):
        for entry in generator.get("files", []):
            listed.add((kustomization.parent / entry.split("=")[-1]).resolve())
    return listed


def test_grafana_generators_list_every_dashboard_and_provisioning_file() -> None:
    """kustomize has no globs: a dashboard added to grafana/ must be listed to be deployed."""
    grafana = REPO / "grafana"
    on_disk = {
        p.resolve()
        for pattern in ("dashboards/**/*.json", "provisioning/**/*.yaml", "provisioning/**/*.yml")
        for p in grafana.glob(pattern)
    }
    assert on_disk, "grafana/ has no dashboards or provisioning files"
    missing = on_disk - _listed_files(grafana / "kustomization.yaml")
    assert not missing, f"not in grafana/kustomization.yaml: {sorted(map(str, missing))}"


def test_secret_files_are_ignored_and_examples_cover_every_key() -> None:
    secrets = REPO / "knative" / "secrets"
    ignore = (secrets / ".gitignore").read_text(encoding="utf-8").split()
    assert "*.env" in ignore
    spec = yaml.safe_load((secrets / "kustomization.yaml").read_text(encoding="utf-8"))
    for generator in spec["secretGenerator"]:
        for env_file in generator["envs"]:
            assert (secrets / f"{env_file}.example").is_file(), env_file


def test_generated_secrets_have_the_keys_of_the_examples(tmp_path: Path) -> None:
    """The render test uses the examples; the cluster gets what the script writes."""
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate-secrets"), "--dir", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    examples = sorted((REPO / "knative" / "secrets").glob("*.env.example"))
    assert examples
    for example in examples:
        generated = tmp_path / example.name.removesuffix(".example")
        assert _keys(generated) == _keys(example), generated.name
        assert "change-me" not in generated.read_text(encoding="utf-8")


def _keys(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}

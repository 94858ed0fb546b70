"""Every variable and Secret a workload reads is in its manifest, named as settings.py reads it."""

from __future__ import annotations

import pytest

from certamen.settings import load
from tests.deploy.render import Rendered, kustomization_roots
from tests.deploy.workloads import (
    LOCAL_HOST,
    UnresolvedReference,
    certamen_workloads,
    container_environment,
    settings_variables,
)

WORKLOADS = ("producer-grpc", "producer-wasm", "consumer", "streamlit")
# Set by Knative itself, never by a manifest.
PLATFORM_VARIABLES = frozenset({"PORT"})


def test_settings_scan_finds_the_variables() -> None:
    found = settings_variables()
    assert {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MONGODB_URI", "PORT"} <= found.names
    assert {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MONGODB_URI"} <= found.local_defaults


@pytest.mark.parametrize("root", kustomization_roots())
def test_every_workload_runs_the_certamen_image(renders: dict[str, Rendered], root: str) -> None:
    assert sorted(w.name for w in certamen_workloads(renders[root])) == sorted(WORKLOADS)


@pytest.mark.parametrize("root", kustomization_roots())
def test_every_reference_resolves(renders: dict[str, Rendered], root: str) -> None:
    """A Secret, ConfigMap or key that is not rendered would keep the pod from starting."""
    rendered = renders[root]
    for kind in ("Deployment", "StatefulSet"):
        for workload in rendered.of_kind(kind):
            for container in workload["spec"]["template"]["spec"]["containers"]:
                container_environment(rendered, container)  # raises UnresolvedReference
    for ksvc in rendered.of_kind("Service", "serving.knative.dev"):
        for container in ksvc["spec"]["template"]["spec"]["containers"]:
            container_environment(rendered, container)


def test_an_unresolved_reference_is_reported(default_render: Rendered) -> None:
    container = {
        "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]
    }
    with pytest.raises(UnresolvedReference, match="no Secret named nope"):
        container_environment(default_render, container)


def test_every_variable_given_to_a_workload_is_one_settings_reads(default_render: Rendered) -> None:
    known = settings_variables().names - PLATFORM_VARIABLES
    for workload in certamen_workloads(default_render):
        unknown = set(workload.environment) - known
        assert not unknown, f"{workload.name}: settings.py reads no {sorted(unknown)}"


def test_workload_settings_load_and_point_at_the_cluster(default_render: Rendered) -> None:
    """settings.load() accepts each environment; nothing given points at this machine."""
    for workload in certamen_workloads(default_render):
        settings = load(workload.environment)
        for name, value in workload.environment.items():
            assert LOCAL_HOST not in value and "localhost" not in value, (workload.name, name)
        # The kubelet runs liveness probes from outside the pod.
        assert settings.bind_host == "0.0.0.0", workload.name
        assert settings.catalog_path is not None, workload.name


def test_workloads_that_store_votes_get_the_database_secrets(default_render: Rendered) -> None:
    for workload in certamen_workloads(default_render):
        if workload.name in ("consumer", "streamlit"):
            assert {"REDIS_URL", "MONGODB_URI"} <= set(workload.environment), workload.name


def test_producers_get_no_database_secret(default_render: Rendered) -> None:
    """Least privilege: the producers only talk to Kafka."""
    for workload in certamen_workloads(default_render):
        if workload.name.startswith("producer-"):
            assert not {"REDIS_URL", "MONGODB_URI"} & set(workload.environment), workload.name


def test_kafka_address_is_the_strimzi_bootstrap_service(default_render: Rendered) -> None:
    kafka = default_render.named("Kafka", "certamen")["metadata"]["name"]
    for workload in certamen_workloads(default_render):
        assert workload.environment["KAFKA_BOOTSTRAP_SERVERS"] == f"{kafka}-kafka-bootstrap:9092"


def test_topics_given_to_workloads_are_declared(default_render: Rendered) -> None:
    topics = {t["spec"]["topicName"] for t in default_render.of_kind("KafkaTopic")}
    for workload in certamen_workloads(default_render):
        settings = load(workload.environment)
        assert {settings.votes_topic, settings.dlq_topic} <= topics, workload.name


def test_secret_urls_name_the_in_cluster_services(default_render: Rendered) -> None:
    consumer = next(w for w in certamen_workloads(default_render) if w.name == "consumer")
    services = {s["metadata"]["name"] for s in default_render.of_kind("Service", "")}
    settings = load(consumer.environment)
    assert settings.redis_url.split("@")[1].split(":")[0] in services
    assert settings.mongodb_uri.split("@")[1].split(":")[0] in services

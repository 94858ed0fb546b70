"""A cluster Prometheus in namespace monitoring can scrape every workload that serves metrics.

The annotations name the port and path the workload's code serves on with its
manifest's environment (test_smoke.py fetches them from the running entrypoint),
the NetworkPolicies let Prometheus reach exactly those ports, and the scrape job
in knative/monitoring/ keeps the pods by those annotations.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from tests.deploy.metrics import (
    MONITORING,
    PATH,
    PORT,
    SCRAPE,
    SERVED,
    Endpoint,
    admitted_ports,
    annotated_endpoint,
    annotation_label,
    annotation_mismatch,
    container_port,
    matches,
    pod_job,
    relabelled,
)
from tests.deploy.render import Manifest, Rendered, kustomization_roots
from tests.deploy.workloads import Workload, certamen_workloads

# The workloads Prometheus must reach: what the system dashboard shows.
SCRAPED = ("producer-grpc", "producer-wasm", "consumer")
# Namespaces the Knative policy admits to every port; the new policies take nothing from them.
KNATIVE_NAMESPACES = ("knative-serving", "kourier-system", "knative-eventing")
POD_IP = "__meta_kubernetes_pod_ip"


def _workload(rendered: Rendered, name: str) -> Workload:
    return next(w for w in certamen_workloads(rendered) if w.name == name)


def _annotated(workload: Workload, **changes: str) -> Workload:
    service = copy.deepcopy(workload.service)
    service["spec"]["template"]["metadata"]["annotations"].update(changes)
    return dataclasses.replace(workload, service=service)


def _policies(rendered: Rendered) -> list[Manifest]:
    return rendered.of_kind("NetworkPolicy")


def _rules(job: dict[str, Any], action: str, target: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in job["relabel_configs"]
        if r.get("action", "replace") == action and (target is None or r["target_label"] == target)
    ]


# -- annotations ----------------------------------------------------------------------------------


def test_every_workload_says_whether_it_serves_metrics(default_render: Rendered) -> None:
    """A new workload must be placed in SERVED, or the checks below would pass it unseen."""
    assert sorted(w.name for w in certamen_workloads(default_render)) == sorted(SERVED)


@pytest.mark.parametrize("root", kustomization_roots())
def test_annotations_name_where_each_workload_serves_metrics(
    renders: dict[str, Rendered], root: str
) -> None:
    workloads = certamen_workloads(renders[root])
    mismatches = [m for m in map(annotation_mismatch, workloads) if m]
    assert not mismatches
    scraped = sorted(w.name for w in workloads if annotated_endpoint(w))
    assert scraped == sorted(SCRAPED)


def test_the_expected_endpoints(default_render: Rendered) -> None:
    """In the cluster: producer-grpc :9465, consumer :9466, producer-wasm :9467."""
    found = {w.name: annotated_endpoint(w) for w in certamen_workloads(default_render)}
    assert found == {
        "producer-grpc": Endpoint(9465, "/metrics"),
        "producer-wasm": Endpoint(9467, "/metrics"),
        "consumer": Endpoint(9466, "/metrics"),
        "streamlit": None,
    }


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("producer-grpc", {PORT: "9466"}),  # the consumer's metrics port
        ("producer-grpc", {PORT: "8080"}),  # the gRPC port
        ("consumer", {PORT: "8080"}),  # the CloudEvent port: POST only
        ("producer-wasm", {PATH: "/metrics/"}),
        ("producer-wasm", {PORT: "8080"}),  # the vote port: it serves no metrics
        ("consumer", {SCRAPE: "false"}),
        ("streamlit", {SCRAPE: "true", PORT: "8080"}),  # Streamlit serves no metrics
    ],
)
def test_a_wrong_annotation_is_caught(
    default_render: Rendered, name: str, changes: dict[str, str]
) -> None:
    broken = _annotated(_workload(default_render, name), **changes)
    assert annotation_mismatch(broken), changes


def test_a_workload_configured_elsewhere_is_caught(default_render: Rendered) -> None:
    """The served port follows the manifest's environment, not a number kept in the test."""
    consumer = _workload(default_render, "consumer")
    moved = dataclasses.replace(
        consumer, environment={**consumer.environment, "CERTAMEN_CONSUMER_METRICS_PORT": "9999"}
    )
    assert annotation_mismatch(moved)


def test_annotations_are_strings_on_the_revision_template(default_render: Rendered) -> None:
    """Knative copies the template's annotations to the pods; the Service's own stay on it."""
    for workload in certamen_workloads(default_render):
        assert not {SCRAPE, PORT, PATH} & set(workload.service["metadata"].get("annotations", {}))
        annotations = workload.service["spec"]["template"]["metadata"]["annotations"]
        assert all(isinstance(v, str) for v in annotations.values()), workload.name


# -- NetworkPolicies ------------------------------------------------------------------------------


@pytest.mark.parametrize("root", kustomization_roots())
def test_monitoring_reaches_exactly_the_annotated_ports(
    renders: dict[str, Rendered], root: str
) -> None:
    rendered = renders[root]
    for workload in certamen_workloads(rendered):
        endpoint = annotated_endpoint(workload)
        expected = frozenset({endpoint.port} if endpoint else ())
        assert admitted_ports(_policies(rendered), workload, MONITORING) == expected, workload.name


@pytest.mark.parametrize("root", kustomization_roots())
def test_monitoring_never_reaches_the_port_that_takes_requests(
    renders: dict[str, Rendered], root: str
) -> None:
    """What may scrape metrics may not post votes or events past the queue-proxy."""
    rendered = renders[root]
    for workload in certamen_workloads(rendered):
        admitted = admitted_ports(_policies(rendered), workload, MONITORING)
        assert admitted is not None, workload.name
        assert container_port(workload.container) not in admitted, workload.name


def test_knative_and_this_namespace_still_reach_every_port(default_render: Rendered) -> None:
    policies = _policies(default_render)
    for workload in certamen_workloads(default_render):
        for namespace in (*KNATIVE_NAMESPACES, "certamen"):
            assert admitted_ports(policies, workload, namespace) is None, (workload.name, namespace)
        assert admitted_ports(policies, workload, "default") == frozenset(), workload.name


def test_a_policy_on_the_wrong_port_is_caught(default_render: Rendered) -> None:
    policies = copy.deepcopy(_policies(default_render))
    policy = next(p for p in policies if p["metadata"]["name"] == "metrics-consumer")
    policy["spec"]["ingress"][0]["ports"][0]["port"] = 8080
    consumer = _workload(default_render, "consumer")
    assert admitted_ports(policies, consumer, MONITORING) == frozenset({8080})


def test_a_policy_without_ports_is_caught(default_render: Rendered) -> None:
    """Monitoring must not reach the consumer's CloudEvent port: votes come from Kafka only."""
    policies = copy.deepcopy(_policies(default_render))
    policy = next(p for p in policies if p["metadata"]["name"] == "metrics-consumer")
    del policy["spec"]["ingress"][0]["ports"]
    assert admitted_ports(policies, _workload(default_render, "consumer"), MONITORING) is None


# -- the scrape job -------------------------------------------------------------------------------


def test_the_job_discovers_pods_of_the_certamen_namespace(default_render: Rendered) -> None:
    namespaces = {w.service["metadata"]["namespace"] for w in certamen_workloads(default_render)}
    (sd,) = pod_job()["kubernetes_sd_configs"]
    assert sd["role"] == "pod"
    assert set(sd["namespaces"]["names"]) == namespaces


def test_the_job_keeps_the_pods_that_ask_to_be_scraped() -> None:
    keep = _rules(pod_job(), "keep")
    assert [r["source_labels"] for r in keep] == [[annotation_label(SCRAPE)]]
    assert matches(keep[0], {annotation_label(SCRAPE): "true"})
    assert not matches(keep[0], {annotation_label(SCRAPE): "false"})
    assert not matches(keep[0], {})


def test_the_job_drops_the_queue_proxy_targets() -> None:
    """Its ports would all be rewritten to the annotated address: one target per pod, not five."""
    drop = [
        r
        for r in _rules(pod_job(), "drop")
        if r["source_labels"] == ["__meta_kubernetes_pod_container_name"]
    ]
    assert len(drop) == 1
    # The name of the sidecar Knative adds to every pod (a reserved container name).
    assert matches(drop[0], {"__meta_kubernetes_pod_container_name": "queue-proxy"})
    assert not matches(drop[0], {"__meta_kubernetes_pod_container_name": "consumer"})


def test_the_job_scrapes_the_annotated_path() -> None:
    (rule,) = _rules(pod_job(), "replace", "__metrics_path__")
    assert rule["source_labels"] == [annotation_label(PATH)]
    assert relabelled(rule, {annotation_label(PATH): "/metrics"}) == "/metrics"
    assert relabelled(rule, {}) is None  # no annotation: Prometheus's default, /metrics


@pytest.mark.parametrize(
    ("ip", "address"),
    [("10.244.1.7", "10.244.1.7:9466"), ("fd00:10:244::7", "[fd00:10:244::7]:9466")],
)
def test_the_job_scrapes_the_annotated_port_at_the_pod_address(ip: str, address: str) -> None:
    labels = {annotation_label(PORT): "9466", POD_IP: ip, "__address__": f"{ip}:8080"}
    for rule in _rules(pod_job(), "replace", "__address__"):
        assert annotation_label(PORT) in rule["source_labels"]
        written = relabelled(rule, labels)
        if written is not None:
            labels["__address__"] = written
    assert labels["__address__"] == address

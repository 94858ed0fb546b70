"""What a cluster Prometheus finds of a render: scrape annotations, NetworkPolicies, the scrape job.

Prometheus (kube-prometheus-stack, namespace ``monitoring``) scrapes each
Certamen pod at ``<pod IP>:<prometheus.io/port><prometheus.io/path>``, by the
job in ``knative/monitoring/``. Three things must agree for a series to reach
the system dashboard: the annotations Knative copies from a Service's revision
template to its pods, the port the workload's code listens on with the
environment its manifest gives it, and the NetworkPolicies between the two
namespaces. This module reads each of them; the tests compare.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from certamen.settings import Settings, load
from tests.deploy.render import REPO, Manifest
from tests.deploy.workloads import Workload

SCRAPE = "prometheus.io/scrape"
PORT = "prometheus.io/port"
PATH = "prometheus.io/path"
DEFAULT_PATH = "/metrics"  # Prometheus's default __metrics_path__
# Where kube-prometheus-stack runs (knative/base/grafana/grafana.yaml reads it there).
MONITORING = "monitoring"
SCRAPE_VALUES = REPO / "knative" / "monitoring" / "kube-prometheus-stack-values.yaml"
# Knative's port when a container declares none (and the PORT it sets then).
KNATIVE_DEFAULT_PORT = 8080


@dataclass(frozen=True)
class Endpoint:
    """Where a registry answers inside the pod."""

    port: int
    path: str = DEFAULT_PATH


# Where each workload's code serves its Prometheus registry, given its settings,
# each on a port of its own, never the container port that takes requests:
# producers/grpc/server.py, producers/wasm/server.py, consumer/function.py.
# Streamlit exports no metrics.
SERVED: dict[str, Callable[[Settings], Endpoint | None]] = {
    "producer-grpc": lambda s: Endpoint(s.ports.producer_grpc_metrics),
    "producer-wasm": lambda s: Endpoint(s.ports.producer_wasm_metrics),
    "consumer": lambda s: Endpoint(s.ports.consumer_metrics),
    "streamlit": lambda s: None,
}


def container_port(container: dict[str, Any]) -> int:
    """The one port Knative routes to, and sets PORT to."""
    ports = container.get("ports") or [{"containerPort": KNATIVE_DEFAULT_PORT}]
    return int(ports[0]["containerPort"])


def cluster_settings(workload: Workload) -> Settings:
    """The settings the workload loads in its pod: its manifest's environment, Knative's PORT."""
    port = container_port(workload.container)
    return load({**workload.environment, "PORT": str(port)})


def annotated_endpoint(workload: Workload) -> Endpoint | None:
    """Where the revision template's annotations send Prometheus; None if they do not ask."""
    annotations = workload.service["spec"]["template"].get("metadata", {}).get("annotations", {})
    if annotations.get(SCRAPE) != "true":
        return None
    return Endpoint(int(annotations[PORT]), annotations.get(PATH, DEFAULT_PATH))


def served_endpoint(workload: Workload) -> Endpoint | None:
    """Where the workload's code serves its metrics in the pod; None if it serves none."""
    if workload.name not in SERVED:
        raise LookupError(f"{workload.name}: say in SERVED where its metrics are, or None")
    return SERVED[workload.name](cluster_settings(workload))


def annotation_mismatch(workload: Workload) -> str | None:
    """A sentence if Prometheus would look elsewhere than where the workload serves metrics."""
    served, annotated = served_endpoint(workload), annotated_endpoint(workload)
    if served == annotated:
        return None
    return f"{workload.name}: annotated {annotated}, but its metrics are served at {served}"


def pod_labels(workload: Workload) -> dict[str, str]:
    """The labels of the workload's pods: its template's plus those Knative adds."""
    labels: dict[str, str] = dict(
        workload.service["spec"]["template"].get("metadata", {}).get("labels", {})
    )
    name = workload.name
    labels["serving.knative.dev/service"] = name
    labels["serving.knative.dev/configuration"] = name
    labels["serving.knative.dev/revision"] = f"{name}-00001"
    return labels


def namespace_labels(name: str) -> dict[str, str]:
    """The label Kubernetes puts on every namespace."""
    return {"kubernetes.io/metadata.name": name}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector's verdict on a set of labels (an empty selector selects everything)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def admitted_ports(
    policies: Iterable[Manifest],
    workload: Workload,
    peer_namespace: str,
    peer_labels: dict[str, str] | None = None,
) -> frozenset[int] | None:
    """The TCP ports of the workload's pods a pod of ``peer_namespace`` may connect to.

    None means every port. Policies are additive: a pod no Ingress policy selects
    takes everything; otherwise the union of the rules that admit the peer.
    """
    return pod_admitted_ports(
        policies,
        workload.service["metadata"].get("namespace", "default"),
        pod_labels(workload),
        workload.container,
        peer_namespace,
        peer_labels,
    )


def pod_admitted_ports(
    policies: Iterable[Manifest],
    own_namespace: str,
    target: dict[str, str],
    container: dict[str, Any],
    peer_namespace: str,
    peer_labels: dict[str, str] | None = None,
) -> frozenset[int] | None:
    """``admitted_ports`` for any pod: its namespace, labels and container (for named ports)."""
    peer_labels = peer_labels or {}
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace", "default") == own_namespace
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], target)
    ]
    if not selecting:
        return None
    ports: set[int] = set()
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from", [])
            if peers and not any(
                _admits(peer, own_namespace, peer_namespace, peer_labels) for peer in peers
            ):
                continue
            rule_ports = _tcp_ports(rule.get("ports", []), container)
            if rule_ports is None:
                return None
            ports |= rule_ports
    return frozenset(ports)


def _admits(
    peer: dict[str, Any], own_namespace: str, namespace: str, labels: dict[str, str]
) -> bool:
    if "ipBlock" in peer:
        return False  # pod addresses are not known offline: admit nothing by address
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], namespace_labels(namespace)):
            return False
    elif namespace != own_namespace:
        return False
    return selects(peer.get("podSelector", {}), labels)


def _tcp_ports(entries: list[dict[str, Any]], container: dict[str, Any]) -> set[int] | None:
    """A rule's TCP ports (None: all), named ports looked up among the container's."""
    if not entries:
        return None
    names = {p.get("name"): int(p["containerPort"]) for p in container.get("ports", [])}
    ports: set[int] = set()
    for entry in entries:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        if "port" not in entry:
            return None
        port = entry["port"]
        if isinstance(port, str):
            if port not in names:
                continue
            port = names[port]
        ports.update(range(port, int(entry.get("endPort", port)) + 1))
    return ports


def scrape_jobs() -> list[dict[str, Any]]:
    """The scrape jobs of knative/monitoring/, as kube-prometheus-stack hands them to Prometheus."""
    values = yaml.safe_load(SCRAPE_VALUES.read_text(encoding="utf-8"))
    jobs: list[dict[str, Any]] = values["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"]
    return jobs


def pod_job() -> dict[str, Any]:
    """The one scrape job of knative/monitoring/ that discovers pods."""
    jobs = [
        job
        for job in scrape_jobs()
        if any(sd.get("role") == "pod" for sd in job.get("kubernetes_sd_configs", []))
    ]
    assert len(jobs) == 1, "one pod-discovery job in knative/monitoring/"
    return jobs[0]


def annotation_label(annotation: str) -> str:
    """The meta label Prometheus's pod discovery makes of a pod annotation."""
    return "__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", annotation)


def matches(rule: dict[str, Any], labels: dict[str, str]) -> re.Match[str] | None:
    """A relabelling rule's anchored regex against its source labels, joined as Prometheus does.

    Just enough of Prometheus's relabelling to try one rule on an example; not an engine.
    """
    value = rule.get("separator", ";").join(labels.get(s, "") for s in rule["source_labels"])
    return re.fullmatch(rule.get("regex", "(.*)"), value)


def relabelled(rule: dict[str, Any], labels: dict[str, str]) -> str | None:
    """What a ``replace`` rule writes into its target for these labels; None if it leaves it."""
    match = matches(rule, labels)
    if match is None:
        return None

    def group(reference: re.Match[str]) -> str:
        number = int(reference.group(1))
        return (match.group(number) or "") if number <= match.re.groups else ""

    return re.sub(r"\$\{?(\d+)\}?", group, rule.get("replacement", "$1"))

"""Where the cluster's lag per partition comes from: Strimzi's Kafka Exporter, as a render has it.

Knative's KafkaSource exports no lag of its own. The Kafka resource's
``spec.kafkaExporter`` makes Strimzi run kafka_exporter, which serves
``kafka_consumergroup_lag{consumergroup, topic, partition}``; the system
dashboard asks for the KafkaSource's group there. This module reads the
exporter's filters, its pods' labels and annotations, and the dashboard's lag
queries; each function answers with the problems it finds, so that a test can
show it catching a wrong value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.deploy.metrics import DEFAULT_PATH, PATH, PORT, SCRAPE, Endpoint
from tests.deploy.render import REPO, Manifest

# kafka_exporter_run.sh in Strimzi's Kafka image starts the exporter with
# --web.listen-address=:9404 on the container port Strimzi names tcp-prometheus
# (MetricsModel.METRICS_PORT); kafka_exporter serves /metrics there.
EXPORTER_ENDPOINT = Endpoint(9404, "/metrics")
EXPORTER_PORT_NAME = "tcp-prometheus"
GROUP_LAG = "kafka_consumergroup_lag"
SYSTEM_DASHBOARD = REPO / "grafana" / "dashboards" / "en" / "system.json"


def exporter_name(kafka: Manifest) -> str:
    """``<cluster>-kafka-exporter``: the exporter's Deployment, container, strimzi.io/name label."""
    return f"{kafka['metadata']['name']}-kafka-exporter"


def exporter_pod_labels(kafka: Manifest) -> dict[str, str]:
    """The labels Strimzi gives the exporter's pods, plus those of the pod template."""
    template = _pod_template(kafka)
    return {
        **template.get("metadata", {}).get("labels", {}),
        "strimzi.io/cluster": kafka["metadata"]["name"],
        "strimzi.io/kind": "Kafka",
        "strimzi.io/name": exporter_name(kafka),
        "strimzi.io/component-type": "kafka-exporter",
    }


def exporter_container(kafka: Manifest) -> dict[str, Any]:
    """The exporter's container as Strimzi declares it: one port, the metrics port."""
    port = {"name": EXPORTER_PORT_NAME, "containerPort": EXPORTER_ENDPOINT.port}
    return {"name": exporter_name(kafka), "ports": [port]}


def exporter_annotations(kafka: Manifest) -> dict[str, str]:
    """The annotations the exporter's pods get from ``template.pod.metadata``."""
    annotations: dict[str, str] = _pod_template(kafka).get("metadata", {}).get("annotations", {})
    return annotations


def _pod_template(kafka: Manifest) -> dict[str, Any]:
    exporter = kafka["spec"].get("kafkaExporter") or {}
    pod: dict[str, Any] = exporter.get("template", {}).get("pod", {})
    return pod


def _kept(name: str, include: str | None, exclude: str | None) -> bool:
    """kafka_exporter's filter: the include pattern (default .*) matches anywhere, unanchored
    like Go's MatchString, and the exclude pattern, if any, does not."""
    if not re.search(include or ".*", name):
        return False
    return not (exclude and re.search(exclude, name))


def filter_problems(
    kafka: Manifest, group: str, topics: list[str], others: dict[str, list[str]]
) -> list[str]:
    """Sentences for each way the exporter misses ``group`` on ``topics`` or collects ``others``.

    ``others`` holds names that must not be collected, under "group" and "topic".
    """
    exporter = kafka["spec"].get("kafkaExporter")
    if exporter is None:
        return ["spec.kafkaExporter is not set: Strimzi runs no exporter"]
    filters = {
        kind: (exporter.get(f"{kind}Regex"), exporter.get(f"{kind}ExcludeRegex"))
        for kind in ("group", "topic")
    }
    problems = [
        f"{kind} {name!r} is not collected"
        for kind, names in (("group", [group]), ("topic", topics))
        for name in names
        if not _kept(name, *filters[kind])
    ]
    problems += [
        f"{kind} {name!r} is collected too"
        for kind, names in others.items()
        for name in names
        if _kept(name, *filters[kind])
    ]
    return problems


def annotation_problems(kafka: Manifest) -> list[str]:
    """Sentences if the exporter's pods do not send the scrape job to where it serves metrics."""
    annotations = exporter_annotations(kafka)
    if annotations.get(SCRAPE) != "true":
        return [f"the exporter's pods do not say {SCRAPE}: 'true'"]
    annotated = Endpoint(int(annotations.get(PORT, "0")), annotations.get(PATH, DEFAULT_PATH))
    if annotated != EXPORTER_ENDPOINT:
        return [f"annotated {annotated}, but the exporter serves at {EXPORTER_ENDPOINT}"]
    return []


def dashboard_lag_queries(path: Path = SYSTEM_DASHBOARD) -> list[str]:
    """Every target expression of the committed system dashboard that reads the exporter's lag."""
    board = json.loads(path.read_text(encoding="utf-8"))
    return [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if GROUP_LAG in target.get("expr", "")
    ]


def query_problems(expr: str, group: str, topics: list[str]) -> list[str]:
    """Sentences if a lag query selects another group, or a topic the source does not read."""
    selectors = re.findall(GROUP_LAG + r"\{([^}]*)\}", expr)
    if not selectors:
        return [f"{expr!r}: {GROUP_LAG} without a consumergroup matcher"]
    problems = []
    for selector in selectors:
        matchers = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', selector))
        if matchers.get("consumergroup") != group:
            problems.append(f"{expr!r}: consumergroup is not the KafkaSource's {group!r}")
        if matchers.get("topic") not in topics:
            problems.append(f"{expr!r}: topic is not one the KafkaSource reads ({topics})")
    return problems

"""On the cluster the KafkaSource's lag per partition reaches Prometheus and the system dashboard.

Four things must agree (tests/deploy/lag.py reads them): the Kafka Exporter's
filters keep the KafkaSource's group and topics, its pods carry the annotations
the scrape job keeps with the port Strimzi's exporter serves, namespace
monitoring may reach that port, and the dashboard asks for the KafkaSource's group.
Each check is also shown catching a wrong value.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.deploy.lag import (
    EXPORTER_ENDPOINT,
    annotation_problems,
    dashboard_lag_queries,
    exporter_annotations,
    exporter_container,
    exporter_name,
    exporter_pod_labels,
    filter_problems,
    query_problems,
)
from tests.deploy.metrics import (
    MONITORING,
    PATH,
    PORT,
    SCRAPE,
    annotation_label,
    matches,
    pod_admitted_ports,
    pod_job,
    relabelled,
)
from tests.deploy.render import Manifest, Rendered, kustomization_roots

# Names the exporter must leave alone: Kafka's and Strimzi's internal topics, other groups.
OTHERS = {
    "topic": ["__consumer_offsets", "__strimzi_store_topic", "votes-replay"],
    "group": ["certamen-consumer-replay", "knative-trigger-group"],
}
POD_IP = "10.244.0.9"


def _kafka(rendered: Rendered) -> Manifest:
    (kafka,) = rendered.of_kind("Kafka", "kafka.strimzi.io")
    return kafka


def _source(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.named("KafkaSource", "votes")["spec"]
    return spec


def _our_topics(rendered: Rendered) -> list[str]:
    return [
        t["spec"].get("topicName", t["metadata"]["name"])
        for t in rendered.of_kind("KafkaTopic", "kafka.strimzi.io")
    ]


def _filter_problems(rendered: Rendered, kafka: Manifest) -> list[str]:
    source = _source(rendered)
    assert set(source["topics"]) <= set(_our_topics(rendered))
    return filter_problems(kafka, source["consumerGroup"], _our_topics(rendered), OTHERS)


def _with_exporter(kafka: Manifest, **changes: Any) -> Manifest:
    broken = copy.deepcopy(kafka)
    broken["spec"]["kafkaExporter"].update(changes)
    return broken


# -- the exporter's filters -----------------------------------------------------------------------


@pytest.mark.parametrize("root", kustomization_roots())
def test_the_exporter_collects_the_sources_group_on_our_topics_only(
    renders: dict[str, Rendered], root: str
) -> None:
    rendered = renders[root]
    assert _our_topics(rendered) == ["votes", "votes-dlq"]
    assert _filter_problems(rendered, _kafka(rendered)) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"groupRegex": "^certamen-consumers$"},  # a typo: the source's group has no lag series
        {"groupRegex": "^certamen-consumer"},  # unanchored end: the replay group too
        {"groupRegex": ".*"},  # Strimzi's default: every group
        {"topicRegex": "^votes-dlq$"},  # the DLQ only: no lag of the votes topic
        {"topicRegex": "votes"},  # unanchored: votes-replay too
        {"topicExcludeRegex": "^votes$"},
    ],
)
def test_a_wrong_filter_is_caught(default_render: Rendered, changes: dict[str, str]) -> None:
    broken = _with_exporter(_kafka(default_render), **changes)
    assert _filter_problems(default_render, broken), changes


def test_a_group_renamed_in_the_kafka_source_is_caught(default_render: Rendered) -> None:
    kafka = _kafka(default_render)
    problems = filter_problems(kafka, "certamen-votes", _our_topics(default_render), OTHERS)
    assert problems == ["group 'certamen-votes' is not collected"]


def test_no_exporter_is_caught(default_render: Rendered) -> None:
    kafka = copy.deepcopy(_kafka(default_render))
    del kafka["spec"]["kafkaExporter"]
    assert _filter_problems(default_render, kafka)


def test_the_exporter_has_requests_and_limits(default_render: Rendered) -> None:
    resources = _kafka(default_render)["spec"]["kafkaExporter"]["resources"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[bound]), bound


# -- scraped by the job of knative/monitoring/ ----------------------------------------------------


@pytest.mark.parametrize("root", kustomization_roots())
def test_the_exporter_is_annotated_with_the_port_it_serves(
    renders: dict[str, Rendered], root: str
) -> None:
    assert annotation_problems(_kafka(renders[root])) == []


def _annotated(kafka: Manifest, **changes: str) -> Manifest:
    broken = copy.deepcopy(kafka)
    pod = broken["spec"]["kafkaExporter"]["template"]["pod"]
    pod["metadata"]["annotations"].update(changes)
    return broken


@pytest.mark.parametrize(
    "changes",
    [
        {PORT: "9090"},  # kafka_exporter's own default, not Strimzi's
        {PORT: "9092"},  # a broker port
        {PATH: "/healthz"},  # the probes' path
        {SCRAPE: "false"},
    ],
)
def test_a_wrong_annotation_is_caught(default_render: Rendered, changes: dict[str, str]) -> None:
    assert annotation_problems(_annotated(_kafka(default_render), **changes)), changes


def test_annotations_on_the_deployment_instead_of_the_pods_are_caught(
    default_render: Rendered,
) -> None:
    """Strimzi puts template.deployment's annotations on the Deployment: the pods lack them."""
    kafka = copy.deepcopy(_kafka(default_render))
    template = kafka["spec"]["kafkaExporter"]["template"]
    template["deployment"] = template.pop("pod")
    assert annotation_problems(kafka)


def _scrape_target(job: dict[str, Any], labels: dict[str, str]) -> dict[str, str] | None:
    """The job's relabelling applied in order to one discovered target; None if dropped."""
    labels = dict(labels)
    for rule in job["relabel_configs"]:
        action = rule.get("action", "replace")
        if action == "keep" and not matches(rule, labels):
            return None
        if action == "drop" and matches(rule, labels):
            return None
        if action == "replace":
            written = relabelled(rule, labels)
            if written is not None:
                labels[rule["target_label"]] = written
        elif action not in ("keep", "drop"):
            raise NotImplementedError(f"relabel action {action!r}: teach _scrape_target")
    return labels


def _discovered(kafka: Manifest) -> dict[str, str]:
    """What Prometheus's pod discovery finds of the exporter's running pod (one per port)."""
    (port,) = exporter_container(kafka)["ports"]
    annotations = {annotation_label(k): v for k, v in exporter_annotations(kafka).items()}
    return {
        **annotations,
        "__address__": f"{POD_IP}:{port['containerPort']}",
        "__metrics_path__": "/metrics",  # the job's default
        "__meta_kubernetes_namespace": kafka["metadata"]["namespace"],
        "__meta_kubernetes_pod_name": f"{exporter_name(kafka)}-6d5f8c7b9-x2x7k",
        "__meta_kubernetes_pod_ip": POD_IP,
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_container_name": exporter_name(kafka),
    }


def test_the_scrape_job_finds_the_exporter(default_render: Rendered) -> None:
    kafka = _kafka(default_render)
    job = pod_job()
    (sd,) = job["kubernetes_sd_configs"]
    assert kafka["metadata"]["namespace"] in sd["namespaces"]["names"]
    target = _scrape_target(job, _discovered(kafka))
    assert target is not None
    assert target["__address__"] == f"{POD_IP}:{EXPORTER_ENDPOINT.port}"
    assert target["__metrics_path__"] == EXPORTER_ENDPOINT.path


@pytest.mark.parametrize(
    ("changes", "address"),
    [({PORT: "9405"}, f"{POD_IP}:9405"), ({SCRAPE: "false"}, None)],
)
def test_the_scrape_job_follows_the_annotations(
    default_render: Rendered, changes: dict[str, str], address: str | None
) -> None:
    target = _scrape_target(pod_job(), _discovered(_annotated(_kafka(default_render), **changes)))
    assert (target and target["__address__"]) == address


# -- NetworkPolicies ------------------------------------------------------------------------------


def _monitoring_ports(
    rendered: Rendered, policies: list[Manifest] | None = None
) -> frozenset[int] | None:
    kafka = _kafka(rendered)
    return pod_admitted_ports(
        rendered.of_kind("NetworkPolicy") if policies is None else policies,
        kafka["metadata"]["namespace"],
        exporter_pod_labels(kafka),
        exporter_container(kafka),
        MONITORING,
    )


@pytest.mark.parametrize("root", kustomization_roots())
def test_monitoring_reaches_the_exporters_metrics_port(
    renders: dict[str, Rendered], root: str
) -> None:
    assert _monitoring_ports(renders[root]) == frozenset({EXPORTER_ENDPOINT.port})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("ingress", 0, "ports", 0, "port"), 9405),
        (("ingress", 0, "from", 0, "namespaceSelector", "matchLabels"), {"name": "monitoring"}),
        # Strimzi's name for the broker pods, not the exporter's: the policy selects no exporter.
        (("podSelector", "matchLabels", "strimzi.io/name"), "certamen-kafka"),
    ],
)
def test_a_wrong_policy_is_caught(
    default_render: Rendered, path: tuple[str | int, ...], value: object
) -> None:
    policies = copy.deepcopy(default_render.of_kind("NetworkPolicy"))
    policy = next(p for p in policies if p["metadata"]["name"] == "metrics-kafka-exporter")
    node: Any = policy["spec"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _monitoring_ports(default_render, policies) != frozenset({EXPORTER_ENDPOINT.port})


# -- the system dashboard -------------------------------------------------------------------------


@pytest.mark.parametrize("root", kustomization_roots())
def test_the_dashboard_asks_for_the_kafka_sources_group(
    renders: dict[str, Rendered], root: str
) -> None:
    source = _source(renders[root])
    queries = dashboard_lag_queries()
    assert len(queries) == 2, "the lag stat and the lag by partition"
    for expr in queries:
        assert query_problems(expr, source["consumerGroup"], source["topics"]) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('consumergroup="certamen-consumer"', 'consumergroup="certamen"'),
        ('consumergroup="certamen-consumer"', 'consumergroup=~".+"'),
        ('topic="votes"', 'topic="votes-dlq"'),
    ],
)
def test_a_wrong_dashboard_query_is_caught(default_render: Rendered, old: str, new: str) -> None:
    source = _source(default_render)
    for expr in dashboard_lag_queries():
        assert old in expr
        broken = expr.replace(old, new)
        assert query_problems(broken, source["consumerGroup"], source["topics"]), broken

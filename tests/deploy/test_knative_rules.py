"""What the Knative code we run does not check: KafkaSource rules, our stricter ones, wiring.

Serving's and Eventing's own rules are in ``test_knative_webhook.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from certamen.settings import SourceSettings
from certamen.source.backoff import RetryPolicy
from certamen.source.http_sink import READ_TIMEOUT_S
from tests.deploy.knative_rules import (
    iso_duration_seconds,
    kafka_source_violations,
    probe_port_violations,
)
from tests.deploy.render import (
    REPO,
    Manifest,
    Rendered,
    kustomization_roots,
    revision_template,
    user_container,
)

PRODUCERS = ("producer-grpc", "producer-wasm")
KAFKA_SOURCE = REPO / "knative" / "base" / "eventing" / "kafkasource.yaml"
DEPLOY_DOC = REPO / "docs" / "deploy.md"


def _services(rendered: Rendered) -> list[Manifest]:
    return rendered.of_kind("Service", "serving.knative.dev")


@pytest.mark.parametrize("root", kustomization_roots())
def test_kafka_source_and_probes_pass_the_rules_knative_code_leaves_to_us(
    renders: dict[str, Rendered], root: str
) -> None:
    for source in renders[root].of_kind("KafkaSource"):
        assert kafka_source_violations(source) == []
    assert {s["metadata"]["name"]: probe_port_violations(s) for s in _services(renders[root])} == {
        name: [] for name in ("consumer", "producer-grpc", "producer-wasm", "streamlit")
    }


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("delivery", None, "no delivery"),
        ("consumerGroup", None, "no consumerGroup"),
        ("topics", [], "no topic"),
        ("bootstrapServers", [], "no bootstrap server"),
        ("initialOffset", "newest", "not earliest or latest"),
        ("ordering", "random", "not ordered or unordered"),
    ],
)
def test_kafka_source_rules_catch(
    default_render: Rendered, field: str, value: Any, expected: str
) -> None:
    source = copy.deepcopy(default_render.named("KafkaSource", "votes"))
    if value is None:
        del source["spec"][field]
    else:
        source["spec"][field] = value
    violations = kafka_source_violations(source)
    assert any(expected in v for v in violations), violations


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_probe_port_rule_catches_a_probe_on_another_port(
    default_render: Rendered, probe: str
) -> None:
    ksvc = copy.deepcopy(default_render.named("Service", "producer-grpc"))
    ksvc["spec"]["template"]["spec"]["containers"][0][probe] = {"grpc": {"port": 9465}}
    assert probe_port_violations(ksvc) == [f"producer-grpc: {probe}.grpc.port 9465 is not 8080"]


def test_iso_8601_durations_parse() -> None:
    assert iso_duration_seconds("PT0.2S") == pytest.approx(0.2)
    assert iso_duration_seconds("P1DT2H") == 93600
    assert iso_duration_seconds("PT30S") == 30
    assert iso_duration_seconds("PT") is None
    assert iso_duration_seconds("200ms") is None


def test_producers_scale_to_zero_and_every_service_sets_explicit_targets(
    default_render: Rendered,
) -> None:
    for ksvc in _services(default_render):
        name = ksvc["metadata"]["name"]
        annotations = revision_template(ksvc)["metadata"]["annotations"]
        for key in ("class", "metric", "target", "min-scale", "max-scale", "window"):
            assert f"autoscaling.knative.dev/{key}" in annotations, (name, key)
        assert "containerConcurrency" in revision_template(ksvc)["spec"], name
        if name in PRODUCERS:
            assert annotations["autoscaling.knative.dev/min-scale"] == "0", name


def test_grpc_producer_has_a_single_h2c_port(default_render: Rendered) -> None:
    ports = user_container(default_render.named("Service", "producer-grpc"))["ports"]
    assert [p["name"] for p in ports] == ["h2c"]


def test_consumer_is_cluster_local_and_not_probed_with_get_root(default_render: Rendered) -> None:
    consumer = default_render.named("Service", "consumer")
    assert consumer["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
    container = user_container(consumer)
    for kind in ("readinessProbe", "livenessProbe"):
        get = container[kind].get("httpGet")
        assert get is None or get.get("path", "/") != "/", kind


def test_every_service_is_locked_down(default_render: Rendered) -> None:
    for ksvc in _services(default_render):
        container = user_container(ksvc)
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["seccompProfile"]["type"] == "RuntimeDefault"
        assert {"requests", "limits"} <= set(container["resources"])
        assert {"readinessProbe", "livenessProbe"} <= set(container)
        assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])


def test_kafka_source_is_configured_like_the_local_stand_in(default_render: Rendered) -> None:
    """The local source reads the same knobs (settings.SourceSettings): same defaults."""
    spec = default_render.named("KafkaSource", "votes")["spec"]
    local = SourceSettings()
    assert spec["consumerGroup"] == local.consumer_group
    assert spec["initialOffset"] == local.initial_offset
    assert spec["ordering"] == local.ordering
    assert spec["delivery"]["retry"] == local.retry
    assert spec["delivery"]["backoffPolicy"] == local.backoff_policy
    assert iso_duration_seconds(spec["delivery"]["backoffDelay"]) == pytest.approx(
        local.backoff_delay_s
    )


def test_each_delivery_attempt_waits_as_long_as_the_consumer_may_take(
    default_render: Rendered,
) -> None:
    """Without delivery.timeout the dispatcher would wait 600 s an attempt; the stand-in too."""
    spec = default_render.named("KafkaSource", "votes")["spec"]
    sink = default_render.named("Service", spec["sink"]["ref"]["name"])
    timeout = iso_duration_seconds(spec["delivery"]["timeout"])
    assert timeout == revision_template(sink)["spec"]["timeoutSeconds"]
    assert timeout == READ_TIMEOUT_S


def test_the_stated_retry_budget_is_what_knatives_backoff_gives(default_render: Rendered) -> None:
    """The manifest and docs/deploy.md state the wait before the dead-letter sink, in seconds."""
    delivery = default_render.named("KafkaSource", "votes")["spec"]["delivery"]
    delay = iso_duration_seconds(delivery["backoffDelay"])
    assert delay is not None
    policy = RetryPolicy(delivery["retry"], delivery["backoffPolicy"], delay)
    waited = sum(policy.delay_before(n) for n in range(1, policy.retry + 1))
    stated = f"{waited:.0f} s"
    assert stated in KAFKA_SOURCE.read_text(encoding="utf-8")
    section = DEPLOY_DOC.read_text(encoding="utf-8").split("## Delivery from Kafka")[1]
    assert stated in section.split("\n## ")[0]


def test_kafka_source_wires_topic_sink_and_dead_letter_sink(default_render: Rendered) -> None:
    spec = default_render.named("KafkaSource", "votes")["spec"]
    topics = {t["spec"]["topicName"] for t in default_render.of_kind("KafkaTopic")}
    assert set(spec["topics"]) <= topics
    sink = spec["sink"]["ref"]
    assert default_render.named(sink["kind"], sink["name"])["apiVersion"] == sink["apiVersion"]
    dead = spec["delivery"]["deadLetterSink"]["ref"]
    dead_sink = default_render.named(dead["kind"], dead["name"])
    assert dead_sink["apiVersion"] == dead["apiVersion"]
    assert dead_sink["spec"]["topic"] in topics
    kafka = default_render.named("Kafka", "certamen")["metadata"]["name"]
    namespace = default_render.named("Kafka", "certamen")["metadata"]["namespace"]
    bootstrap = f"{kafka}-kafka-bootstrap.{namespace}.svc:9092"
    assert spec["bootstrapServers"] == [bootstrap]
    assert dead_sink["spec"]["bootstrapServers"] == [bootstrap]

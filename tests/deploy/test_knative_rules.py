"""Knative's webhook rules hold for every Service and the KafkaSource; each rule can fail."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from certamen.settings import SourceSettings
from tests.deploy.knative_rules import (
    go_duration_seconds,
    iso_duration_seconds,
    kafka_source_violations,
    service_violations,
)
from tests.deploy.render import Manifest, Rendered, kustomization_roots

PRODUCERS = ("producer-grpc", "producer-wasm")


def _services(rendered: Rendered) -> list[Manifest]:
    return rendered.of_kind("Service", "serving.knative.dev")


@pytest.mark.parametrize("root", kustomization_roots())
def test_knative_services_pass_the_webhook_rules(renders: dict[str, Rendered], root: str) -> None:
    found = {s["metadata"]["name"]: service_violations(s) for s in _services(renders[root])}
    assert set(found) == {"producer-grpc", "producer-wasm", "consumer", "streamlit"}
    assert not {k: v for k, v in found.items() if v}


@pytest.mark.parametrize("root", kustomization_roots())
def test_kafka_source_passes_the_webhook_rules(renders: dict[str, Rendered], root: str) -> None:
    for source in renders[root].of_kind("KafkaSource"):
        assert kafka_source_violations(source) == []


def _template(ksvc: Manifest) -> dict[str, Any]:
    template: dict[str, Any] = ksvc["spec"]["template"]
    return template


def _container(ksvc: Manifest) -> dict[str, Any]:
    container: dict[str, Any] = _template(ksvc)["spec"]["containers"][0]
    return container


def _annotate(key: str, value: str) -> Callable[[Manifest], None]:
    def change(ksvc: Manifest) -> None:
        _template(ksvc)["metadata"]["annotations"][f"autoscaling.knative.dev/{key}"] = value

    return change


def _set_port(**fields: Any) -> Callable[[Manifest], None]:
    def change(ksvc: Manifest) -> None:
        _container(ksvc)["ports"][0].update(fields)

    return change


def _second_port(ksvc: Manifest) -> None:
    _container(ksvc)["ports"].append({"name": "http1", "containerPort": 8081})


def _reserved_env(ksvc: Manifest) -> None:
    _container(ksvc).setdefault("env", []).append({"name": "PORT", "value": "8080"})


def _probe_on_other_port(ksvc: Manifest) -> None:
    _container(ksvc)["readinessProbe"] = {"tcpSocket": {"port": 9000}}


def _probe_on_named_port(ksvc: Manifest) -> None:
    _container(ksvc)["livenessProbe"] = {"httpGet": {"path": "/", "port": "metrics"}}


def _two_probe_handlers(ksvc: Manifest) -> None:
    _container(ksvc)["readinessProbe"] = {"tcpSocket": {}, "httpGet": {"path": "/"}}


def _fast_probe_with_threshold(ksvc: Manifest) -> None:
    _container(ksvc)["readinessProbe"] = {"tcpSocket": {}, "failureThreshold": 3}


def _mount_on_reserved_path(ksvc: Manifest) -> None:
    _container(ksvc)["volumeMounts"][0]["mountPath"] = "/dev"


def _pod_security_context(ksvc: Manifest) -> None:
    _template(ksvc)["spec"]["securityContext"] = {"runAsNonRoot": True}


def _pvc_volume(ksvc: Manifest) -> None:
    _template(ksvc)["spec"]["volumes"][0] = {
        "name": "tmp",
        "persistentVolumeClaim": {"claimName": "x"},
    }


def _long_timeout(ksvc: Manifest) -> None:
    _template(ksvc)["spec"]["timeoutSeconds"] = 3600


def _scale_on_service(ksvc: Manifest) -> None:
    ksvc["metadata"].setdefault("annotations", {})["autoscaling.knative.dev/max-scale"] = "3"


BROKEN: dict[str, tuple[Callable[[Manifest], None], str]] = {
    "port name": (_set_port(name="grpc"), "not h2c, http1"),
    "reserved port": (_set_port(containerPort=8012), "reserved by Knative"),
    "two ports": (_second_port, "more than one container port"),
    "reserved env": (_reserved_env, "PORT is reserved"),
    "probe port number": (_probe_on_other_port, "not the container port 8080"),
    "probe port name": (_probe_on_named_port, "not the container port's name"),
    "two probe handlers": (_two_probe_handlers, "exactly one of"),
    "fast probe threshold": (_fast_probe_with_threshold, "disallowed when periodSeconds is zero"),
    "reserved mount": (_mount_on_reserved_path, "/dev is reserved"),
    "pod security context": (_pod_security_context, "kubernetes.podspec-securitycontext"),
    "pvc": (_pvc_volume, "persistent volume claims are disabled"),
    "timeout": (_long_timeout, "timeoutSeconds 3600"),
    "annotation on service": (_scale_on_service, "is on the Service"),
    "target": (_annotate("target", "0"), "at least 0.01"),
    "target not a number": (_annotate("target", "lots"), "not a number"),
    "scale order": (_annotate("min-scale", "20"), "less than min-scale"),
    "negative scale": (_annotate("max-scale", "-1"), "whole number"),
    "initial scale zero": (_annotate("initial-scale", "0"), "allow-zero-initial-scale"),
    "window short": (_annotate("window", "5s"), "between 6s and 1h"),
    "window long": (_annotate("window", "2h"), "between 6s and 1h"),
    "window format": (_annotate("window", "60"), "not a duration"),
    "window precision": (_annotate("window", "6500ms"), "sub-second"),
    "utilization": (_annotate("target-utilization-percentage", "150"), "not in 1..100"),
    "panic threshold": (_annotate("panic-threshold-percentage", "100"), "not in 110..1000"),
    "burst capacity": (_annotate("target-burst-capacity", "-2"), "negative and not -1"),
    "metric": (_annotate("metric", "cpu"), "not concurrency or rps"),
    "class": (_annotate("class", "foo.autoscaling.knative.dev"), "neither"),
    "unknown key": (_annotate("max-scales", "3"), "unknown annotation"),
    "activation scale": (_annotate("activation-scale", "1"), "greater than 1"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_service_rules_catch(default_render: Rendered, case: str) -> None:
    change, expected = BROKEN[case]
    ksvc = copy.deepcopy(default_render.named("Service", "producer-grpc"))
    change(ksvc)
    violations = service_violations(ksvc)
    assert any(expected in v for v in violations), violations


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("delivery", None, "no delivery"),
        ("initialOffset", "newest", "not earliest or latest"),
        ("ordering", "random", "not ordered or unordered"),
        ("consumerGroup", "", "consumerGroup is empty"),
        ("sink", {"ref": {"kind": "Service"}}, "needs apiVersion, kind and name"),
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


def test_kafka_source_rules_catch_a_bad_backoff(default_render: Rendered) -> None:
    source = copy.deepcopy(default_render.named("KafkaSource", "votes"))
    source["spec"]["delivery"]["backoffDelay"] = "200ms"
    assert any("ISO 8601" in v for v in kafka_source_violations(source))


def test_durations_parse_like_go_and_iso_8601() -> None:
    assert go_duration_seconds("1m30s") == 90
    assert go_duration_seconds("0") == 0
    assert go_duration_seconds("90") is None
    assert iso_duration_seconds("PT0.2S") == pytest.approx(0.2)
    assert iso_duration_seconds("P1DT2H") == 93600
    assert iso_duration_seconds("PT") is None


def test_producers_scale_to_zero_and_every_service_sets_explicit_targets(
    default_render: Rendered,
) -> None:
    for ksvc in _services(default_render):
        name = ksvc["metadata"]["name"]
        annotations = _template(ksvc)["metadata"]["annotations"]
        for key in ("class", "metric", "target", "min-scale", "max-scale", "window"):
            assert f"autoscaling.knative.dev/{key}" in annotations, (name, key)
        assert "containerConcurrency" in _template(ksvc)["spec"], name
        if name in PRODUCERS:
            assert annotations["autoscaling.knative.dev/min-scale"] == "0", name


def test_grpc_producer_has_a_single_h2c_port(default_render: Rendered) -> None:
    ports = _container(default_render.named("Service", "producer-grpc"))["ports"]
    assert [p["name"] for p in ports] == ["h2c"]


def test_consumer_is_cluster_local_and_not_probed_with_get_root(default_render: Rendered) -> None:
    consumer = default_render.named("Service", "consumer")
    assert consumer["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
    container = _container(consumer)
    for kind in ("readinessProbe", "livenessProbe"):
        get = container[kind].get("httpGet")
        assert get is None or get.get("path", "/") != "/", kind


def test_every_service_is_locked_down(default_render: Rendered) -> None:
    for ksvc in _services(default_render):
        container = _container(ksvc)
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

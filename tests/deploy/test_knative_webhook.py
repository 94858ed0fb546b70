"""Knative's own code (Serving and Eventing v0.50.0) admits what we ship and refuses broken copies.

The messages expected here are Knative's, printed by its code through
``knative_validate/``; none of these rules is re-implemented in Python.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.knative_webhook import ValidatorError, Verdict, validate
from tests.deploy.render import (
    Manifest,
    Rendered,
    kustomization_roots,
    revision_template,
    user_container,
)

SERVICES = ("consumer", "producer-grpc", "producer-wasm", "streamlit")
KNATIVE_RELEASE = "v0.50.0"


@pytest.mark.parametrize("root", kustomization_roots())
def test_knative_admits_every_service_and_the_kafka_source(
    renders: dict[str, Rendered], knative_validator: Path, root: str
) -> None:
    verdicts = validate(knative_validator, renders[root].objects)
    assert sorted((v.kind, v.name) for v in verdicts) == [
        ("KafkaSource", "votes"),
        *(("Service", name) for name in SERVICES),
    ]
    assert all(KNATIVE_RELEASE in v.checked for v in verdicts)
    assert {v.name: v.errors for v in verdicts if v.errors} == {}
    assert {v.name: v.warnings for v in verdicts if v.warnings} == {}


def _second_port(ksvc: Manifest) -> None:
    user_container(ksvc)["ports"].append({"name": "http1", "containerPort": 8081})


def _pod_security_context(ksvc: Manifest) -> None:
    revision_template(ksvc)["spec"]["securityContext"] = {"runAsNonRoot": True}


def _annotate(key: str, value: str) -> Callable[[Manifest], None]:
    def change(ksvc: Manifest) -> None:
        revision_template(ksvc)["metadata"]["annotations"][key] = value

    return change


def _reserved_env(ksvc: Manifest) -> None:
    user_container(ksvc).setdefault("env", []).insert(0, {"name": "K_SERVICE", "value": "x"})


def _misspelt_field(ksvc: Manifest) -> None:
    user_container(ksvc)["readinesProbe"] = user_container(ksvc).pop("readinessProbe")


def _field_in_other_case(ksvc: Manifest) -> None:
    revision_template(ksvc)["spec"]["ContainerConcurrency"] = revision_template(ksvc)["spec"].pop(
        "containerConcurrency"
    )


def _long_timeout(ksvc: Manifest) -> None:
    revision_template(ksvc)["spec"]["timeoutSeconds"] = 3600


def _scale_on_the_service(ksvc: Manifest) -> None:
    ksvc["metadata"].setdefault("annotations", {})["autoscaling.knative.dev/max-scale"] = "3"


SERVICE_BROKEN: dict[str, tuple[Callable[[Manifest], None], str]] = {
    "second container port": (
        _second_port,
        "more than one container port is set: spec.template.spec.containers[*].ports",
    ),
    "pod securityContext (field mask)": (
        _pod_security_context,
        "must not set the field(s): spec.template.spec.securityContext",
    ),
    "non-numeric min-scale": (
        _annotate("autoscaling.knative.dev/min-scale", "one"),
        "invalid value: one: spec.template.metadata.annotations.autoscaling.knative.dev/min-scale",
    ),
    "reserved env var": (
        _reserved_env,
        '"K_SERVICE" is a reserved environment variable: '
        "spec.template.spec.containers[0].env[0].name",
    ),
    "timeout past max-revision-timeout-seconds": (
        _long_timeout,
        "expected 0 <= 3600 <= 600: spec.template.spec.timeoutSeconds",
    ),
    "window shorter than 6s": (
        _annotate("autoscaling.knative.dev/window", "5s"),
        "expected 6s <= 5s <= 1h0m0s: spec.template.metadata.annotations."
        "autoscaling.knative.dev/window",
    ),
    "autoscaling annotation on the Service": (
        _scale_on_the_service,
        'invalid key name "autoscaling.knative.dev/max-scale": metadata.annotations',
    ),
    # Strict decoding: Knative's webhook itself would drop these fields silently.
    "misspelt field": (
        _misspelt_field,
        'strict decoding: unknown field "spec.template.spec.containers[0].readinesProbe"',
    ),
    "field in another case": (
        _field_in_other_case,
        'strict decoding: unknown field "spec.template.spec.ContainerConcurrency"',
    ),
    # The one check of ours, with Knative's own list of the autoscaler's keys.
    "unknown autoscaling annotation": (
        _annotate("autoscaling.knative.dev/max-scales", "3"),
        "not an annotation Knative's autoscaler reads (it would be ignored): "
        "spec.template.metadata.annotations.autoscaling.knative.dev/max-scales",
    ),
}


def _verdict(binary: Path, obj: Manifest, configs: tuple[Path, ...] = ()) -> Verdict:
    (verdict,) = validate(binary, [obj], configs)
    return verdict


@pytest.mark.parametrize("case", sorted(SERVICE_BROKEN))
@pytest.mark.parametrize("name", SERVICES)
def test_knative_refuses_a_broken_service(
    default_render: Rendered, knative_validator: Path, name: str, case: str
) -> None:
    change, expected = SERVICE_BROKEN[case]
    ksvc = copy.deepcopy(default_render.named("Service", name))
    change(ksvc)
    errors = _verdict(knative_validator, ksvc).errors
    assert any(expected in e for e in errors), errors


def _delivery(field: str, value: Any) -> Callable[[Manifest], None]:
    def change(source: Manifest) -> None:
        source["spec"]["delivery"][field] = value

    return change


def _nameless_dead_letter_sink(source: Manifest) -> None:
    del source["spec"]["delivery"]["deadLetterSink"]["ref"]["name"]


def _no_sink(source: Manifest) -> None:
    del source["spec"]["sink"]


SOURCE_BROKEN: dict[str, tuple[Callable[[Manifest], None], str]] = {
    "backoffDelay not ISO 8601": (
        _delivery("backoffDelay", "200ms"),
        "invalid value: 200ms: spec.delivery.backoffDelay",
    ),
    "negative retry": (_delivery("retry", -1), "invalid value: -1: spec.delivery.retry"),
    "zero timeout": (_delivery("timeout", "PT0S"), "invalid value: PT0S: spec.delivery.timeout"),
    "unknown backoffPolicy": (
        _delivery("backoffPolicy", "fibonacci"),
        "invalid value: fibonacci: spec.delivery.backoffPolicy",
    ),
    "dead-letter sink without a name": (
        _nameless_dead_letter_sink,
        "missing field(s): spec.delivery.deadLetterSink.ref.name",
    ),
    "no sink": (_no_sink, "expected at least one, got none: spec.sink.ref, spec.sink.uri"),
    "misspelt delivery field": (
        _delivery("retires", 3),
        'spec.delivery: strict decoding: unknown field "retires"',
    ),
}


@pytest.mark.parametrize("case", sorted(SOURCE_BROKEN))
def test_knative_refuses_a_broken_kafka_source(
    default_render: Rendered, knative_validator: Path, case: str
) -> None:
    change, expected = SOURCE_BROKEN[case]
    source = copy.deepcopy(default_render.named("KafkaSource", "votes"))
    change(source)
    errors = _verdict(knative_validator, source).errors
    assert any(expected in e for e in errors), errors


def _config_map(tmp_path: Path, namespace: str, name: str, data: dict[str, str]) -> Path:
    path = tmp_path / f"{namespace}-{name}.yaml"
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": namespace, "name": name},
        "data": data,
    }
    path.write_text(yaml.safe_dump(cm), encoding="utf-8")
    return path


def test_a_cluster_config_map_changes_what_knative_admits(
    default_render: Rendered, knative_validator: Path, tmp_path: Path
) -> None:
    """The ConfigMaps a cluster may change are read as the webhook reads them."""
    ksvc = copy.deepcopy(default_render.named("Service", "producer-grpc"))
    _pod_security_context(ksvc)
    _long_timeout(ksvc)
    assert len(_verdict(knative_validator, ksvc).errors) == 2
    features = _config_map(
        tmp_path,
        "knative-serving",
        "config-features",
        {"kubernetes.podspec-securitycontext": "enabled"},
    )
    defaults = _config_map(
        tmp_path, "knative-serving", "config-defaults", {"max-revision-timeout-seconds": "3600"}
    )
    assert _verdict(knative_validator, ksvc, (features, defaults)).errors == ()

    source = default_render.named("KafkaSource", "votes")
    assert "timeout" in source["spec"]["delivery"]
    eventing = _config_map(
        tmp_path, "knative-eventing", "config-features", {"delivery-timeout": "disabled"}
    )
    errors = _verdict(knative_validator, source, (eventing,)).errors
    assert errors == ("must not set the field(s): spec.delivery.timeout",)


def test_a_config_map_knative_refuses_is_an_error(knative_validator: Path, tmp_path: Path) -> None:
    autoscaler = _config_map(
        tmp_path, "knative-serving", "config-autoscaler", {"max-scale-up-rate": "fast"}
    )
    with pytest.raises(ValidatorError, match=r"config-autoscaler.*max-scale-up-rate"):
        validate(knative_validator, [], (autoscaler,))

"""Every rendered object validates: built-in kinds strictly, custom ones against their real CRD."""

from __future__ import annotations

import copy

import pytest

from tests.deploy.render import Manifest, Rendered, kustomization_roots
from tests.deploy.schemas import (
    CustomKind,
    Schema,
    core_errors,
    custom_errors,
    custom_kind_of,
    is_core_kind,
)


@pytest.mark.parametrize("root", kustomization_roots())
def test_built_in_kinds_validate_strictly(renders: dict[str, Rendered], root: str) -> None:
    failures = {
        f"{o['kind']}/{o['metadata']['name']}": core_errors(o)
        for o in renders[root].objects
        if is_core_kind(o)
    }
    assert failures, "no built-in kinds rendered"
    assert not {k: v for k, v in failures.items() if v}


@pytest.mark.parametrize("root", kustomization_roots())
def test_custom_resources_validate_against_their_crds(
    renders: dict[str, Rendered], root: str, crds: dict[CustomKind, Schema]
) -> None:
    failures = {
        f"{o['kind']}/{o['metadata']['name']}": custom_errors(o, crds)
        for o in renders[root].objects
        if not is_core_kind(o)
    }
    assert failures, "no custom resources rendered"
    assert not {k: v for k, v in failures.items() if v}


# (kind, name, path to a mapping, the real field to misspell, the misspelling)
MISSPELLINGS = [
    (
        "Service",
        "producer-grpc",
        ("spec", "template", "spec"),
        "containerConcurrency",
        "containerConcurency",
    ),
    (
        "Service",
        "consumer",
        ("spec", "template", "spec", "containers", 0),
        "readinessProbe",
        "readynessProbe",
    ),
    ("KafkaSource", "votes", ("spec", "delivery"), "backoffPolicy", "backofPolicy"),
    ("KafkaSource", "votes", ("spec",), "consumerGroup", "consumergroup"),
    ("Kafka", "certamen", ("spec", "kafka", "listeners", 0), "tls", "tsl"),
    ("Kafka", "certamen", ("spec",), "entityOperator", "entityOperater"),
    ("KafkaNodePool", "dual-role", ("spec",), "replicas", "replica"),
    (
        "KafkaNodePool",
        "dual-role",
        ("spec", "storage", "volumes", 0),
        "deleteClaim",
        "deleteClaims",
    ),
    ("KafkaTopic", "votes", ("spec",), "partitions", "partition"),
    ("KafkaSink", "votes-dlq", ("spec",), "contentMode", "contentmode"),
]


def _misspelled(obj: Manifest, path: tuple[str | int, ...], field: str, wrong: str) -> Manifest:
    broken = copy.deepcopy(obj)
    node = broken
    for step in path:
        node = node[step]
    node[wrong] = node.pop(field)
    return broken


@pytest.mark.parametrize(
    ("kind", "name", "path", "field", "wrong"),
    MISSPELLINGS,
    ids=[f"{m[0]}.{m[3]}" for m in MISSPELLINGS],
)
def test_validator_catches_a_misspelled_field(
    default_render: Rendered,
    crds: dict[CustomKind, Schema],
    kind: str,
    name: str,
    path: tuple[str | int, ...],
    field: str,
    wrong: str,
) -> None:
    obj = default_render.named(kind, name)
    assert custom_errors(obj, crds) == []
    errors = custom_errors(_misspelled(obj, path, field, wrong), crds)
    assert any(wrong in e for e in errors), errors


def test_every_custom_kind_we_deploy_has_a_misspelling_case(default_render: Rendered) -> None:
    deployed = {o["kind"] for o in default_render.objects if not is_core_kind(o)}
    assert deployed == {m[0] for m in MISSPELLINGS}


def test_validator_leaves_fields_open_where_the_crd_preserves_unknown_fields(
    default_render: Rendered, crds: dict[CustomKind, Schema]
) -> None:
    """Strimzi's Kafka config is free-form (x-kubernetes-preserve-unknown-fields)."""
    kafka = copy.deepcopy(default_render.named("Kafka", "certamen"))
    kafka["spec"]["kafka"]["config"]["log.roll.hours"] = 1
    assert custom_errors(kafka, crds) == []


def test_validator_checks_metadata_of_custom_resources(
    default_render: Rendered, crds: dict[CustomKind, Schema]
) -> None:
    source = copy.deepcopy(default_render.named("KafkaSource", "votes"))
    source["metadata"]["lables"] = {"a": "b"}
    assert any("lables" in e for e in custom_errors(source, crds))


def test_validator_catches_a_misspelled_field_in_a_built_in_kind(default_render: Rendered) -> None:
    redis = default_render.named("StatefulSet", "redis")
    assert core_errors(redis) == []
    broken = _misspelled(redis, ("spec",), "serviceName", "servicename")
    assert core_errors(broken)


def test_a_kind_without_a_crd_is_an_error(crds: dict[CustomKind, Schema]) -> None:
    unknown = {"apiVersion": "example.dev/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    assert custom_kind_of(unknown) not in crds
    assert custom_errors(unknown, crds)


def test_every_custom_kind_we_deploy_has_its_real_crd(
    default_render: Rendered, crds: dict[CustomKind, Schema]
) -> None:
    """No stand-in schema: each kind is checked against the CRD its project ships."""
    deployed = {custom_kind_of(o) for o in default_render.objects if not is_core_kind(o)}
    assert deployed <= set(crds), deployed - set(crds)


def test_a_closed_resource_still_admits_what_the_api_server_supplies(
    default_render: Rendered, crds: dict[CustomKind, Schema]
) -> None:
    """KafkaSink's CRD lists no apiVersion/kind/metadata; other top-level fields stay closed."""
    sink = copy.deepcopy(default_render.named("KafkaSink", "votes-dlq"))
    assert custom_errors(sink, crds) == []
    sink["spce"] = {}
    assert any("spce" in e for e in custom_errors(sink, crds))

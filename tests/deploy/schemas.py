"""Validate rendered objects: core kinds against Kubernetes' schemas, custom ones against CRDs.

Core kinds go through ``kubernetes-validate`` in strict mode (an unknown field is
an error). Custom resources go through the openAPIV3Schema of their real CRD,
read from ``tests/deploy/crds/`` (copied unchanged from their projects; ``SOURCES.md``
there says from where). Those schemas are structural: they
never say ``additionalProperties: false``, because the API server prunes unknown
fields instead (and ``kubectl apply``'s strict field validation rejects them).
``closed`` adds it wherever an object lists its properties and does not carry
``x-kubernetes-preserve-unknown-fields``, so a misspelled field fails here as it
would fail on the cluster. At the top level it also admits ``apiVersion``, ``kind`` and
``metadata``, which the API server supplies whether or not a CRD's schema lists them
(KafkaSink's does not).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.deploy.render import Manifest, api_group_of

KUBERNETES_VERSION = "1.33"
CRD_DIR = Path(__file__).resolve().parent / "crds"
PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
# API groups of built-in kinds that are not named *.k8s.io.
BUILT_IN_GROUPS = frozenset({"", "apps", "batch", "policy", "autoscaling"})

Schema = dict[str, Any]


class MissingCRDs(FileNotFoundError):
    """The CRD folder of the repository is missing or empty."""


@dataclass(frozen=True)
class CustomKind:
    """A (group, version, kind) that some CRD in the folder serves."""

    group: str
    version: str
    kind: str


def crd_directory(path: Path = CRD_DIR) -> Path:
    """The CRD folder, or a clear error saying where it was expected."""
    if not path.is_dir() or not any(path.glob("*.yaml")):
        raise MissingCRDs(
            f"no CRDs in {path}: the deploy tests read the real CRDs kept there "
            "(see tests/deploy/crds/SOURCES.md)"
        )
    return path


def load_crds(path: Path) -> dict[CustomKind, Schema]:
    """Every served version of every CRD in the folder, with its schema closed."""
    schemas: dict[CustomKind, Schema] = {}
    for file in sorted(path.glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text(encoding="utf-8")):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served", True):
                    kind = CustomKind(spec["group"], version["name"], spec["names"]["kind"])
                    schemas[kind] = closed_resource(version["schema"]["openAPIV3Schema"])
    return schemas


# What every object carries whatever its CRD's schema lists; metadata is checked on its own.
API_SERVER_FIELDS: Schema = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
}


def closed(schema: Schema) -> Schema:
    """A JSON Schema that rejects unknown fields where the API server would."""
    result = copy.deepcopy(schema)
    _close(result)
    return result


def closed_resource(schema: Schema) -> Schema:
    """:func:`closed` for a whole object: the API server's own top-level fields stay allowed."""
    result = closed(schema)
    if "properties" in result:
        result["properties"] = {**API_SERVER_FIELDS, **result["properties"]}
    return result


def _close(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item)
        return
    if not isinstance(node, dict):
        return
    if node.get(INT_OR_STRING):
        node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in node:
        node["type"] = [node["type"], "null"]
    if "properties" in node and not node.get(PRESERVE) and "additionalProperties" not in node:
        node["additionalProperties"] = False
    for key, value in node.items():
        if key == "properties":
            for child in value.values():
                _close(child)
        elif key in ("items", "additionalProperties", "anyOf", "allOf", "oneOf", "not"):
            _close(value)


def custom_kind_of(obj: Manifest) -> CustomKind:
    """The (group, version, kind) of an object."""
    version = obj["apiVersion"].split("/")[-1]
    return CustomKind(api_group_of(obj), version, obj["kind"])


def is_core_kind(obj: Manifest) -> bool:
    """Whether the kind is built into Kubernetes (core group, apps, ..., *.k8s.io)."""
    group = api_group_of(obj)
    return group in BUILT_IN_GROUPS or group.endswith(".k8s.io")


def core_errors(obj: Manifest) -> list[str]:
    """Strict validation of a built-in kind; an empty list means valid."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{_path(e.path)}: {e.message}"]
    return []


def custom_errors(obj: Manifest, crds: dict[CustomKind, Schema]) -> list[str]:
    """Every error of a custom resource against its CRD, and of its metadata."""
    kind = custom_kind_of(obj)
    schema = crds.get(kind)
    if schema is None:
        return [
            f"no CRD serves {kind.group}/{kind.version} {kind.kind} in {CRD_DIR}: "
            "add the real CRD there (see its SOURCES.md)"
        ]
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{_path(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
    return errors + _metadata_errors(obj)


def _metadata_errors(obj: Manifest) -> list[str]:
    """A CRD leaves metadata open; the API server checks it as ObjectMeta, and so do we."""
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata", {})}
    return [f"metadata: {e}" for e in core_errors(carrier)]


def _path(parts: Iterator[Any] | Any) -> str:
    return ".".join(str(p) for p in parts) or "(root)"

"""The Certamen workloads of a render, the environment each one gets, and what settings.py reads.

The variable names come from ``functions/certamen/settings.py`` itself (its
syntax tree), never from a copy kept here: a variable added or renamed there is
seen by the tests at once.
"""

from __future__ import annotations

import ast
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.render import REPO, Manifest, Rendered

SETTINGS = REPO / "functions" / "certamen" / "settings.py"
# The settings helpers of settings.py: helper(env, "NAME", default, ...).
_READERS = frozenset({"_text", "_int", "_float", "_choice", "_url", "_timezone", "_emails"})
LOCAL_HOST = "127.0.0.1"


@dataclass(frozen=True)
class SettingsVariables:
    """The environment variables settings.py reads, and those whose default is this machine."""

    names: frozenset[str]
    local_defaults: frozenset[str]


@dataclass(frozen=True)
class Workload:
    """One Knative Service running the certamen image: its container and environment."""

    name: str
    service: Manifest
    container: dict[str, Any]
    environment: dict[str, str]

    @property
    def argv(self) -> list[str]:
        """command + args, as the container runs them."""
        return [*self.container.get("command", []), *self.container.get("args", [])]


class UnresolvedReference(LookupError):
    """An env var points at a ConfigMap, Secret or key the render does not contain."""


def settings_variables(path: Path = SETTINGS) -> SettingsVariables:
    """Scan settings.py for env.get("X") and _text(env, "X", default) style reads."""
    names: set[str] = set()
    local: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in _READERS and len(node.args) >= 2:
            name = _constant(node.args[1])
            if name:
                names.add(name)
                if len(node.args) >= 3 and LOCAL_HOST in _strings(node.args[2]):
                    local.add(name)
        elif isinstance(func, ast.Attribute) and func.attr == "get" and node.args:
            name = _constant(node.args[0])
            if name and name.isupper():
                names.add(name)
    return SettingsVariables(frozenset(names), frozenset(local))


def certamen_workloads(rendered: Rendered, entrypoint: str = "certamen") -> list[Workload]:
    """The Knative Services whose container runs ``entrypoint``, with resolved environments."""
    workloads = []
    for service in rendered.of_kind("Service", "serving.knative.dev"):
        for container in service["spec"]["template"]["spec"]["containers"]:
            if container.get("command", [None])[0] == entrypoint:
                workloads.append(
                    Workload(
                        name=service["metadata"]["name"],
                        service=service,
                        container=container,
                        environment=container_environment(rendered, container),
                    )
                )
    return workloads


def container_environment(rendered: Rendered, container: dict[str, Any]) -> dict[str, str]:
    """env and envFrom of a container, every reference resolved against the render."""
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data = _data(rendered, "ConfigMap", source["configMapRef"]["name"])
        else:
            data = _data(rendered, "Secret", source["secretRef"]["name"])
        prefix = source.get("prefix", "")
        environment.update({prefix + k: v for k, v in data.items()})
    for env in container.get("env", []):
        if "value" in env:
            environment[env["name"]] = env["value"]
            continue
        ref = env["valueFrom"]
        if "secretKeyRef" in ref:
            kind, key_ref = "Secret", ref["secretKeyRef"]
        elif "configMapKeyRef" in ref:
            kind, key_ref = "ConfigMap", ref["configMapKeyRef"]
        else:
            raise UnresolvedReference(
                f"{env['name']}: only Secret and ConfigMap references resolve"
            )
        if key_ref.get("optional") and not _exists(rendered, kind, key_ref["name"]):
            continue  # an optional reference to an object the operator creates, or not
        data = _data(rendered, kind, key_ref["name"])
        if key_ref["key"] not in data:
            raise UnresolvedReference(
                f"{env['name']}: {kind} {key_ref['name']} has no key {key_ref['key']}"
            )
        environment[env["name"]] = data[key_ref["key"]]
    return environment


def _exists(rendered: Rendered, kind: str, name: str) -> bool:
    return any(o["metadata"]["name"] == name for o in rendered.of_kind(kind))


def _data(rendered: Rendered, kind: str, name: str) -> dict[str, str]:
    found = [o for o in rendered.of_kind(kind) if o["metadata"]["name"] == name]
    if not found:
        raise UnresolvedReference(f"no {kind} named {name} in the render of {rendered.root}")
    obj = found[0]
    data: dict[str, str] = dict(obj.get("stringData", {}))
    for key, value in obj.get("data", {}).items():
        data[key] = base64.b64decode(value).decode("utf-8") if kind == "Secret" else value
    return data


def _constant(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _strings(node: ast.expr) -> str:
    return " ".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )

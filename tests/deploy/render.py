"""Render knative/ with Debian's kubectl, the way `kubectl apply -k` would, without a cluster.

The Secrets' .env files are never committed, so the render works on a copy of the
manifests in which each ``knative/secrets/*.env`` is its committed ``.env.example``.
Everything else (the kustomizations, ``grafana/``) is copied unchanged, keeping
their relative places: ``knative/base`` reaches ``../../grafana``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KNATIVE = REPO / "knative"
KUBECTL = "/usr/bin/kubectl"
# The folders a render reads: the manifests and the Grafana dashboards they mount.
RENDER_INPUTS = ("knative", "grafana")

Manifest = dict[str, Any]


class RenderError(RuntimeError):
    """kubectl kustomize refused a kustomization."""


@dataclass(frozen=True)
class Rendered:
    """One kustomization's output: its objects in order."""

    root: str
    objects: list[Manifest]

    def of_kind(self, kind: str, api_group: str | None = None) -> list[Manifest]:
        """Every object of this kind (and API group, when given)."""
        return [
            o
            for o in self.objects
            if o["kind"] == kind and (api_group is None or api_group_of(o) == api_group)
        ]

    def named(self, kind: str, name: str) -> Manifest:
        """The one object of this kind whose name is ``name`` or, if generated, starts ``name-``."""
        found = [o for o in self.objects if o["kind"] == kind and _is_named(o, name)]
        if len(found) != 1:
            raise LookupError(f"{len(found)} {kind} objects named {name!r} in {self.root}")
        return found[0]


def revision_template(ksvc: Manifest) -> dict[str, Any]:
    """A Knative Service's revision template (``spec.template``)."""
    template: dict[str, Any] = ksvc["spec"]["template"]
    return template


def user_container(ksvc: Manifest) -> dict[str, Any]:
    """The one container of a Knative Service's revision template."""
    container: dict[str, Any] = revision_template(ksvc)["spec"]["containers"][0]
    return container


def api_group_of(obj: Manifest) -> str:
    """The API group of an object ('' for the core group)."""
    api_version: str = obj["apiVersion"]
    return api_version.split("/")[0] if "/" in api_version else ""


def kustomization_roots() -> list[str]:
    """knative/ and every overlay under knative/overlays/, relative to the repo."""
    roots = ["knative"]
    overlays = KNATIVE / "overlays"
    roots += sorted(str(p.parent.relative_to(REPO)) for p in overlays.glob("*/kustomization.yaml"))
    return roots


def prepare_tree(destination: Path) -> Path:
    """Copy the render inputs to ``destination`` with the example secrets in place."""
    for folder in RENDER_INPUTS:
        source = REPO / folder
        if source.is_dir():
            shutil.copytree(source, destination / folder, ignore=_real_secrets)
    for example in (destination / "knative" / "secrets").glob("*.env.example"):
        shutil.copyfile(example, example.with_suffix(""))
    return destination


def _real_secrets(folder: str, names: list[str]) -> set[str]:
    """The generated knative/secrets/*.env of this checkout: never copied, never read."""
    if Path(folder).name != "secrets":
        return set()
    return {n for n in names if n.endswith(".env")}


def render(tree: Path, root: str) -> Rendered:
    """``kubectl kustomize <root>`` in a prepared tree, parsed into objects."""
    result = subprocess.run(
        [KUBECTL, "kustomize", str(tree / root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {root} failed:\n{result.stderr}")
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    return Rendered(root=root, objects=objects)


def _is_named(obj: Manifest, name: str) -> bool:
    actual: str = obj["metadata"]["name"]
    if actual == name:
        return True
    # A generated ConfigMap or Secret carries a hash suffix: name-<10 chars>.
    generated = obj["kind"] in ("ConfigMap", "Secret")
    return generated and actual.startswith(f"{name}-") and len(actual) == len(name) + 11

"""Run Checkov over the rendered manifests and the Dockerfile, with our written skips.

Checkov lives in its own virtualenv (build/tools/checkov): it pins ``packaging``
and other libraries to versions that would clash with the project's. The first
run creates it from PyPI; later runs reuse it.

Checkov has no checks for Knative Services, so each one is also scanned as the
Deployment Knative makes of it (same pod template): every container check then
applies to our workloads too. Checkov runs every check; the failures that
``knative/checkov-skips.yaml`` explains (each with its reason, everywhere or only
for the resources it names) are set aside, and a skip that explains nothing is
reported as stale.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.render import REPO, Manifest, Rendered

CHECKOV_VERSION = "3.3.30"
TOOL_VENV = REPO / "build" / "tools" / "checkov"
SKIPS_FILE = REPO / "knative" / "checkov-skips.yaml"


@dataclass(frozen=True)
class Skip:
    """A check we do not pass, why, and where (None: everywhere)."""

    check: str
    reason: str
    resources: tuple[str, ...] | None


@dataclass(frozen=True)
class Failure:
    """A failed check Checkov reported."""

    check: str
    name: str
    resource: str
    file: str

    def __str__(self) -> str:
        return f"{self.check} {self.resource}: {self.name}"

    @property
    def kind_name(self) -> str:
        """Kind/name of the resource (Checkov writes Kind.namespace.name)."""
        parts = self.resource.split(".")
        return f"{parts[0]}/{parts[-1]}"

    def explained_by(self, skip: Skip) -> bool:
        """Whether this skip covers this failure."""
        if skip.check != self.check:
            return False
        return skip.resources is None or self.kind_name in skip.resources


def checkov_binary() -> Path:
    """Checkov from its own venv, installed at the pinned version on first use."""
    binary = TOOL_VENV / "bin" / "checkov"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOOL_VENV)], check=True, timeout=120)
        subprocess.run(
            [str(TOOL_VENV / "bin" / "pip"), "install", "-q", f"checkov=={CHECKOV_VERSION}"],
            check=True,
            timeout=900,
        )
    return binary


def load_skips(framework: str, path: Path = SKIPS_FILE) -> list[Skip]:
    """The skips of one framework ("kubernetes" or "dockerfile")."""
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))[framework] or {}
    skips = []
    for check, entry in raw.items():
        resources = entry.get("resources")
        skips.append(Skip(check, entry["reason"], tuple(resources) if resources else None))
    return skips


def knative_as_deployment(ksvc: Manifest) -> Manifest:
    """The Deployment Knative would create for a Service, for scanners that know only that."""
    template = copy.deepcopy(ksvc["spec"]["template"])
    template["spec"].pop("containerConcurrency", None)
    template["spec"].pop("timeoutSeconds", None)
    metadata = ksvc["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"{metadata['name']}-ksvc",
            "namespace": metadata.get("namespace", "default"),
            "labels": metadata.get("labels", {}),
        },
        "spec": {
            "selector": {"matchLabels": {"serving.knative.dev/service": metadata["name"]}},
            "template": {
                "metadata": {
                    "labels": {"serving.knative.dev/service": metadata["name"]},
                    "annotations": template.get("metadata", {}).get("annotations", {}),
                },
                "spec": template["spec"],
            },
        },
    }


def scanned_objects(rendered: Rendered) -> list[Manifest]:
    """The render plus the Deployment Knative makes of each Knative Service."""
    services = rendered.of_kind("Service", "serving.knative.dev")
    return [*rendered.objects, *(knative_as_deployment(s) for s in services)]


@dataclass(frozen=True)
class Outcome:
    """What Checkov found in one file, sorted against our skips."""

    unexplained: list[Failure]
    stale_skips: list[Skip]
    passed: int


def run_checkov(target: Path, framework: str, skips: list[Skip]) -> Outcome:
    """Every check of the framework on a file, the failures sorted against our skips."""
    command = [
        str(checkov_binary()),
        "--compact",
        "--output",
        "json",
        "--framework",
        framework,
        "--file",
        str(target),
        "--skip-download",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if not result.stdout.strip():
        raise RuntimeError(f"checkov printed nothing (exit {result.returncode}): {result.stderr}")
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failures: list[Failure] = []
    passed = 0
    for report in reports:
        results = report.get("results", {})
        passed += len(results.get("passed_checks", []))
        for check in results.get("failed_checks", []):
            failures.append(
                Failure(
                    check["check_id"], check["check_name"], check["resource"], check["file_path"]
                )
            )
    return Outcome(
        unexplained=[f for f in failures if not any(f.explained_by(s) for s in skips)],
        stale_skips=[s for s in skips if not any(f.explained_by(s) for f in failures)],
        passed=passed,
    )


def write_manifests(objects: list[Manifest], path: Path) -> Path:
    """The objects as one multi-document YAML file."""
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8")
    return path

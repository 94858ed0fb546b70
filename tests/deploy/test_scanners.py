"""Checkov finds no failed check without a written reason, in the manifests or the Dockerfile.

Slow the first time (Checkov is installed into build/tools/checkov), about a
minute per run after that.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.checkov import load_skips, run_checkov, scanned_objects, write_manifests
from tests.deploy.dockerfile import DOCKERFILE
from tests.deploy.render import Rendered, kustomization_roots


@pytest.mark.parametrize("framework", ["kubernetes", "dockerfile"])
def test_every_skip_has_a_reason(framework: str) -> None:
    skips = load_skips(framework)
    assert skips
    for skip in skips:
        assert len(skip.reason.split()) >= 8, f"{skip.check}: say why in a sentence"


@pytest.mark.parametrize("root", kustomization_roots())
def test_checkov_passes_the_manifests(
    renders: dict[str, Rendered], root: str, tmp_path: Path
) -> None:
    target = write_manifests(scanned_objects(renders[root]), tmp_path / "rendered.yaml")
    outcome = run_checkov(target, "kubernetes", load_skips("kubernetes"))
    assert outcome.passed > 100, "Checkov ran almost no checks: is the render empty?"
    assert not outcome.unexplained, "\n".join(map(str, outcome.unexplained))
    assert not outcome.stale_skips, (
        f"skips that explain no failure (remove them): {outcome.stale_skips}"
    )


def test_checkov_passes_the_dockerfile() -> None:
    outcome = run_checkov(DOCKERFILE, "dockerfile", load_skips("dockerfile"))
    assert outcome.passed > 10
    assert not outcome.unexplained, "\n".join(map(str, outcome.unexplained))
    assert not outcome.stale_skips, (
        f"skips that explain no failure (remove them): {outcome.stale_skips}"
    )


def test_checkov_sees_knative_services_as_deployments(default_render: Rendered) -> None:
    """Without the projection Checkov would skip our workloads: make sure they are scanned."""
    objects = scanned_objects(default_render)
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    for ksvc in default_render.of_kind("Service", "serving.knative.dev"):
        assert f"{ksvc['metadata']['name']}-ksvc" in names

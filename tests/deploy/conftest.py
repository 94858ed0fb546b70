"""Deploy-test fixtures: the rendered kustomizations and the CRD schemas, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.knative_webhook import validator
from tests.deploy.render import Rendered, kustomization_roots, prepare_tree, render
from tests.deploy.schemas import CustomKind, Schema, crd_directory, load_crds


@pytest.fixture(scope="session")
def render_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the render inputs with the example secrets in place."""
    return prepare_tree(tmp_path_factory.mktemp("render"))


@pytest.fixture(scope="session")
def renders(render_tree: Path) -> dict[str, Rendered]:
    """Every kustomization (knative/ and its overlays), rendered by kubectl."""
    return {root: render(render_tree, root) for root in kustomization_roots()}


@pytest.fixture(scope="session")
def default_render(renders: dict[str, Rendered]) -> Rendered:
    """What `kubectl apply -k knative/` applies."""
    return renders["knative"]


@pytest.fixture(scope="session")
def crds() -> dict[CustomKind, Schema]:
    """The real CRDs from tests/deploy/crds/, closed against unknown fields."""
    return load_crds(crd_directory())


@pytest.fixture(scope="session")
def knative_validator() -> Path:
    """Our Go program that runs Knative's own admission code (rebuilt if its sources changed)."""
    return validator()

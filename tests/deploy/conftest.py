"""Deploy-test fixtures: the rendered kustomizations and the CRD schemas, once per session."""

from __future__ import annotations

import pytest

from tests.deploy.render import Rendered, kustomization_roots, prepare_tree, render
from tests.deploy.schemas import CustomKind, Schema, crd_directory, load_crds


@pytest.fixture(scope="session")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """Every kustomization (knative/ and its overlays), rendered by kubectl."""
    tree = prepare_tree(tmp_path_factory.mktemp("render"))
    return {root: render(tree, root) for root in kustomization_roots()}


@pytest.fixture(scope="session")
def default_render(renders: dict[str, Rendered]) -> Rendered:
    """What `kubectl apply -k knative/` applies."""
    return renders["knative"]


@pytest.fixture(scope="session")
def crds() -> dict[CustomKind, Schema]:
    """The real CRDs from tests/deploy/crds/, closed against unknown fields."""
    return load_crds(crd_directory())

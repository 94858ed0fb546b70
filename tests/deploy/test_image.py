"""The Dockerfile: lint-clean, pinned, non-root, and in step with the manifests and pyproject."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from certamen.operations.cli import COMMANDS
from tests.deploy.dockerfile import DOCKERFILE, docker_ignored, final_stage, stages
from tests.deploy.render import REPO, Rendered
from tests.deploy.workloads import certamen_workloads

HADOLINT = Path(sys.executable).with_name("hadolint")


def test_hadolint_is_clean() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stage_builds_from_a_base_pinned_by_digest() -> None:
    for stage in stages():
        assert re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", stage.base), stage.base


def test_image_runs_as_the_user_the_manifests_expect(default_render: Rendered) -> None:
    user, _, group = (final_stage().user or "").partition(":")
    assert user.isdigit() and int(user) >= 10000, "USER must be a numeric non-root uid"
    for workload in certamen_workloads(default_render):
        security = workload.container["securityContext"]
        assert (security["runAsUser"], security["runAsGroup"]) == (int(user), int(group))


def test_manifests_start_the_image_entrypoint_with_a_known_subcommand(
    default_render: Rendered,
) -> None:
    entrypoint = final_stage().entrypoint
    for workload in certamen_workloads(default_render):
        assert workload.container["command"] == entrypoint, workload.name
        subcommand = workload.container["args"][0]
        assert subcommand in COMMANDS, workload.name
        module = COMMANDS[subcommand][0]
        assert importlib.util.find_spec(module) is not None, f"{workload.name}: no {module}"


def test_each_workload_image_is_built_with_the_extra_named_after_it(
    default_render: Rendered,
) -> None:
    """The image of workload W is certamen-W, built with --build-arg WORKLOAD=W, which
    installs the package with pyproject's extra W: the dependencies W runs, no more."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    build = stages()[0]
    assert "WORKLOAD" in build.args and not build.args["WORKLOAD"], "WORKLOAD has no default"
    assert any('pip install ".[${WORKLOAD}]"' in run for run in build.runs)
    for workload in certamen_workloads(default_render):
        assert workload.name in extras, f"no extra {workload.name!r} in pyproject.toml"
        assert (
            workload.container["image"].rpartition("/")[2].startswith(f"certamen-{workload.name}:")
        ), workload.container["image"]
        assert workload.container["args"][0] == workload.name


def test_files_the_dockerfile_copies_are_in_the_build_context() -> None:
    for stage in stages():
        for copy in stage.copies:
            if copy.from_stage is not None:
                continue
            for source in copy.sources:
                assert (REPO / source).exists(), source
                assert not docker_ignored(source), f".dockerignore drops {source}"


def test_secrets_and_generated_stubs_never_enter_the_build_context() -> None:
    for path in (
        "knative/secrets/redis.env",
        "functions/certamen/_generated/certamen/v1/votes_pb2.py",
        "functions/certamen/__pycache__/cli.cpython-311.pyc",
        ".venv/bin/python",
        ".git/config",
    ):
        assert docker_ignored(path), path
    assert not docker_ignored("functions/certamen/operations/cli.py")


def test_stub_generator_pin_matches_pyproject() -> None:
    dev = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["dev"]
    pin = next(d for d in dev if d.startswith("grpcio-tools=="))
    runs = " ".join(r for stage in stages() for r in stage.runs)
    assert pin in runs


def test_stub_build_script_exists() -> None:
    runs = " ".join(r for stage in stages() for r in stage.runs)
    script = re.search(r"(functions/\S+/build\.py)", runs)
    assert script and (REPO / script.group(1)).is_file()


@pytest.mark.parametrize("variable", ["CERTAMEN_CATALOG"])
def test_paths_given_to_workloads_exist_in_the_image(
    default_render: Rendered, variable: str
) -> None:
    destinations = {c.destination for c in final_stage().copies}
    for workload in certamen_workloads(default_render):
        assert workload.environment[variable] in destinations, workload.name

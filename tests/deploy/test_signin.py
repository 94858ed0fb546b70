"""The Streamlit Service and sign-in: public means sign-in, or the process does not start.

The Secret ``streamlit-auth`` is the operator's (docs/deploy.md, "Sign-in"); the
Service mounts it, optional, as Streamlit's Kubernetes-style secrets folder. These
tests take the rendered Service as it is and check what its container would do
with the Secret absent (the kubelet mounts an empty folder) and present (the
example in tests/deploy/streamlit-auth/, laid out as the kubelet lays it out).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from certamen.results.access import (
    PROVIDER_KEYS,
    SHARED_KEYS,
    SignInRequired,
    decide,
    read_auth,
    sign_in_configured,
)
from certamen.settings import load
from tests.deploy.render import REPO, Rendered
from tests.deploy.smoke import SIGN_IN_SECRET
from tests.deploy.workloads import Workload, certamen_workloads

VISIBILITY_LABEL = "networking.knative.dev/visibility"


def _streamlit(rendered: Rendered) -> Workload:
    return next(w for w in certamen_workloads(rendered) if w.name == "streamlit")


def _in_pod(workload: Workload, secrets: Path) -> dict[str, str]:
    """The container's environment as Knative runs it, its secrets folder moved here."""
    return {
        **workload.environment,
        "K_SERVICE": workload.name,
        "CERTAMEN_STREAMLIT_SECRETS": str(secrets),
    }


def _mounted_secret(workload: Workload) -> tuple[dict[str, Any], dict[str, Any]]:
    """The volume of Secret streamlit-auth and the container's mount of it."""
    spec = workload.service["spec"]["template"]["spec"]
    (volume,) = [
        v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == "streamlit-auth"
    ]
    (mount,) = [m for m in workload.container["volumeMounts"] if m["name"] == volume["name"]]
    return volume, mount


def visibility_agrees(service: dict[str, Any], environment: dict[str, str]) -> bool:
    """CERTAMEN_STREAMLIT_VISIBILITY says cluster-local exactly when Knative makes it so."""
    labelled = service["metadata"].get("labels", {}).get(VISIBILITY_LABEL) == "cluster-local"
    said = environment.get("CERTAMEN_STREAMLIT_VISIBILITY") == "cluster-local"
    return labelled == said


@pytest.mark.parametrize("root", ["knative", "knative/overlays/ha"])
def test_the_service_is_public_and_says_so(renders: dict[str, Rendered], root: str) -> None:
    workload = _streamlit(renders[root])
    assert visibility_agrees(workload.service, workload.environment)
    assert load(_in_pod(workload, SIGN_IN_SECRET)).webapp.visibility == "public"


def test_a_setting_that_the_label_does_not_back_is_caught(default_render: Rendered) -> None:
    workload = _streamlit(default_render)
    claimed = {**workload.environment, "CERTAMEN_STREAMLIT_VISIBILITY": "cluster-local"}
    assert not visibility_agrees(workload.service, claimed)
    labelled = copy.deepcopy(workload.service)
    labelled["metadata"].setdefault("labels", {})[VISIBILITY_LABEL] = "cluster-local"
    assert visibility_agrees(labelled, claimed)


def test_the_secret_is_mounted_where_streamlit_reads_its_auth_section(
    default_render: Rendered,
) -> None:
    workload = _streamlit(default_render)
    volume, mount = _mounted_secret(workload)
    assert volume["secret"]["optional"] is True  # the rest of the deployment applies without it
    secrets = load({**workload.environment, "K_SERVICE": workload.name}).webapp.secrets_files
    assert [str(p) for p in secrets] == ["/etc/certamen/streamlit"]
    assert mount["mountPath"] == f"{secrets[0]}/auth"
    assert {item["key"] for item in volume["secret"]["items"]} == {*SHARED_KEYS, *PROVIDER_KEYS}
    assert sorted(p.name for p in (SIGN_IN_SECRET / "auth").iterdir()) == sorted(
        {*SHARED_KEYS, *PROVIDER_KEYS}
    )


def test_without_the_secret_the_app_is_refused_and_with_it_signs_in(
    default_render: Rendered, tmp_path: Path
) -> None:
    workload = _streamlit(default_render)
    (tmp_path / "auth").mkdir()  # the optional Secret's volume when the Secret does not exist
    absent = load(_in_pod(workload, tmp_path)).webapp
    with pytest.raises(SignInRequired):
        decide(absent, sign_in_configured(read_auth(absent.secrets_files)))
    present = load(_in_pod(workload, SIGN_IN_SECRET)).webapp
    assert decide(present, sign_in_configured(read_auth(present.secrets_files))) == "sign-in"


def test_certamen_streamlit_exits_without_sign_in_on_knative(
    default_render: Rendered, tmp_path: Path
) -> None:
    workload = _streamlit(default_render)
    (tmp_path / "auth").mkdir()
    environment = {**os.environ, **_in_pod(workload, tmp_path), "PORT": "1"}
    environment.pop("CERTAMEN_CATALOG", None)  # the image's path; not needed to refuse
    finished = subprocess.run(
        [sys.executable, "-m", "certamen.operations.cli", "streamlit"],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2, finished.stderr
    assert "refusing to start" in finished.stderr
    assert "sign-in is not configured" in finished.stderr

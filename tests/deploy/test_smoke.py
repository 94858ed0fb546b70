"""Each image entrypoint starts with exactly its manifest's command and environment, as nobody.

The image is approximated by running the Dockerfile's steps (tests/deploy/image.py;
the first run installs the dependencies, a few minutes). tests/deploy/smoke.py
says what is substituted between the cluster and this machine (addresses,
ports, paths) and how the pod's restrictions are reproduced (read-only root,
fresh /tmp, uid 65534, no privileges). Once it is ready, a workload with
``prometheus.io/*`` annotations must answer Prometheus's GET there (the port moved
as the substitutions moved it) with a series of the system dashboard. Needs the
dev servers (the ``contest`` fixture) and root, for unshare and setpriv.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from certamen.settings import Settings
from grafana.system import CONSUMER_EVENTS, PRODUCER_VOTES
from tests.deploy.dockerfile import final_stage
from tests.deploy.image import image_root, in_image, site_packages
from tests.deploy.metrics import annotated_endpoint
from tests.deploy.render import Rendered
from tests.deploy.smoke import (
    NOBODY,
    SmokeFailure,
    free_ports,
    local_environment,
    local_port,
    probe_once,
    scrape,
    start,
    stop,
    wait_ready,
)
from tests.deploy.workloads import Workload, certamen_workloads

pytestmark = pytest.mark.integration

WORKLOADS = ("producer-grpc", "producer-wasm", "consumer", "streamlit")
READY_WITHIN_S = 120.0
# How long the kubelet waits after SIGTERM (terminationGracePeriodSeconds' default).
GRACE_S = 30.0
# A series of the system dashboard each scraped workload exports from the start
# (grafana/system.py queries them), with the labels that tell the workloads apart.
DASHBOARD_SERIES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "producer-grpc": (PRODUCER_VOTES, (("channel", "grpc"), ("outcome", "accepted"))),
    "producer-wasm": (PRODUCER_VOTES, (("channel", "wasm"), ("outcome", "accepted"))),
    "consumer": (CONSUMER_EVENTS, (("outcome", "counted"),)),
}
# Cluster names that must not survive the substitution.
CLUSTER_NAMES = ("certamen-kafka-bootstrap", "@redis:", "@mongodb:", ".svc")


# The operator's side (load generation, the stack's Kafka client and console): in no image.
OPERATORS_PACKAGES = ("locust", "gevent", "kafka", "rich")
# What each image runs, found in its own site-packages and in no other workload's.
OWN_PACKAGES = {
    "producer-grpc": ("grpc_health", "grpc_reflection"),
    "producer-wasm": ("wasmtime",),
    "consumer": ("functions_framework", "pymongo"),
    "streamlit": ("streamlit", "streamlit_app"),
}


def _workdir(root: Path) -> str:
    return in_image(root, final_stage().workdir)


def _workload(rendered: Rendered, name: str) -> Workload:
    return next(w for w in certamen_workloads(rendered) if w.name == name)


def _uid(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("Uid:"):
            return line.split()[1]
    raise LookupError(pid)


@pytest.mark.parametrize("name", WORKLOADS)
def test_entrypoint_starts_as_in_the_cluster(
    default_render: Rendered, contest: Settings, name: str, tmp_path: Path
) -> None:
    workload = _workload(default_render, name)
    root = image_root(name)
    environment, port = local_environment(workload, final_stage(), root, contest, free_ports())
    leftovers = {k: v for k, v in environment.items() if any(c in v for c in CLUSTER_NAMES)}
    assert not leftovers, f"cluster addresses left in the local run: {leftovers}"
    started = start(workload, environment, port, tmp_path / f"{name}.log", _workdir(root))
    try:
        wait_ready(started, environment, READY_WITHIN_S)
        assert _uid(started.process.pid) == NOBODY
        liveness = workload.container["livenessProbe"]
        assert probe_once(liveness, port, environment), f"liveness failed:\n{started.log_tail()}"
        endpoint = annotated_endpoint(workload)
        if endpoint is not None:
            local = local_port(endpoint.port, workload, environment)
            text = scrape(started, local, endpoint.path, deadline_s=30.0)
            series = {
                (sample.name, tuple(sorted(sample.labels.items())))
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            }
            metric, labels = DASHBOARD_SERIES[name]
            assert (metric, labels) in series, f"no {metric}{dict(labels)} at {endpoint}"
    finally:
        code = stop(started, grace_s=GRACE_S)
    assert code is not None, f"{name} ignored SIGTERM:\n{started.log_tail()}"


def test_a_missing_variable_fails_the_smoke_run(
    default_render: Rendered, contest: Settings, tmp_path: Path
) -> None:
    """Without MONGODB_URI the consumer must not find the dev server by luck (127.0.0.1)."""
    root = image_root("consumer")
    consumer = _workload(default_render, "consumer")
    environment = {k: v for k, v in consumer.environment.items() if k != "MONGODB_URI"}
    crippled = dataclasses.replace(consumer, environment=environment)
    local, port = local_environment(crippled, final_stage(), root, contest, free_ports())
    started = start(crippled, local, port, tmp_path / "crippled.log", _workdir(root))
    try:
        with pytest.raises(SmokeFailure, match=r"(?s)exited .*127\.0\.0\.1:1\b"):
            wait_ready(started, local, 60.0)
    finally:
        stop(started, grace_s=10.0)


def test_each_image_carries_only_what_its_workload_runs() -> None:
    """The extras split: neither Streamlit (with pyarrow, pandas) nor Locust beside a producer
    or the consumer, and no workload's own dependencies in another's image."""
    for name in WORKLOADS:
        packages = {p.name for p in site_packages(image_root(name)).iterdir()}
        assert set(OWN_PACKAGES[name]) <= packages, f"{name} lacks what it runs"
        others = {p for other, own in OWN_PACKAGES.items() if other != name for p in own}
        if name == "streamlit":
            others.discard("pymongo")  # the app reads the vote log too
        else:
            others.add("pyarrow")
        unexpected = (others | set(OPERATORS_PACKAGES)) & packages
        assert not unexpected, f"{name}'s image carries {sorted(unexpected)}"

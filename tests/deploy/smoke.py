"""Start an image entrypoint on this machine the way its Knative Service starts it in the cluster.

The command, arguments and environment come from the rendered manifest, the
image's own environment (PATH, HOME, ...) from the Dockerfile's final stage.
Then the differences between the cluster and this machine, and only those, are
substituted, each one named in :func:`local_environment`:

- the addresses of Kafka, Redis and MongoDB become the local dev servers (and
  the topics and database a ``contest`` fixture made for this test);
- the image is the folder tests/deploy/image.py builds with the Dockerfile's own
  steps: its paths (``/opt/venv/bin`` on PATH, the catalog under ``/srv``, the
  working directory) move under that folder;
- ``PORT`` (Knative's) becomes a free port in 16000-16999, and so does every
  ``CERTAMEN_<PART>_PORT`` the manifest leaves at its default (the metrics
  ports): :func:`local_port` says where a port of the pod went;
- a server address the manifest does not give (``REDIS_URL`` for a producer)
  points at port 1 of this machine, where nothing listens, just as nothing
  listens on a pod's own loopback: a workload that needs a variable its
  manifest lacks fails here as it would in the cluster;
- listening on 0.0.0.0 becomes 127.0.0.1 (nothing here listens beyond loopback);
- the sign-in Secret ``streamlit-auth``, which the operator creates (docs/deploy.md,
  "Sign-in"), is the example in tests/deploy/streamlit-auth/, laid out as the kubelet
  mounts a Secret (``auth/<key>``), copied beside the image roots (a clone under /tmp
  is hidden by the sandbox's fresh /tmp): ``CERTAMEN_STREAMLIT_SECRETS`` points there.

The process runs as ``nobody`` with no privileges (``setpriv``), in a private
mount namespace where the whole filesystem is read-only and ``/tmp`` is a fresh
tmpfs (``unshare``): readOnlyRootFilesystem, the emptyDir on /tmp, runAsNonRoot,
allowPrivilegeEscalation false and no capabilities, as in the pod.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

from certamen.settings import Ports, Settings, load
from tests.deploy.dockerfile import Stage
from tests.deploy.image import CACHE, in_image
from tests.deploy.metrics import container_port
from tests.deploy.workloads import Workload
from tests.support import processes

PORT_RANGE = range(16000, 17000)
# The sign-in Secret an operator creates, with example values, as its volume is laid out.
SIGN_IN_SECRET = Path(__file__).resolve().parent / "streamlit-auth"
NOBODY = "65534"
# Servers whose unset address must lead nowhere (CERTAMEN_<PART>_PORT=1).
SERVER_PARTS = ("kafka", "redis", "mongodb")
SANDBOX = (
    "mount -o remount,bind,ro / && "
    "mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp && "
    'cd "$1" && shift && '
    f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "
    '--no-new-privs --inh-caps=-all --bounding-set=-all "$@"'
)


def _sandboxed(argv: list[str]) -> list[str]:
    """``argv`` as nobody, in a mount namespace with a read-only root and a fresh /tmp."""
    return [
        "unshare", "--mount", "--propagation", "private", "--",
        "sh", "-c", SANDBOX, "sandbox", "/", *argv,
    ]  # fmt: skip


class SmokeFailure(AssertionError):
    """The entrypoint exited, or never became ready, or failed its liveness probe."""


@dataclass
class Started:
    """A running entrypoint: its process, port and log."""

    workload: Workload
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def free_ports() -> Iterator[int]:
    """Ports of PORT_RANGE that nothing listens on right now."""
    return processes.free_ports(PORT_RANGE)


def mounted_sign_in_secret() -> Path:
    """The example Secret where the sandboxed process can read it, as the kubelet mounts it.

    Outside the clone, which may be under /tmp (the sandbox hides it) or /root
    (nobody cannot enter it); named by its content, so clones share one copy.
    """
    files = sorted(p for p in SIGN_IN_SECRET.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(SIGN_IN_SECRET)).encode() + b"\0" + file.read_bytes())
    mounted = CACHE.parent / "streamlit-auth" / digest.hexdigest()[:16]
    if not mounted.exists():
        staging = mounted.with_name(f"{mounted.name}.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(SIGN_IN_SECRET, staging)
        for path in [staging, *staging.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        try:
            staging.rename(mounted)
        except OSError:  # another clone put the same copy there first
            shutil.rmtree(staging, ignore_errors=True)
    return mounted


def local_environment(
    workload: Workload, image: Stage, root: Path, local: Settings, ports: Iterator[int]
) -> tuple[dict[str, str], int]:
    """The container's environment with the cluster's addresses swapped for this machine's."""
    to_local = {
        "KAFKA_BOOTSTRAP_SERVERS": local.kafka_bootstrap_servers,
        "REDIS_URL": local.redis_url,
        "MONGODB_URI": local.mongodb_uri,
        "MONGODB_DATABASE": local.mongodb_database,
        "CERTAMEN_TOPIC": local.votes_topic,
        "CERTAMEN_DLQ_TOPIC": local.dlq_topic,
        "CERTAMEN_BIND_HOST": "127.0.0.1",
        "CERTAMEN_STREAMLIT_SECRETS": str(mounted_sign_in_secret()),
    }
    environment = {k: _moved(root, v) for k, v in image.env.items()}
    for name, value in workload.environment.items():
        environment[name] = to_local.get(name, _moved(root, value))
    port = next(ports)
    environment["PORT"] = str(port)  # Knative sets PORT to the container port
    environment["K_SERVICE"] = workload.name
    environment["K_CONFIGURATION"] = workload.name
    environment["K_REVISION"] = f"{workload.name}-00001"
    for part in asdict(Ports()):
        # Unset server addresses lead nowhere; other local ports stay out of the way.
        value = "1" if part in SERVER_PARTS else str(next(ports))
        environment.setdefault(f"CERTAMEN_{part.upper()}_PORT", value)
    return environment, port


def local_port(port: int, workload: Workload, environment: dict[str, str]) -> int:
    """Where :func:`local_environment` moved what listens on ``port`` in the workload's pod.

    The container port is Knative's ``PORT``; any other port is the
    ``CERTAMEN_<PART>_PORT`` whose value in the pod it is.
    """
    if port == container_port(workload.container):
        return int(environment["PORT"])
    in_pod, here = asdict(load(workload.environment).ports), asdict(load(environment).ports)
    parts = [part for part, value in in_pod.items() if value == port]
    if len(parts) != 1:
        raise SmokeFailure(f"{workload.name}: no one CERTAMEN_<PART>_PORT is {port}: {parts}")
    return int(here[parts[0]])


def _moved(root: Path, value: str) -> str:
    """A path, or PATH-like list, of the image moved under its root where the root has it."""
    parts = value.split(":")
    if not all(p.startswith("/") for p in parts):
        return value
    return ":".join(in_image(root, p) if Path(in_image(root, p)).exists() else p for p in parts)


def start(
    workload: Workload, environment: dict[str, str], port: int, log: Path, workdir: str
) -> Started:
    """Run the container's command as nobody on a read-only filesystem."""
    if os.geteuid() != 0:
        raise SmokeFailure("the smoke run needs root for unshare and setpriv")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            _sandboxed(workload.argv),
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Started(workload, process, port, log)


def run_in_sandbox(command: list[str], environment: dict[str, str], timeout: float) -> int:
    """An exec probe: the command in the same sandbox and environment as the container."""
    result = subprocess.run(
        _sandboxed(command),
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return result.returncode


def probe_once(probe: dict[str, Any], port: int, environment: dict[str, str]) -> bool:
    """One attempt of a Kubernetes probe against the local process."""
    timeout = float(probe.get("timeoutSeconds", 2))
    try:
        if "httpGet" in probe:
            url = f"http://127.0.0.1:{port}{probe['httpGet'].get('path', '/')}"
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return 200 <= int(response.status) < 400
        if "tcpSocket" in probe:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                return True
        if "grpc" in probe:
            return _grpc_serving(port, probe["grpc"].get("service", ""), timeout)
        if "exec" in probe:
            return run_in_sandbox(probe["exec"]["command"], environment, timeout + 10) == 0
    except OSError:
        return False
    raise SmokeFailure(f"unknown probe handler in {sorted(probe)}")


def wait_ready(started: Started, environment: dict[str, str], deadline_s: float) -> float:
    """Probe readiness until it passes; the seconds it took. Fails if the process exits."""
    probe = started.workload.container["readinessProbe"]
    began = time.monotonic()
    while time.monotonic() - began < deadline_s:
        if started.process.poll() is not None:
            raise SmokeFailure(
                f"{started.workload.name} exited with {started.process.returncode} before "
                f"it was ready:\n{started.log_tail()}"
            )
        if probe_once(probe, started.port, environment):
            return time.monotonic() - began
        time.sleep(0.5)
    raise SmokeFailure(
        f"{started.workload.name} not ready after {deadline_s:.0f}s:\n{started.log_tail()}"
    )


def scrape(started: Started, port: int, path: str, deadline_s: float) -> str:
    """GET a metrics endpoint as Prometheus does; the text it answered with.

    Waits while nothing listens there (the consumer's worker starts its metrics
    server right after gunicorn forks it); an HTTP error status fails at once.
    """
    url = f"http://127.0.0.1:{port}{path}"
    began = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bytes(response.read()).decode("utf-8")
        except OSError as e:
            gone = started.process.poll() is not None
            if isinstance(e, HTTPError) or gone or time.monotonic() - began > deadline_s:
                raise SmokeFailure(
                    f"{started.workload.name}: GET {url} failed: {e}\n{started.log_tail()}"
                ) from e
        time.sleep(0.5)


def stop(started: Started, grace_s: float) -> int | None:
    """SIGTERM to the process group, as the kubelet does; SIGKILL after the grace period."""
    if started.process.poll() is None:
        os.killpg(started.process.pid, signal.SIGTERM)
        try:
            started.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(started.process.pid, signal.SIGKILL)
            started.process.wait(timeout=10)
            return None
    return started.process.returncode


def _grpc_serving(port: int, service: str, timeout: float) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

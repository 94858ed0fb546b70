"""Build a workload's image filesystem on this machine by running the Dockerfile's own steps.

There is no container engine here, so the image is approximated by a folder
that stands for its root: the build stage's COPY and RUN instructions run as
written, with the build argument ``WORKLOAD`` set as ``docker build --build-arg``
would set it and every absolute path moved under that folder (``/opt/venv``
becomes ``<root>/opt/venv``); the final stage's COPY instructions run too. What
is not reproduced: the base image itself (this machine's CPython 3.11 stands in
for the python:3.11-slim one) and the final stage's RUN (it creates the user
that ``nobody`` stands in for here).

The result is cached under /var/cache/certamen/image-root/<workload>-<hash of the
inputs>, so a second run with the same Dockerfile and sources takes no time; a
change to any of them builds a new root (a minute or two with pip's cache). A
workload's roots are built under a lock and only its oldest are removed (the
newest :data:`KEPT` stay), so clones of other commits testing at the same time on
this machine never build into, or delete, a root another one is using.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

from tests.deploy.dockerfile import DOCKERFILE, Copy, Stage, docker_ignored, stages
from tests.deploy.render import REPO

# Outside the checkout and outside /tmp and /root: the smoke run mounts a fresh /tmp
# (hiding a clone under /tmp) and runs as nobody (who cannot enter /root). One cache
# there also serves every clone on the machine.
CACHE = Path("/var/cache/certamen/image-root")
# A CPython 3.11 that any user may run, standing in for the base image's.
BASE_PYTHON = Path("/usr/bin/python3.11")
READY = ".complete"
# Complete roots kept per workload: those of other clones' sources stay usable.
KEPT = 3


class ImageBuildError(RuntimeError):
    """A Dockerfile step failed on this machine."""


def image_root(workload: str) -> Path:
    """The folder standing for ``workload``'s image root filesystem, built on first use."""
    build_args = {"WORKLOAD": workload}
    root = CACHE / f"{workload}-{_inputs_hash(build_args)}"
    if (root / READY).exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{workload}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another clone may be building this very root
        if not (root / READY).exists():
            shutil.rmtree(root, ignore_errors=True)  # a build that was cut short
            _build(root, build_args)
            (root / READY).touch()
        _prune(workload)
    return root


def _build(root: Path, build_args: dict[str, str]) -> None:
    shim = root / ".base-bin"
    shim.mkdir(parents=True)
    (shim / "python").symlink_to(BASE_PYTHON)
    (shim / "python3").symlink_to(BASE_PYTHON)
    all_stages = stages()
    for stage in all_stages:
        final = stage is all_stages[-1]
        workdir = root / stage.workdir.lstrip("/")
        workdir.mkdir(parents=True, exist_ok=True)
        for copy in stage.copies:
            _copy(copy, root, stage)
        if not final:
            for command in stage.runs:
                _run(command, root, stage, shim, build_args)


def _prune(workload: str) -> None:
    """Remove the workload's complete roots but the newest few (older sources')."""
    complete = [r for r in CACHE.glob(f"{workload}-*") if (r / READY).exists()]
    complete.sort(key=lambda r: (r / READY).stat().st_mtime, reverse=True)
    for stale in complete[KEPT:]:
        shutil.rmtree(stale)


def in_image(root: Path, path: str) -> str:
    """Where an absolute path of the image lives in the image root on this machine."""
    return str(root / path.lstrip("/"))


def site_packages(root: Path) -> Path:
    """The image venv's site-packages in a root built by :func:`image_root`."""
    (found,) = Path(in_image(root, "/opt/venv/lib")).glob("python3*/site-packages")
    return found


def _inputs_hash(build_args: dict[str, str]) -> str:
    """Dockerfile, build arguments, base interpreter and every file the COPY instructions send."""
    digest = hashlib.sha256(DOCKERFILE.read_bytes())
    digest.update(repr(sorted(build_args.items())).encode())
    digest.update(str(BASE_PYTHON.resolve()).encode())
    for stage in stages():
        for copy in stage.copies:
            if copy.from_stage is not None:
                continue
            for source in copy.sources:
                for path in _context_files(REPO / source):
                    digest.update(str(path.relative_to(REPO)).encode())
                    digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _context_files(path: Path) -> list[Path]:
    """The files under ``path`` that .dockerignore lets into the build context."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [p for p in files if not docker_ignored(str(p.relative_to(REPO)))]


def _copy(copy: Copy, root: Path, stage: Stage) -> None:
    destination = copy.destination
    if not destination.startswith("/"):
        destination = f"{stage.workdir.rstrip('/')}/{destination}"
    target = Path(in_image(root, destination))
    for source in copy.sources:
        if copy.from_stage is not None:
            # From an earlier stage of the same root: already in place when paths agree.
            if Path(in_image(root, source)) != target:
                shutil.copytree(in_image(root, source), target, dirs_exist_ok=True)
            continue
        origin = REPO / source
        if origin.is_dir():
            for file in _context_files(origin):
                dest = target / file.relative_to(origin)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, dest)
        else:
            dest = target / origin.name if copy.destination.endswith("/") else target
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, dest)


def _run(command: str, root: Path, stage: Stage, shim: Path, build_args: dict[str, str]) -> None:
    moved = command
    for top in ("/opt/", "/srv/", "/src/"):
        moved = moved.replace(top, f"{root}{top}")
    environment = dict(stage.env)
    # A declared ARG is in a RUN's environment: the --build-arg value, else its default.
    environment.update(
        {name: build_args.get(name, default) for name, default in stage.args.items()}
    )
    environment["PATH"] = f"{shim}:{stage.env['PATH']}"
    environment["HOME"] = str(root / ".home")
    environment["PIP_CACHE_DIR"] = str(Path.home() / ".cache" / "pip")
    environment.pop("PIP_NO_CACHE_DIR", None)  # the host's pip cache speeds up reruns
    result = subprocess.run(
        ["sh", "-c", moved],
        cwd=in_image(root, stage.workdir),
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise ImageBuildError(
            f"RUN {command}\nfailed ({result.returncode}):\n{result.stdout[-3000:]}"
            f"\n{result.stderr[-3000:]}"
        )

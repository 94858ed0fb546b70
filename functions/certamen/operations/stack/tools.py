"""The programs the local stack needs, found on this machine or installed with apt-get.

Java runs Kafka, Maven fetches Kafka's jars, Go builds FerretDB, Debian's
``redis-server`` runs Redis. When one is missing, root on Debian gets it
installed (``apt-get update`` once, then ``apt-get install``); anyone else gets
the exact command to run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from certamen.operations.stack.errors import ToolMissing
from certamen.settings import child_environment

# Where Go lands when installed from go.dev or as a Debian versioned package.
_EXTRA_DIRS = ("/usr/local/go/bin", str(Path.home() / "go" / "bin"), "/usr/lib/go/bin")
_BACKPORTS = "deb http://deb.debian.org/debian bookworm-backports main"
_BACKPORTS_LIST = Path("/etc/apt/sources.list.d/certamen-backports.list")


@dataclass(frozen=True, slots=True)
class Tool:
    """A program, why we need it, the Debian package that has it and how to check its version."""

    command: str
    package: str
    why: str
    version_args: tuple[str, ...]
    minimum: tuple[int, int]
    parse: Callable[[str], tuple[int, int] | None]


def _java_version(text: str) -> tuple[int, int] | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major, minor = int(match[1]), int(match[2] or 0)
    return (minor, 0) if major == 1 else (major, minor)  # "1.8.0" is Java 8


def _dotted_version(pattern: str) -> Callable[[str], tuple[int, int] | None]:
    def parse(text: str) -> tuple[int, int] | None:
        match = re.search(pattern, text)
        return (int(match[1]), int(match[2])) if match else None

    return parse


TOOLS: dict[str, Tool] = {
    "java": Tool(
        "java", "default-jre-headless", "runs Kafka", ("-version",), (17, 0), _java_version
    ),
    "mvn": Tool(
        "mvn",
        "maven",
        "fetches Apache Kafka's jars from Maven Central",
        ("-v",),
        (3, 6),
        _dotted_version(r"Apache Maven (\d+)\.(\d+)"),
    ),
    # Go 1.21+ downloads the toolchain FerretDB's go.mod asks for (GOTOOLCHAIN=auto).
    "go": Tool(
        "go",
        "golang-go",
        "builds FerretDB",
        ("version",),
        (1, 21),
        _dotted_version(r"go(\d+)\.(\d+)"),
    ),
    "redis-server": Tool(
        "redis-server",
        "redis-server",
        "runs Redis",
        ("--version",),
        (6, 0),
        _dotted_version(r"v=(\d+)\.(\d+)"),
    ),
}


@dataclass(frozen=True, slots=True)
class Found:
    """A tool on this machine: where it is, its version, and what is wrong with it if anything."""

    tool: Tool
    path: Path | None
    version: tuple[int, int] | None

    @property
    def usable(self) -> bool:
        return self.path is not None and (self.version or (0, 0)) >= self.tool.minimum

    def describe(self) -> str:
        if self.path is None:
            return "not found"
        shown = ".".join(map(str, self.version)) if self.version else "unknown version"
        need = ".".join(map(str, self.tool.minimum))
        return f"{shown} at {self.path}" + ("" if self.usable else f" (need {need}+)")


def find(name: str) -> Found:
    """Look for a tool on PATH and in the usual Go folders, and read its version."""
    tool = TOOLS[name]
    located = shutil.which(tool.command) or shutil.which(
        tool.command, path=os.pathsep.join(_EXTRA_DIRS)
    )
    if located is None:
        return Found(tool, None, None)
    try:
        done = subprocess.run(
            [located, *tool.version_args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return Found(tool, Path(located), None)
    return Found(tool, Path(located), tool.parse(done.stdout + done.stderr))


def ensure(names: Iterable[str], out: Console) -> dict[str, Path]:
    """Every named tool, usable; installs missing ones when it can, else raises ToolMissing."""
    wanted = sorted(set(names), key=list(TOOLS).index)
    found = {name: find(name) for name in wanted}
    missing = [name for name, f in found.items() if not f.usable]
    if missing:
        for name in missing:
            out.print(f"{name} ({TOOLS[name].why}): {found[name].describe()}")
        _install(missing, out)
        found.update({name: find(name) for name in missing})
        still = [name for name in missing if not found[name].usable]
        if still:
            raise ToolMissing(
                "still not usable after installing: "
                + ", ".join(f"{n} ({found[n].describe()})" for n in still)
            )
    return {name: f.path for name, f in found.items() if f.path is not None}


def install_command(names: Iterable[str]) -> str:
    """The exact shell command that installs these tools on Debian."""
    names = list(names)
    packages = " ".join(TOOLS[n].package for n in names if n != "go")
    steps = ["apt-get update"]
    if packages:
        steps.append(f"apt-get install -y --no-install-recommends {packages}")
    if "go" in names:
        if _debian_codename() == "bookworm":
            # Debian 12's own Go (1.19) is too old; its backports have 1.23.
            steps.insert(0, f"echo '{_BACKPORTS}' > {_BACKPORTS_LIST}")
            steps.append(
                "apt-get install -y --no-install-recommends -t bookworm-backports golang-go"
            )
        else:
            steps.append("apt-get install -y --no-install-recommends golang-go")
    return " && ".join(steps)


def _install(names: list[str], out: Console) -> None:
    command = install_command(names)
    if not (_is_debian() and os.geteuid() == 0):
        raise ToolMissing(
            "missing: "
            + ", ".join(names)
            + f".\nOn Debian/Ubuntu install them as root with:\n  sudo sh -c '{command}'"
            + ("\nor install Go 1.21+ from https://go.dev/doc/install" if "go" in names else "")
        )
    out.print(f"[bold]installing {', '.join(names)} with apt-get[/]: {command}")
    had_redis_service = _service_exists("redis-server")
    done = subprocess.run(
        ["sh", "-c", command],
        env=child_environment({"DEBIAN_FRONTEND": "noninteractive"}),
        check=False,
    )
    if done.returncode != 0:
        raise ToolMissing(f"apt-get failed (exit {done.returncode}) running: {command}")
    if "redis-server" in names and not had_redis_service:
        _stop_debian_redis(out)


def _stop_debian_redis(out: Console) -> None:
    """Debian starts a Redis service on install; ours runs under the state folder instead."""
    if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        out.print("stopping and disabling Debian's redis-server service (Certamen runs its own)")
        subprocess.run(["systemctl", "disable", "--now", "redis-server"], check=False)


def _service_exists(name: str) -> bool:
    return Path(f"/lib/systemd/system/{name}.service").exists()


def _is_debian() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def _debian_codename() -> str:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return ""
    match = re.search(r"^VERSION_CODENAME=(\w+)", text, re.MULTILINE)
    return match[1] if match else ""

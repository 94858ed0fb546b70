"""``certamen streamlit``: serve the Streamlit app (``streamlit_app/app.py``).

The process becomes ``streamlit run`` (exec, so signals and the exit status are
Streamlit's own). It listens on 127.0.0.1 at ``PORT`` (Knative) or the local
default port; on Kubernetes the pod's queue-proxy reaches it there. Before
that it refuses to start an app reachable beyond this machine without sign-in
(``certamen.results.access``), and it hands Streamlit the secrets places it
checked, so that both read the same ``[auth]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from certamen.results.access import AccessError, decide, read_auth, sign_in_configured
from certamen.settings import Settings, child_environment

APP_FOLDER = "streamlit_app"
APP_SCRIPT = "app.py"


class AppNotFound(FileNotFoundError):
    """The ``streamlit_app`` folder is neither in the checkout nor next to the package."""


def find_app(package_dir: Path | None = None) -> Path:
    """The app's entry script: beside the package (container image) or at the repo root."""
    package = package_dir or Path(__file__).resolve().parents[1]
    places = (package.parent / APP_FOLDER, package.parent.parent / APP_FOLDER)
    for folder in places:
        script = folder / APP_SCRIPT
        if script.is_file():
            return script
    raise AppNotFound(
        f"no {APP_FOLDER}/{APP_SCRIPT} in {' or '.join(str(p) for p in places)}; "
        f"copy the {APP_FOLDER} folder next to the certamen package"
    )


def streamlit_command(app: Path, port: int, secrets: Sequence[Path] = ()) -> list[str]:
    """The ``streamlit run`` command line: local address, no telemetry, no tracebacks shown,
    Streamlit's secrets (and so its ``[auth]``) read from ``secrets``."""
    places = [arg for place in secrets for arg in ("--secrets.files", str(place))]
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",
        "--client.toolbarMode",
        "viewer",
        *places,
    ]


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Replace this process with the Streamlit server."""
    try:
        app = find_app()
    except AppNotFound as e:
        print(f"certamen streamlit: {e}", file=sys.stderr)
        return 2
    webapp = settings.webapp
    try:
        access = decide(webapp, sign_in_configured(read_auth(webapp.secrets_files)))
    except AccessError as e:
        print(f"certamen streamlit: refusing to start: {e}", file=sys.stderr)
        return 2
    print(f"certamen streamlit: {access}", file=sys.stderr)
    port = settings.port or settings.ports.streamlit
    env = child_environment({})
    # The app imports ``streamlit_app.*``: the folder holding it must be importable.
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(app.parent.parent), env.get("PYTHONPATH", "")) if part
    )
    command = streamlit_command(app, port, webapp.secrets_files)
    os.execve(command[0], command, env)

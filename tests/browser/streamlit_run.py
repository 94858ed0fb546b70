"""``certamen streamlit`` for the browser tests: the real entry point, on a port of the test's."""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from certamen.settings import Settings
from tests.support.processes import serving
from tests.support.tally_fill import CATALOG_PATH


@contextmanager
def running_app(
    port: int,
    infra: Settings,
    database: str,
    log: Path,
    extra: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """The app pointed at ``database`` (and the session's Redis) until the block ends; its URL."""
    env = {
        **os.environ,
        "PORT": str(port),
        "REDIS_URL": infra.redis_url,
        "MONGODB_URI": infra.mongodb_uri,
        "MONGODB_DATABASE": database,
        "CERTAMEN_CATALOG": str(CATALOG_PATH),
        **(extra or {}),
    }
    url = f"http://127.0.0.1:{port}"
    with serving(
        [sys.executable, "-m", "certamen.operations.cli", "streamlit"],
        env,
        log,
        ready=lambda: _healthy(url),
        within_s=60,
        what="certamen streamlit did not answer /_stcore/health",
        grace_s=10,
    ):
        yield url


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False

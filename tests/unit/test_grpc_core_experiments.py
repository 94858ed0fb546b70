"""producer-grpc's gRPC core setting reaches the core, and the installed grpcio knows it.

The core reads ``GRPC_EXPERIMENTS`` once, when ``grpc`` is first imported, so each
check runs in a fresh interpreter, as ``certamen producer-grpc`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys

from certamen.producers.grpc import CORE_EXPERIMENTS

SERVE_ONCE = """
import asyncio, os
import certamen.operations.cli
import certamen.producers.grpc.server
import grpc.aio

async def main() -> None:
    server = grpc.aio.server()
    server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await server.stop(0)

asyncio.run(main())
print(os.environ["GRPC_EXPERIMENTS"])
"""


def _python(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"} | environment
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_producer_starts_grpc_with_the_setting_and_grpcio_knows_it() -> None:
    result = _python(SERVE_ONCE)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == CORE_EXPERIMENTS
    assert "Unknown experiment" not in result.stderr, (
        f"this grpcio no longer knows {CORE_EXPERIMENTS!r}: measure again "
        "(load/results/cost-per-vote.md, 2026-12-07) and change CORE_EXPERIMENTS"
    )


def test_grpc_is_first_imported_after_the_setting() -> None:
    code = (
        "import sys, certamen.operations.cli\n"
        "before = 'grpc' in sys.modules\n"
        "import certamen.producers.grpc\n"
        "print(before, 'grpc' in sys.modules)"
    )
    result = _python(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_an_operators_own_value_is_kept() -> None:
    result = _python(SERVE_ONCE, GRPC_EXPERIMENTS="pollset_alternative")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pollset_alternative"
    assert "Unknown experiment" not in result.stderr

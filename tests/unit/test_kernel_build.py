"""The kernel's build and fuzzing: reproducible bytes, a bounded fuzz run, a long run recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from certamen.producers.wasm.kernel import WASM_PATH

KERNEL_DIR = WASM_PATH.parent / "kernel"
FUZZ_SECONDS = 15


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_committed_module_is_what_the_sources_build() -> None:
    run = _run([str(KERNEL_DIR / "build.sh"), "--check"], timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "reproducible" in run.stdout


def test_a_bounded_fuzz_run_finds_no_failure(tmp_path: Path) -> None:
    run = _run([str(KERNEL_DIR / "fuzz.sh"), str(FUZZ_SECONDS), str(tmp_path)], timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "no failure" in run.stdout


def test_a_long_fuzz_run_vouches_for_the_kernels_sources() -> None:
    """CI's 15 s run is a smoke check: the kernel's C was fuzzed for an hour before it."""
    run = _run([sys.executable, str(KERNEL_DIR / "fuzz_corpus.py"), "check-record"], timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr

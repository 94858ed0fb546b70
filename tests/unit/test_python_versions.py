"""The supported Pythons: stated once, refused in one line outside, and checked inside.

``certamen.SUPPORTED_PYTHON`` and pyproject.toml's ``requires-python`` say 3.11 to
3.13. Debian 12 ships only 3.11, and no registry reachable here ships another
CPython; the other interpreters are looked for on the machine (``pythonX.Y`` on
PATH, pyenv's versions). Where one is found, the ballot rules' tests run under it
in a small venv of their own (the pinned dependencies they import, kept under
``CERTAMEN_CACHE_DIR``), so that the canonical vote is checked to be the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import certamen
from certamen.settings import load

ROOT = Path(__file__).resolve().parents[2]
# The tests whose outcome depends on the interpreter's Unicode, json and recursion.
BALLOT_TESTS = [
    "tests/unit/test_ballot_vectors.py",
    "tests/unit/test_contract_nfc.py",
    "tests/unit/test_kernel.py",
    "tests/unit/test_contract_vote.py",
]
# What those tests import, at the versions pyproject.toml pins.
PACKAGES = ("cloudevents", "pyyaml", "wasmtime", "pytest", "hypothesis")
FIRST, LAST = certamen.SUPPORTED_PYTHON
SUPPORTED = [(3, minor) for minor in range(FIRST[1], LAST[1] + 1)]
# This interpreter runs the whole suite; the others run the ballot rules' tests.
OTHERS = [version for version in SUPPORTED if version != sys.version_info[:2]]


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def test_pyproject_states_the_supported_range() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert project["requires-python"] == f">={FIRST[0]}.{FIRST[1]},<{LAST[0]}.{LAST[1] + 1}"
    assert FIRST <= sys.version_info[:2] <= LAST


@pytest.mark.parametrize("version", [(3, 10), (3, 14)])
def test_another_python_stops_with_one_line(version: tuple[int, int]) -> None:
    script = f"import sys; sys.version_info = {(*version, 0, 'final', 0)!r}; import certamen"
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == (
        f"certamen: Python {version[0]}.{version[1]} is not supported; use Python 3.11 to 3.13 "
        "(for scripts/setup: PYTHON=/path/to/python3.11)\n"
    )


def test_producer_wasm_refuses_a_kernel_of_other_tables_in_one_line() -> None:
    script = """
import sys
from certamen.producers.wasm import kernel, server
from certamen.settings import load
def other_tables(*_):
    raise kernel.KernelFault(
        "ballot.wasm normalizes with Unicode 15.0.0, the Python contract with 14.0.0"
    )
server.BallotKernel = other_tables
sys.exit(server.run(load(), None))
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    record = json.loads(line)
    assert record["event"] == "start_failed"
    assert record["problem"] == (
        "ballot.wasm normalizes with Unicode 15.0.0, the Python contract with 14.0.0"
    )


def _find_python(version: tuple[int, int]) -> Path | None:
    """An interpreter of that minor version: on PATH, else among pyenv's versions."""
    name = f"python{version[0]}.{version[1]}"
    candidates = [shutil.which(name)]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(map(str, pyenv.glob(f"{version[0]}.{version[1]}.*/bin/{name}")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(version):
            return Path(candidate)
    return None


def _pins() -> list[str]:
    """The requirements of PACKAGES exactly as pyproject.toml pins them."""
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    optional = project["optional-dependencies"]
    assert isinstance(optional, dict)
    wanted = {}
    for line in [
        *project["dependencies"],
        *(line for extra in optional.values() for line in extra),
    ]:
        requirement = Requirement(line)
        if requirement.name.lower() in PACKAGES:
            wanted[requirement.name.lower()] = str(requirement)
    assert sorted(wanted) == sorted(PACKAGES)
    return [wanted[name] for name in PACKAGES]


def _venv(python: Path, version: tuple[int, int]) -> Path:
    """A venv of ``python`` with the pinned packages; reused while the pins stay the same."""
    home = load().cache_dir / f"python-{version[0]}.{version[1]}"
    pins = _pins()
    stamp = home / "certamen-pins.txt"
    bin_python = home / "bin" / "python"
    if stamp.exists() and stamp.read_text() == "\n".join(pins) and bin_python.exists():
        return bin_python
    # Built aside and moved into place: another clone's test run may be using the old one.
    building = home.with_name(f"{home.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([str(python), "-m", "venv", str(building)], check=True, timeout=300)
    install = subprocess.run(
        [str(building / "bin" / "python"), "-m", "pip", "install", "-q", *pins],
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    (building / stamp.name).write_text("\n".join(pins))
    shutil.rmtree(home, ignore_errors=True)
    building.rename(home)
    return bin_python


@pytest.mark.parametrize("version", OTHERS, ids=[f"{a}.{b}" for a, b in OTHERS])
def test_the_ballot_rules_give_the_same_votes_on_the_other_supported_pythons(
    version: tuple[int, int],
) -> None:
    python = _find_python(version)
    if python is None:
        missing = f"no Python {version[0]}.{version[1]} on this machine (PATH, pyenv)"
        if os.environ.get("CI"):  # CI vouches for every supported version: never a skip
            pytest.fail(missing)
        pytest.skip(missing)
    run = subprocess.run(
        [
            str(_venv(python, version)),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *BALLOT_TESTS,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "functions")},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout

"""The WebAssembly ballot kernel: the vector table byte for byte, its limits, its build inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from certamen.contract import InvalidVote, parse_ballot
from certamen.contract.nfc import UNIDATA_VERSION
from certamen.producers.wasm.kernel import (
    FUEL_PER_CALL,
    MEMORY_LIMIT_BYTES,
    WASM_PATH,
    BallotKernel,
    KernelFault,
)
from tests.support.vectors import BallotVector, ballot_vectors

YEAR_NOW, CASES = ballot_vectors()
KERNEL_DIR = WASM_PATH.parent / "kernel"


@pytest.fixture(scope="module")
def kernel() -> BallotKernel:
    return BallotKernel()


def _outcome(kernel: BallotKernel, body: bytes, year_now: int) -> bytes | tuple[str, str]:
    try:
        return kernel.canonical(body, year_now)
    except InvalidVote as e:
        assert e.message
        return (e.field, e.rule)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vector(kernel: BallotKernel, case: BallotVector) -> None:
    expected = case.ballot if case.ballot is not None else case.error
    assert _outcome(kernel, case.body, YEAR_NOW) == expected


def test_parse_gives_the_python_ballot(kernel: BallotKernel) -> None:
    body = (
        b'{"name":" Cancio\\u0301n ","album":"Uno","year":"1997","rank":"09.50",'
        b'"vote_id":"key-0001"}'
    )
    assert kernel.parse(body, YEAR_NOW) == parse_ballot(body, year_now=YEAR_NOW)


def test_a_body_over_the_limit_is_judged_without_being_copied(kernel: BallotKernel) -> None:
    assert _outcome(kernel, b"{" * 1_000_000, YEAR_NOW) == ("body", "too_large")


HOSTILE = {
    "combining-marks": (
        '{"name":"a' + "\u0345\u0301\u0316\u0334" * 500 + '","album":"x"}'
    ).encode(),
    "escaped-marks": ('{"name":"a' + "\\u0345\\u0301\\u0316" * 220 + '","album":"x"}').encode(),
    "expanding-decompositions": ('{"name":"' + "\u1f82" * 1340 + '"}').encode(),
    "hangul-syllables": ('{"name":"' + "\uac01" * 1340 + '"}').encode(),
    "escaped-quotes": ('{"name":"' + '\\"' * 2000 + '"}').encode(),
    "many-keys": ("{" + ",".join(f'"{i:x}":0' for i in range(680)) + "}").encode()[:4096],
    "deep-nesting": b"[" * 2048 + b"]" * 2048,
    "unicode-spaces": (
        '{"name":"' + "\u3000" * 1340 + '","album":"x","year":2000,"rank":1}'
    ).encode(),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_bodies_are_judged_like_python_well_within_the_fuel(
    kernel: BallotKernel, name: str
) -> None:
    body = HOSTILE[name]
    assert len(body) <= 4096
    try:
        expected: bytes | tuple[str, str] = parse_ballot(body, year_now=YEAR_NOW).to_json()
    except InvalidVote as e:
        expected = (e.field, e.rule)
    assert _outcome(kernel, body, YEAR_NOW) == expected
    assert kernel.fuel_used(body, YEAR_NOW) < FUEL_PER_CALL // 5


def test_running_out_of_fuel_is_a_fault_and_the_kernel_recovers() -> None:
    starved = BallotKernel(fuel=2_000)
    ballot = b'{"name":"Alux Nahual","album":"Alux Nahual","year":1982,"rank":100}'
    with pytest.raises(KernelFault, match="fuel"):
        starved.canonical(ballot, YEAR_NOW)
    # A fresh instance replaced the trapped one: cheap bodies are judged again.
    assert _outcome(starved, b"[]", YEAR_NOW) == ("body", "type")
    with pytest.raises(KernelFault):
        starved.canonical(ballot, YEAR_NOW)


def test_linear_memory_is_fixed_and_capped_by_the_store() -> None:
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, str(WASM_PATH))
    (memory_type,) = [e.type for e in module.exports if e.name == "memory"]
    assert isinstance(memory_type, wasmtime.MemoryType)
    pages = MEMORY_LIMIT_BYTES // 65536
    assert (memory_type.limits.min, memory_type.limits.max) == (pages, pages)
    store = wasmtime.Store(engine)
    store.set_limits(memory_size=MEMORY_LIMIT_BYTES - 65536)
    with pytest.raises(wasmtime.WasmtimeError):
        wasmtime.Instance(store, module, [])


def test_a_module_with_another_abi_is_refused(tmp_path: Path) -> None:
    wat = tmp_path / "other.wat"
    wat.write_text(
        '(module (memory (export "memory") 1)'
        ' (func (export "ballot") (param i32 i32) (result i32) i32.const 0)'
        ' (func (export "input_ptr") (result i32) i32.const 0)'
        ' (func (export "output_ptr") (result i32) i32.const 0)'
        ' (func (export "abi_version") (result i32) i32.const 99))'
    )
    with pytest.raises(KernelFault, match="ABI 99"):
        BallotKernel(wat)


def test_a_module_with_other_unicode_tables_is_refused(tmp_path: Path) -> None:
    wat = tmp_path / "unicode15.wat"
    wat.write_text(
        '(module (memory (export "memory") 1) (data (i32.const 64) "15.0.0\\00")'
        ' (func (export "ballot") (param i32 i32) (result i32) i32.const 0)'
        ' (func (export "input_ptr") (result i32) i32.const 0)'
        ' (func (export "output_ptr") (result i32) i32.const 0)'
        ' (func (export "unidata_version") (result i32) i32.const 64)'
        ' (func (export "abi_version") (result i32) i32.const 1))'
    )
    with pytest.raises(KernelFault) as caught:
        BallotKernel(wat)
    assert str(caught.value) == (
        "ballot.wasm normalizes with Unicode 15.0.0, the Python contract with 14.0.0"
    )


def test_the_kernel_normalizes_with_the_contracts_pinned_unicode_version(
    kernel: BallotKernel,
) -> None:
    assert kernel.unidata_version == UNIDATA_VERSION == "14.0.0"
    header = (KERNEL_DIR / "unicode_tables.h").read_text(encoding="utf-8")
    assert f'#define UNIDATA_VERSION "{UNIDATA_VERSION}"' in header


def test_the_kernels_tables_are_the_contracts() -> None:
    """The header is rendered from contract/unicode_tables.json; on 3.11 that is unicodedata's."""
    run = subprocess.run(
        [sys.executable, str(KERNEL_DIR / "gen_unicode.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr

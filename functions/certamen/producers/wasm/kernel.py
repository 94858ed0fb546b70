"""The host of the WebAssembly ballot kernel: body bytes in, canonical ballot or InvalidVote out.

The module (``ballot.wasm``, built from ``kernel/``) is compiled once and kept
instantiated in one Store; every call gets a fresh fuel budget and the Store
caps linear memory, so a hostile body can neither hang nor exhaust the process.

Calls take the low-overhead path: the input is copied straight into linear
memory through a cached address, arguments and result travel through one
preallocated ``wasmtime_val_raw_t`` array, and the export is called with
``wasmtime_func_call_unchecked`` (wasmtime-py's own binding; the module's
signature is checked once at load instead of on every call). Plain
``Func.__call__`` converts and checks every argument in Python on every call,
which would cost more than the kernel's own work on a ballot.

An instance is not thread-safe (the kernel's buffers are static): use one per
thread, the HTTP server calls it from its event loop only.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _bindings as ffi

from certamen.contract import Ballot, InvalidVote
from certamen.contract.ballot import FIELDS, MAX_BODY_BYTES, MAX_DEPTH, MAX_TEXT, YEAR_MIN
from certamen.contract.nfc import UNIDATA_VERSION

WASM_PATH = Path(__file__).resolve().parent / "ballot.wasm"
ABI_VERSION = 1
# A typical ballot burns about 16 k units; the costliest body classes measured (680
# distinct keys, 4 KiB of expanding decompositions) about 4 M. The budget leaves ample
# room and still stops a runaway kernel within a few milliseconds.
FUEL_PER_CALL = 50_000_000
# The module's memory is fixed at 4 pages; the Store refuses anything beyond.
MEMORY_LIMIT_BYTES = 4 * 65536

_BALLOT_SIGNATURE = ([wasmtime.ValType.i32(), wasmtime.ValType.i32()], [wasmtime.ValType.i32()])


class KernelFault(Exception):
    """The kernel trapped (fuel or memory exhausted, or a bug): the body was not judged."""


def _message(field: str, rule: str, year_now: int) -> str:
    """The human message of an error; the (field, rule) pair is the contract, this is prose."""
    numeric = field in ("year", "rank")
    messages = {
        "too_large": f"the body is over {MAX_BODY_BYTES} bytes",
        "utf8": "the body is not valid UTF-8",
        "json": f"the body is not valid JSON or nests deeper than {MAX_DEPTH} levels",
        "type": (
            "the body must be a JSON object"
            if field == "body"
            else "must be a number or a numeric string"
            if numeric
            else "must be text"
        ),
        "duplicate": "this field is given twice",
        "unknown_field": f"unknown field; expected {', '.join(FIELDS)}",
        "required": "is required",
        "invalid_unicode": "contains a lone surrogate",
        "control_character": "contains a control character",
        "empty": "must not be empty",
        "too_long": f"must be at most {MAX_TEXT} characters",
        "format": {
            "year": "must be a four-digit year",
            "rank": "must be a decimal number such as 9.5",
        }.get(field, "must be 8 to 128 of the characters A-Z a-z 0-9 . _ : -"),
        "range": (
            f"must be between {YEAR_MIN} and {year_now}"
            if field == "year"
            else "must be between 0 and 100"
        ),
        "precision": "must have at most two decimals",
    }
    return messages.get(rule, rule)


def ballot_from_canonical(canonical: bytes) -> Ballot:
    """The Ballot of the kernel's canonical bytes (trusted: read back without checks)."""
    document: dict[str, Any] = json.loads(canonical)
    return Ballot(**document)


def too_large() -> InvalidVote:
    """The error of a body over the limit, for a transport that stops reading it early."""
    return InvalidVote("body", "too_large", _message("body", "too_large", 0))


class BallotKernel:
    """One instantiated kernel; :meth:`canonical` judges a body, :meth:`parse` makes a Ballot."""

    def __init__(self, wasm_path: Path = WASM_PATH, *, fuel: int = FUEL_PER_CALL) -> None:
        config = wasmtime.Config()
        config.consume_fuel = True
        self._engine = wasmtime.Engine(config)
        self._module = wasmtime.Module.from_file(self._engine, str(wasm_path))
        self._fuel = fuel
        self._rules: list[str] = []
        self._instantiate()
        self._check_module()

    def _instantiate(self) -> None:
        store = wasmtime.Store(self._engine)
        store.set_limits(memory_size=MEMORY_LIMIT_BYTES, instances=1, tables=1, memories=1)
        store.set_fuel(self._fuel)
        instance = wasmtime.Instance(store, self._module, [])
        exports = instance.exports(store)
        memory = exports["memory"]
        func = exports["ballot"]
        if not isinstance(memory, wasmtime.Memory) or not isinstance(func, wasmtime.Func):
            raise KernelFault("ballot.wasm does not export memory and ballot()")
        ty = func.type(store)
        if (list(ty.params), list(ty.results)) != _BALLOT_SIGNATURE:
            raise KernelFault(f"ballot.wasm: ballot() has the wrong signature {ty}")
        self._store = store
        self._exports = exports
        base = ctypes.cast(memory.data_ptr(store), ctypes.c_void_p).value or 0
        self._base = base
        self._input = base + self._call_export("input_ptr")
        self._output = base + self._call_export("output_ptr")
        # The raw call: context, func, one args-and-results array, a trap out-pointer.
        self._context = store._context()
        self._func_ref = ctypes.byref(func._func)
        self._values = (ffi.wasmtime_val_raw_t * 2)()
        self._ints = (ctypes.c_int32 * 8).from_buffer(self._values)
        self._slot = ctypes.sizeof(ffi.wasmtime_val_raw_t) // 4
        self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
        self._trap_ref = ctypes.byref(self._trap)
        self._raw_call = ffi._wasmtime_func_call_unchecked
        self._set_fuel = ffi._wasmtime_context_set_fuel

    def _call_export(self, name: str, *args: int) -> int:
        func = self._exports[name]
        assert isinstance(func, wasmtime.Func)
        result = func(self._store, *args)
        assert isinstance(result, int)
        return result

    def _string_at(self, offset: int) -> str:
        return ctypes.string_at(self._base + offset).decode()

    def _check_module(self) -> None:
        abi = self._call_export("abi_version")
        if abi != ABI_VERSION:
            raise KernelFault(f"ballot.wasm has ABI {abi}, this host speaks {ABI_VERSION}")
        version = self._string_at(self._call_export("unidata_version"))
        if version != UNIDATA_VERSION:
            raise KernelFault(
                f"ballot.wasm normalizes with Unicode {version}, "
                f"the Python contract with {UNIDATA_VERSION}"
            )
        rules: list[str] = []
        while name := self._string_at(self._call_export("rule_name", len(rules))):
            rules.append(name)
        self._rules = rules

    @property
    def unidata_version(self) -> str:
        """The Unicode version of the kernel's NFC tables (the contract's, checked at load)."""
        return self._string_at(self._call_export("unidata_version"))

    def fuel_used(self, body: bytes, year_now: int) -> int:
        """How much fuel one call spends on ``body`` (for tests and the benchmark)."""
        with contextlib.suppress(InvalidVote):
            self.canonical(body, year_now)
        remaining = ctypes.c_uint64()
        ffi.wasmtime_context_get_fuel(self._context, ctypes.byref(remaining))
        return self._fuel - remaining.value

    def canonical(self, body: bytes, year_now: int) -> bytes:
        """The canonical ballot bytes of ``body``; raise InvalidVote or KernelFault."""
        size = len(body)
        ctypes.memmove(self._input, body, size if size <= MAX_BODY_BYTES else 0)
        ints = self._ints
        ints[0] = size if size <= MAX_BODY_BYTES else MAX_BODY_BYTES + 1
        ints[self._slot] = year_now
        self._set_fuel(self._context, self._fuel)
        error = self._raw_call(self._context, self._func_ref, self._values, 2, self._trap_ref)
        if error or self._trap:
            self._fault(error)
        result: int = ints[0]
        if result >= 0:
            return ctypes.string_at(self._output, result)
        code = -result
        field = ctypes.string_at(self._output, code & 0xFFFF).decode()
        rule = self._rules[code >> 16]
        raise InvalidVote(field, rule, _message(field, rule, year_now))

    def parse(self, body: bytes, year_now: int) -> Ballot:
        """The Ballot of ``body``."""
        return ballot_from_canonical(self.canonical(body, year_now))

    def _fault(self, error: Any) -> None:
        if self._trap:
            reason = str(wasmtime.Trap._from_ptr(self._trap))
        else:
            reason = str(wasmtime.WasmtimeError._from_ptr(error))
        # A trap can leave the module's stack pointer mid-call: start over with a new instance.
        self._instantiate()
        raise KernelFault(f"the ballot kernel trapped: {reason}")

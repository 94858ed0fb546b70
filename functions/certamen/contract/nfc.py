"""Unicode NFC with the contract's pinned tables, whatever Unicode the interpreter carries.

``unicodedata.normalize`` follows the interpreter (Unicode 14.0 in Python 3.11,
15.0 in 3.12, 15.1 in 3.13), and NFC differs between versions for characters
that a later version assigned: a mark new in 15.0 has class 0 under 14.0 and
blocks composition, under 15.0 it is reordered. The canonical vote must be one
thing on every supported Python and in the WebAssembly kernel, so both use the
same tables (``unicode_tables.json``, from which ``gen_unicode.py`` also renders
the kernel's C header). The algorithm is UAX #15's: full canonical
decomposition (Hangul algorithmically), a stable sort of each run of marks by
combining class, canonical composition. Text in which no character can change
or affect a neighbour (most names, accents included) is returned at once.
"""

from __future__ import annotations

import json
from pathlib import Path

_TABLES = json.loads(Path(__file__).with_name("unicode_tables.json").read_text(encoding="utf-8"))

UNIDATA_VERSION: str = _TABLES["unidata_version"]

_S_BASE, _L_BASE, _V_BASE, _T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
_L_COUNT, _V_COUNT, _T_COUNT = 19, 21, 28
_N_COUNT = _V_COUNT * _T_COUNT
_S_COUNT = _L_COUNT * _N_COUNT
_HANGUL_JAMO = (0x1100, 0x11FF)

_DECOMPOSITION: dict[int, tuple[int, ...]] = {
    cp: tuple(parts) for cp, parts in _TABLES["decompositions"]
}
_COMPOSITION: dict[tuple[int, int], int] = {
    (first, second): composite for first, second, composite in _TABLES["compositions"]
}
_CLASS: dict[int, int] = {
    cp: ccc for first, last, ccc in _TABLES["combining_classes"] for cp in range(first, last + 1)
}


def _active_characters() -> set[int]:
    """Characters that NFC may change or that may change a neighbour; the rest are inert.

    A mark (class not 0), a character whose decomposition does not compose back to
    it, the second half of a composite, a Hangul jamo. A text without any of them
    is NFC already (precomposed letters such as "é" or "ñ" are inert on their own).
    """
    composites = set(_COMPOSITION.values())
    active = set(_CLASS)
    active.update(cp for cp in _DECOMPOSITION if cp not in composites)
    active.update(second for _, second in _COMPOSITION)
    active.update(range(_HANGUL_JAMO[0], _HANGUL_JAMO[1] + 1))
    return active


# As one-character strings: ``frozenset.isdisjoint(text)`` is the quickest test in CPython.
_ACTIVE = frozenset(map(chr, _active_characters()))


def nfc(text: str) -> str:
    """``text`` in Normalization Form C of the pinned Unicode version (``UNIDATA_VERSION``)."""
    if text.isascii() or _ACTIVE.isdisjoint(text):
        return text
    code_points = _decompose(text)
    _reorder(code_points)
    return "".join(map(chr, _compose(code_points)))


def _decompose(text: str) -> list[int]:
    out: list[int] = []
    for ch in text:
        cp = ord(ch)
        index = cp - _S_BASE
        if 0 <= index < _S_COUNT:
            out.append(_L_BASE + index // _N_COUNT)
            out.append(_V_BASE + index % _N_COUNT // _T_COUNT)
            if index % _T_COUNT:
                out.append(_T_BASE + index % _T_COUNT)
        else:
            out.extend(_DECOMPOSITION.get(cp, (cp,)))
    return out


def _reorder(code_points: list[int]) -> None:
    """Sort each run of marks by combining class, keeping equal classes in order."""
    k, n = 0, len(code_points)
    while k < n:
        if not _CLASS.get(code_points[k]):
            k += 1
            continue
        start = k
        while k < n and _CLASS.get(code_points[k]):
            k += 1
        if k - start > 1:
            code_points[start:k] = sorted(code_points[start:k], key=_CLASS.__getitem__)


def _pair(first: int, second: int) -> int | None:
    """The primary composite of ``first`` and ``second``, if there is one."""
    l_index, v_index = first - _L_BASE, second - _V_BASE
    if 0 <= l_index < _L_COUNT and 0 <= v_index < _V_COUNT:
        return _S_BASE + (l_index * _V_COUNT + v_index) * _T_COUNT
    s_index, t_index = first - _S_BASE, second - _T_BASE
    if 0 <= s_index < _S_COUNT and s_index % _T_COUNT == 0 and 0 < t_index < _T_COUNT:
        return first + t_index
    return _COMPOSITION.get((first, second))


def _compose(code_points: list[int]) -> list[int]:
    """Canonical composition: each mark joins the last starter unless a mark between blocks it."""
    if not code_points:
        return code_points
    out = [code_points[0]]
    starter = 0
    last_class = 256 if _CLASS.get(code_points[0]) else 0  # a leading mark starts nothing
    for cp in code_points[1:]:
        ccc = _CLASS.get(cp, 0)
        composite = _pair(out[starter], cp)
        if composite is not None and (last_class < ccc or last_class == 0):
            out[starter] = composite
            continue
        if ccc == 0:
            starter = len(out)
        last_class = ccc
        out.append(cp)
    return out

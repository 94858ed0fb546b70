"""The contract's NFC: pinned Unicode 14.0.0 tables, the same on every interpreter.

``unicodedata`` is the oracle where it can be one: on Python 3.11 (Unicode 14.0.0)
for every code point; on later interpreters for characters Unicode 3.2 already had,
whose NFC the Unicode stability policy keeps the same in every version since.
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certamen.contract.nfc import UNIDATA_VERSION, nfc

PINNED = "14.0.0"
# Characters that exercise every step: Latin precomposed and not, marks of many classes,
# Greek, Hangul jamo and syllables, singletons, excluded composites, two-part vowels.
_POOL = [
    *map(chr, range(0x41, 0x7B)),
    *map(chr, range(0xC0, 0x250)),
    *map(chr, range(0x300, 0x370)),
    *map(chr, range(0x1E00, 0x1F00)),
    *map(chr, range(0x1F00, 0x2000)),
    *map(chr, range(0x1100, 0x1200)),
    *"\uac00\uac01\ud7a3\u0f73\u0f75\u0f81\u0344\u0340\u093c\u094d\u0928\u0929\u3099\u304b",
    *"\u0b47\u0b3e\u0b57\u0cc6\u0cd5\u0cd6\u2126\u212b\u0958\u2adc\u0345\u0591\u05b0\u302a",
]


def _known_to_unicode_3_2(text: str) -> bool:
    return all(unicodedata.ucd_3_2_0.category(ch) != "Cn" for ch in text)


def _oracle_applies(text: str) -> bool:
    return unicodedata.unidata_version == PINNED or _known_to_unicode_3_2(text)


def test_the_contract_pins_unicode_14() -> None:
    assert UNIDATA_VERSION == PINNED


def test_every_code_point_alone_is_normalized_as_unicode_says() -> None:
    differ = [
        f"U+{cp:04X}"
        for cp in range(0x110000)
        if not 0xD800 <= cp < 0xE000
        and _oracle_applies(chr(cp))
        and nfc(chr(cp)) != unicodedata.normalize("NFC", chr(cp))
    ]
    assert differ == []


@settings(max_examples=3000, deadline=None)
@given(text=st.lists(st.sampled_from(_POOL), max_size=12).map("".join))
def test_sequences_are_normalized_as_unicode_says(text: str) -> None:
    assert nfc(text) == unicodedata.normalize("NFC", text)
    assert nfc(nfc(text)) == nfc(text)


@pytest.mark.parametrize(
    ("text", "pinned"),
    [
        # U+10EFD (Arabic small low word sakta) and U+1E4EC (Nag Mundari) are new in
        # Unicode 15.0: unassigned under 14.0, so class 0, and they block the acute.
        ("a\U00010efd\u0301", "a\U00010efd\u0301"),
        ("a\U0001e4ec\u0301", "a\U0001e4ec\u0301"),
        ("a\u0301\U00010efd", "\u00e1\U00010efd"),
    ],
)
def test_characters_newer_than_the_pinned_version_follow_the_pinned_tables(
    text: str, pinned: str
) -> None:
    assert nfc(text) == pinned


def test_the_contract_never_asks_the_interpreters_unicodedata() -> None:
    """In a process of its own: pytest's terminal output normalizes text with unicodedata too."""
    script = """
import unicodedata
def refuse(*_):
    raise AssertionError("the contract called unicodedata." + refuse.name)
for refuse.name in ("normalize", "is_normalized", "combining", "decomposition"):
    setattr(unicodedata, refuse.name, refuse)
from certamen.contract import parse_ballot
body = '{"name":"Cancio\\u0301n a\\u0161\\u0307\\u0323","album":"\\uac00","year":2000,"rank":1}'
print(parse_ballot(body.encode(), year_now=2026).to_json().decode())
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == (
        '{"name":"Canci\u00f3n a\u1e63\u030c\u0307","album":"\uac00","year":2000,"rank":1}\n'
    )

"""Kernel against the Python contract on generated ballots: the same bytes or (field, rule).

Bodies are built as JSON text so that they can be hostile in ways ``json.dumps``
never is: characters escaped or raw at random, lone surrogates, odd whitespace
between tokens, numbers written as numbers or strings, duplicate and unknown
keys, nested values, truncations and stray bytes.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certamen.contract import InvalidVote, parse_ballot
from certamen.producers.wasm.kernel import BallotKernel

YEAR_NOW = 2026
EXAMPLES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that exercise NFC and the whitespace rule, and everything else.
_TRICKY = st.one_of(
    st.characters(min_codepoint=0x300, max_codepoint=0x36F),  # combining diacritics
    st.sampled_from("\u0591\u05b0\u0345\u0334\u0316\u093c\u094d\u0f71\u0f72\u302a\u3099"),
    st.characters(min_codepoint=0xC0, max_codepoint=0x24F),  # precomposed Latin
    st.characters(min_codepoint=0x1F00, max_codepoint=0x1FFF),  # Greek extended
    st.characters(min_codepoint=0x1100, max_codepoint=0x11FF),  # Hangul jamo
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),  # Hangul syllables
    st.sampled_from("\u2126\u212b\u0340\u0341\u0343\u0374\u037e\u0387\u0344\uf900\U0002f800"),
    st.sampled_from("\U0001d15e\U0001d160\U00011099\U0001109a\U000110ab\u0cc6\u0cc2\u0b47\u0b3e"),
    st.sampled_from(" \u00a0\u1680\u2000\u2001\u2007\u200a\u2028\u2029\u202f\u205f\u3000"),
    st.sampled_from('\t\n\x00\x1f\x7f\x80\x9f"\\/'),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
    st.characters(codec=None),
)
_TEXT = st.one_of(
    st.text(_TRICKY, max_size=40),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=130),
    st.sampled_from(["Bohemia Suburbana", "  Mis   palabras ", "Cancio\u0301n", "", " "]),
)
_WS = st.text(st.sampled_from(" \t\n\r"), max_size=2)


@st.composite
def _string(draw: st.DrawFn, text: st.SearchStrategy[str] = _TEXT) -> str:
    """A JSON string literal for ``text``, each character raw or escaped at random."""
    value = draw(text)
    escapes = draw(st.lists(st.booleans(), min_size=len(value), max_size=len(value)))
    out = ['"']
    for ch, escape in zip(value, escapes, strict=True):
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            out.append(f"\\u{cp:04x}")
        elif ch in '"\\' or cp < 0x20:
            out.append(json.dumps(ch)[1:-1])
        elif escape and cp > 0xFFFF:
            high, low = divmod(cp - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04X}\\u{0xDC00 + low:04x}")
        elif escape:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


_NUMBER = st.one_of(
    st.integers(-5, 3000).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,4})(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,2})?", fullmatch=True),
)
_NUMERIC_TEXT = st.one_of(
    st.from_regex(r"[-+ ]?[0-9]{0,5}(\.[0-9]{0,4})?[eE ]?", fullmatch=True),
    st.integers(1850, 2100).map(str),
    st.sampled_from(["9.5", "09.50", "100.0", "100.01", "0.00", "1e2", "\u0661\u0669"]),
)
_SCALAR = st.one_of(
    _string(),
    _NUMBER,
    _string(_NUMERIC_TEXT),
    st.sampled_from(["null", "true", "false"]),
)
_JSON_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(_string(), inner), max_size=3).map(
            lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}"
        ),
    ),
    max_leaves=6,
)
_KEY = st.one_of(
    st.sampled_from(["name", "album", "year", "rank", "vote_id"]),
    st.sampled_from(["Name", "admin", "$where", "", "na\\u006de", "\\ud800x"]),
    st.text(_TRICKY, max_size=70),
)
_VOTE_ID = st.one_of(
    st.from_regex(r"[A-Za-z0-9._:-]{6,130}", fullmatch=True), st.text(_TRICKY, max_size=12)
)


@st.composite
def _field_value(draw: st.DrawFn, key: str) -> str:
    if key in ("name", "album"):
        return draw(st.one_of(_string(), _JSON_VALUE))
    if key in ("year", "rank"):
        return draw(st.one_of(_NUMBER, _string(_NUMERIC_TEXT), _JSON_VALUE))
    if key == "vote_id":
        return draw(st.one_of(_string(_VOTE_ID), _JSON_VALUE))
    return draw(_JSON_VALUE)


@st.composite
def _ballot_body(draw: st.DrawFn) -> bytes:
    """A JSON object that is often a valid ballot and often not."""
    keys = ["name", "album", "year", "rank"]
    if draw(st.booleans()):
        keys.append("vote_id")
    keys = [k for k in keys if draw(st.integers(0, 9))]  # sometimes one is missing
    keys += draw(st.lists(_KEY, max_size=2))  # extra or duplicate keys
    keys = draw(st.permutations(keys))
    members = []
    for key in keys:
        members.append(
            f"{draw(_WS)}{_plain_key(key)}{draw(_WS)}:{draw(_WS)}"
            f"{draw(_field_value(key))}{draw(_WS)}"
        )
    text = f"{draw(_WS)}{{{','.join(members)}}}{draw(_WS)}"
    return text.encode("utf-8", "surrogatepass")


def _plain_key(key: str) -> str:
    if "\\" in key:  # already an escaped spelling
        return f'"{key}"'
    return json.dumps(key).replace("\\ud", "\\uD")


@pytest.fixture(scope="module")
def kernel() -> BallotKernel:
    return BallotKernel()


def _python(body: bytes) -> bytes | tuple[str, str]:
    try:
        return parse_ballot(body, year_now=YEAR_NOW).to_json()
    except InvalidVote as e:
        return (e.field, e.rule)


def _kernel(kernel: BallotKernel, body: bytes) -> bytes | tuple[str, str]:
    try:
        return kernel.canonical(body, YEAR_NOW)
    except InvalidVote as e:
        return (e.field, e.rule)


@EXAMPLES
@given(body=_ballot_body())
def test_generated_ballots(kernel: BallotKernel, body: bytes) -> None:
    assert _kernel(kernel, body) == _python(body)


@EXAMPLES
@given(body=_ballot_body(), cut=st.integers(0, 400), junk=st.binary(max_size=3))
def test_damaged_ballots(kernel: BallotKernel, body: bytes, cut: int, junk: bytes) -> None:
    damaged = body[: len(body) - cut] + junk if cut % 2 else body[:cut] + junk + body[cut:]
    assert _kernel(kernel, damaged) == _python(damaged)


@EXAMPLES
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes(kernel: BallotKernel, body: bytes) -> None:
    assert _kernel(kernel, body) == _python(body)


@EXAMPLES
@given(text=st.text(_TRICKY, min_size=1, max_size=60))
def test_normalization_of_names(kernel: BallotKernel, text: str) -> None:
    body = ('{"name":' + _plain_key(text) + ',"album":"x","year":2000,"rank":1}').encode(
        "utf-8", "surrogatepass"
    )
    assert _kernel(kernel, body) == _python(body)


# A letter, precomposed or not, then combining marks of mixed classes in any order: the
# case where NFC must decompose the letter, sort every mark and compose again. Classes:
# 220 below, 230 above, 202 attached below, 216 attached above right, 1 overlay, 240 iota,
# 7 nukta, 9 virama, 8 kana voicing, 232 above right; U+0F73 and U+0344 decompose to marks.
_BASE = st.one_of(
    st.characters(min_codepoint=0x41, max_codepoint=0x7A),
    st.characters(min_codepoint=0xC0, max_codepoint=0x2FF),  # precomposed Latin below U+0300
    st.characters(min_codepoint=0x1E00, max_codepoint=0x1EFF),  # Latin extended additional
    st.characters(min_codepoint=0x1F00, max_codepoint=0x1FFF),  # Greek extended
    st.sampled_from("\u0391\u03b1\u0415\u0435\u0418\u0928\u0915\u304b\u30cf\u1100\uac00\uac01"),
)
_MARK = st.sampled_from(
    "\u0300\u0301\u0302\u0303\u0304\u0306\u0307\u0308\u030a\u030c\u031b\u0323\u0324"
    "\u0325\u0327\u0328\u032d\u0331\u0334\u0338\u0342\u0344\u0345\u093c\u094d\u0f73"
    "\u3099\u302a\u0315\u1161\u11a8"
)
_CLUSTERS = st.lists(
    st.tuples(_BASE, st.lists(_MARK, max_size=4)).map(lambda c: c[0] + "".join(c[1])),
    min_size=1,
    max_size=8,
).map("".join)


def _name_body(text: str) -> bytes:
    return ('{"name":' + _plain_key(text) + ',"album":"x","year":2000,"rank":1}').encode(
        "utf-8", "surrogatepass"
    )


@EXAMPLES
@given(text=_CLUSTERS)
def test_letters_with_marks_in_any_order(kernel: BallotKernel, text: str) -> None:
    body = _name_body(text)
    assert _kernel(kernel, body) == _python(body)


@EXAMPLES
@given(text=st.one_of(_CLUSTERS, st.text(_TRICKY, min_size=1, max_size=60)))
def test_a_canonical_ballot_is_its_own_canonical_form(kernel: BallotKernel, text: str) -> None:
    """kernel(canonical(x)) == canonical(x), and the same for the Python contract."""
    for judge in (lambda body: _kernel(kernel, body), _python):
        canonical = judge(_name_body(text))
        if isinstance(canonical, bytes):
            assert judge(canonical) == canonical

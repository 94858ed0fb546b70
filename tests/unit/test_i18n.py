"""The message catalogues: every key in both languages, the same placeholders; formats."""

from __future__ import annotations

import importlib
import re
import string
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import get_type_hints

import pytest

from certamen.contract import CHANNELS
from certamen.results.i18n import LANGUAGES, Messages, formats_for, language_of, messages
from certamen.results.i18n.catalogue import AppTexts

# Texts that are the same word in both languages (names of products, a code).
SAME_IN_BOTH = {
    "audit.redis",
    "audit.mongodb",
    "audit.counter_total",
    "channels.grpc",
    "channels.wasm",
}


def _texts(catalogue: Messages) -> dict[str, str]:
    return {
        f"{section}.{key}": text
        for section, texts in asdict(catalogue).items()
        for key, text in texts.items()
    }


def _keys() -> list[str]:
    """Every key the catalogue defines, from the dataclasses themselves."""
    return [
        f"{section}.{f.name}"
        for section, kind in get_type_hints(Messages).items()
        for f in fields(kind)
    ]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_has_a_text_in_every_language(language: str) -> None:
    """A key missing from a language fails its import; an empty text fails here."""
    module = importlib.import_module(f"certamen.results.i18n.{language}")
    texts = _texts(module.MESSAGES)
    assert sorted(texts) == sorted(_keys())
    assert not [key for key, text in texts.items() if not text.strip()]


def test_a_missing_key_is_an_error() -> None:
    given = asdict(messages("en").app)
    del given["language"]
    with pytest.raises(TypeError, match="language"):
        AppTexts(**given)


def test_both_languages_fill_the_same_placeholders() -> None:
    english, spanish = _texts(messages("en")), _texts(messages("es"))
    for key, text in english.items():
        assert _placeholders(text) == _placeholders(spanish[key]), key


def test_spanish_is_translated() -> None:
    english, spanish = _texts(messages("en")), _texts(messages("es"))
    untranslated = {key for key in english if english[key] == spanish[key]}
    assert untranslated == SAME_IN_BOTH


VOTE_CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "vote-contract.md"
# The consumer's own rules besides the ballot's: an event of another type, a ballot
# the catalog lacks, a vote id reused for another ballot.
CONSUMER_RULES = {"unknown_type", "not_in_catalog", "conflict"}


def _contract_rules() -> set[str]:
    """Every rule in the contract's tables (the last column: `| check | ... | `rule` |`)."""
    text = VOTE_CONTRACT.read_text(encoding="utf-8")
    return set(re.findall(r"\| `([a-z_0-9]+)` \|$", text, flags=re.MULTILINE))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_rule_and_channel_has_a_name(language: str) -> None:
    texts = messages(language)  # type: ignore[arg-type]
    rules = _contract_rules() | CONSUMER_RULES
    assert "not_in_catalog" in rules and "precision" in rules, "the tables were read"
    unnamed = {rule for rule in rules if texts.rules.of(rule) == rule}
    assert unnamed == set()
    assert texts.rules.of("no_such_rule") == "no_such_rule", "an unknown rule shows as its code"
    assert all(texts.channels.of(channel) != "" for channel in CHANNELS)
    assert texts.channels.of("legacy") != "legacy"


@pytest.mark.parametrize(
    ("browser", "language"),
    [
        ("es", "es"),
        ("es-GT", "es"),
        ("es-419", "es"),
        ("ES_es", "es"),
        ("en-US", "en"),
        ("fr-FR", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_spanish_where_the_browser_asks_for_it(browser: str | None, language: str) -> None:
    assert language_of(browser) == language


@pytest.mark.parametrize(
    ("language", "browser", "count", "decimal"),
    [
        ("en", "en-US", "1,234,567", "72.25"),
        ("es", "es", "1.234.567", "72,25"),
        ("es", "es-ES", "1.234.567", "72,25"),
        ("es", "es-GT", "1,234,567", "72.25"),  # Guatemala writes numbers as English does
        ("es", "en-US", "1.234.567", "72,25"),  # the browser's region is not Spanish
        ("en", "es-GT", "1,234,567", "72.25"),
        ("es", "xx-not-a-locale", "1.234.567", "72,25"),
    ],
)
def test_numbers_are_written_for_the_language(
    language: str, browser: str, count: str, decimal: str
) -> None:
    formats = formats_for(language, browser, "America/Guatemala")
    assert formats.count(1_234_567) == count
    assert formats.decimal(72.25) == decimal
    assert formats.decimal(9.5) in ("9.5", "9,5")
    assert formats.decimal(100.0) == "100"


def test_times_are_shown_in_the_contest_zone() -> None:
    """Guatemala is UTC-6 all year: 17:25 UTC is 11:25 there."""
    english = formats_for("en", "en-US", "America/Guatemala")
    spanish = formats_for("es", "es", "America/Guatemala")
    stored = "2026-11-26T17:25:44.123Z"
    assert english.moment(stored).replace("\u202f", " ") == "Nov 26, 2026, 11:25:44 AM"
    assert spanish.moment(stored) == "26 nov 2026, 11:25:44"
    naive_from_pymongo = datetime(2026, 11, 26, 17, 25, 44)
    assert spanish.moment(naive_from_pymongo) == "26 nov 2026, 11:25:44"
    assert spanish.moment(None) == ""
    madrid = formats_for("es", "es-ES", "Europe/Madrid")
    assert madrid.moment(stored) == "26 nov 2026, 18:25:44"


def test_picked_times_are_the_contest_zone_and_become_utc() -> None:
    formats = formats_for("es", None, "America/Guatemala")
    picked = datetime(2026, 11, 26, 11, 25)
    assert formats.from_wall_clock(picked) == datetime(2026, 11, 26, 17, 25, tzinfo=UTC)
    assert formats.wall_clock(datetime(2026, 11, 26, 17, 25, tzinfo=UTC)) == picked
    assert formats.zone_name == "America/Guatemala"


def test_charts_get_the_locale_of_the_language() -> None:
    spanish = formats_for("es", "es", "UTC").vega_locale()
    assert (spanish["number"]["decimal"], spanish["number"]["thousands"]) == (",", ".")
    assert spanish["time"]["days"][0] == "domingo"
    assert spanish["time"]["months"][0] == "enero"
    english = formats_for("en", "en-US", "UTC").vega_locale()
    assert (english["number"]["decimal"], english["number"]["thousands"]) == (".", ",")
    assert english["time"]["shortMonths"][10] == "Nov"


@pytest.mark.parametrize(
    ("language", "browser", "picker"),
    [("en", "en-US", "MM/DD/YYYY"), ("es", "es", "DD/MM/YYYY"), ("es", "es-GT", "DD/MM/YYYY")],
)
def test_date_pickers_follow_the_locale(language: str, browser: str, picker: str) -> None:
    formats = formats_for(language, browser, "UTC")
    assert formats.date_picker == picker

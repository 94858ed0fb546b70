"""The two languages of the organisers, and which one a browser asks for."""

from __future__ import annotations

from typing import Literal

Language = Literal["es", "en"]
LANGUAGES: tuple[Language, ...] = ("es", "en")
# Each language named in itself: a selector must be readable by whoever cannot read the other.
LANGUAGE_NAMES: dict[Language, str] = {"es": "Español", "en": "English"}


def language_of(browser_locale: str | None) -> Language:
    """Spanish when the browser's language is Spanish (``es``, ``es-GT``, …), else English."""
    primary = (browser_locale or "").replace("_", "-").split("-")[0].strip().lower()
    return "es" if primary == "es" else "en"

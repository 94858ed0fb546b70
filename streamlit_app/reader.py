"""Who reads this session: the language they picked (the browser's, at first) and its formats.

``app.py`` draws the picker on every run, before the page, so every page of a
session reads the same choice; pages take their texts and formats from
:func:`current`. A choice other than the browser's own is kept in the address
(``?language=English``), so that a reload or a shared link keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import streamlit as st

from certamen.results.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    Formats,
    Language,
    Messages,
    formats_for,
    language_of,
    messages,
)
from streamlit_app import resources

LANGUAGE_KEY = "language"


@dataclass(frozen=True, slots=True)
class Reader:
    """The texts and formats of one session's language."""

    language: Language
    texts: Messages
    formats: Formats


def browser_language() -> Language:
    """The language the browser asks for (``navigator.language``, through ``st.context``)."""
    return language_of(st.context.locale)


def pick_language() -> Language:
    """The language picker in the sidebar, starting at the browser's language."""
    shown = st.session_state.get(LANGUAGE_KEY)
    chosen: Language = st.sidebar.segmented_control(
        messages(shown if shown in LANGUAGES else browser_language()).app.language,
        LANGUAGES,
        default=browser_language(),
        format_func=LANGUAGE_NAMES.__getitem__,
        required=True,
        key=LANGUAGE_KEY,
        bind="query-params",
    )
    return chosen


def current() -> Reader:
    """This session's reader: the picked language (the browser's before the picker is drawn)."""
    language = st.session_state.get(LANGUAGE_KEY)
    if language not in LANGUAGES:
        language = browser_language()
    return _reader(language, st.context.locale, resources.settings().timezone)


@lru_cache(maxsize=64)
def _reader(language: Language, browser_locale: str | None, zone: str) -> Reader:
    return Reader(language, messages(language), formats_for(language, browser_locale, zone))

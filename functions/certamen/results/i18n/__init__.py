"""Spanish and English for the organisers: one message catalogue per language, and formats.

``messages(language)`` is that language's :class:`Messages` (``en.py``,
``es.py``); ``formats_for`` gives numbers and times as the reader writes them,
in the contest's time zone. The Streamlit app and the Grafana dashboards both
take their texts from here. Imports nothing of the package but itself.
"""

from certamen.results.i18n.catalogue import Messages
from certamen.results.i18n.en import MESSAGES as ENGLISH
from certamen.results.i18n.es import MESSAGES as SPANISH
from certamen.results.i18n.formats import Formats, formats_for, utc
from certamen.results.i18n.languages import LANGUAGE_NAMES, LANGUAGES, Language, language_of

_CATALOGUES: dict[Language, Messages] = {"en": ENGLISH, "es": SPANISH}


def messages(language: Language) -> Messages:
    """The catalogue of ``language``."""
    return _CATALOGUES[language]


__all__ = [
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "Formats",
    "Language",
    "Messages",
    "formats_for",
    "language_of",
    "messages",
    "utc",
]

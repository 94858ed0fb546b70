"""Numbers and times for a reader: CLDR's conventions (Babel), times in the contest's zone.

Stored times stay UTC (the contract's RFC 3339 strings, or the naive UTC
datetimes PyMongo hands back); only what is shown is converted. The locale is
the browser's own when it speaks the chosen language (``es-GT`` writes
``1,234.5``, ``es-ES`` ``1.234,5``), else the language's CLDR default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol

from certamen.results.i18n.languages import Language

_FRACTION = "#,##0.{}"


@dataclass(frozen=True, slots=True)
class Formats:
    """How one reader sees numbers and times."""

    locale: Locale
    zone: ZoneInfo

    @property
    def zone_name(self) -> str:
        """The zone's tz database name, for labels such as "From (America/Guatemala)"."""
        return self.zone.key

    @property
    def date_picker(self) -> str:
        """The order of a date picker's fields: day first where the locale writes dates so."""
        pattern = str(self.locale.date_formats["short"].pattern).lstrip()
        return (
            "YYYY/MM/DD"
            if pattern.startswith("y")
            else ("DD/MM/YYYY" if pattern.startswith("d") else "MM/DD/YYYY")
        )

    def count(self, value: int) -> str:
        """A whole number with the locale's thousands separator."""
        return format_decimal(value, format="#,##0", locale=self.locale)

    def decimal(self, value: float, digits: int = 2) -> str:
        """A number with at most ``digits`` decimals (trailing zeros dropped)."""
        return format_decimal(value, format=_FRACTION.format("#" * digits), locale=self.locale)

    def moment(self, value: datetime | str | None) -> str:
        """A stored time (UTC) as the reader's date and time in the contest's zone."""
        when = utc(value)
        if when is None:
            return ""
        return format_datetime(when, "medium", tzinfo=self.zone, locale=self.locale)

    def wall_clock(self, value: datetime) -> datetime:
        """The contest zone's wall-clock time of a UTC instant, without a zone (for charts)."""
        return value.astimezone(self.zone).replace(tzinfo=None)

    def from_wall_clock(self, value: datetime) -> datetime:
        """A time a reader picked (wall clock of the contest's zone) as a UTC instant."""
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        return value.replace(tzinfo=self.zone).astimezone(UTC)

    def vega_locale(self) -> dict[str, Any]:
        """Vega-Lite's ``config.locale``: d3's number and time conventions of this locale."""
        locale = self.locale
        days = locale.days["format"]["wide"]
        short_days = locale.days["format"]["abbreviated"]
        months = locale.months["format"]["wide"]
        short_months = locale.months["format"]["abbreviated"]
        periods = locale.day_periods["format"]["abbreviated"]
        day_first = str(locale.date_formats["short"].pattern).lstrip().startswith("d")
        sunday_first = [6, 0, 1, 2, 3, 4, 5]  # CLDR counts from Monday, d3 from Sunday
        return {
            "number": {
                "decimal": get_decimal_symbol(locale),
                "thousands": get_group_symbol(locale),
                "grouping": [3],
                "currency": ["", ""],
            },
            "time": {
                "dateTime": "%x, %X",
                "date": "%d/%m/%Y" if day_first else "%m/%d/%Y",
                "time": "%H:%M:%S",
                "periods": [periods["am"], periods["pm"]],
                "days": [days[d] for d in sunday_first],
                "shortDays": [short_days[d] for d in sunday_first],
                "months": [months[m] for m in range(1, 13)],
                "shortMonths": [short_months[m] for m in range(1, 13)],
            },
        }


def formats_for(language: Language, browser_locale: str | None, zone: str) -> Formats:
    """The formats of ``language``, in the browser's own region when it speaks that language."""
    return Formats(locale=_locale(language, browser_locale), zone=ZoneInfo(zone))


def utc(value: datetime | str | None) -> datetime | None:
    """A stored time as an aware UTC datetime: RFC 3339 text, or PyMongo's naive UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _locale(language: Language, browser_locale: str | None) -> Locale:
    if browser_locale:
        try:
            spoken = Locale.parse(browser_locale.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            spoken = None
        if spoken is not None and spoken.language == language:
            return spoken
    return Locale.parse(language)

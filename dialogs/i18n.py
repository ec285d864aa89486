"""Translations (French source strings, English catalogue) and Babel formatting per locale."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_datetime, format_time
from babel.support import NullTranslations, Translations

from booking.money import format_cents

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "ribambelle"
LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for deferred strings
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


@cache
def _translations(locale: str) -> NullTranslations:
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    return Translations.load(str(LOCALES_DIR), [locale], DOMAIN)


def pick_locale(*candidates: str | None) -> str:
    """The first supported language among the candidates ("en-GB" counts as "en")."""
    for candidate in candidates:
        if candidate:
            short = candidate.split("-")[0].split("_")[0].lower()
            if short in LOCALES:
                return short
    return DEFAULT_LOCALE


class Translator:
    """Everything a reply needs to speak one language: gettext, dates, times, money."""

    def __init__(self, locale: str) -> None:
        self.locale = pick_locale(locale)
        self._catalogue = _translations(self.locale)

    def _(self, message: str, **params: object) -> str:
        text = self._catalogue.gettext(message)
        return text.format(**params) if params else text

    def n_(self, singular: str, plural: str, count: int, **params: object) -> str:
        if self.locale == DEFAULT_LOCALE:
            # French source strings: 0 and 1 take the singular (gettext's default is English's).
            text = singular if abs(count) < 2 else plural
        else:
            text = self._catalogue.ngettext(singular, plural, count)
        return text.format(count=count, **params)

    @property
    def colon(self) -> str:
        """What joins a label to its detail: French sets a space before the colon."""
        return " : " if self.locale == "fr" else ": "

    def _date(self, value: date, pattern: str) -> str:
        """Babel's date, with French's "1er" for the first of the month ("lundi 1er mars")."""
        if self.locale == "fr" and value.day == 1:
            pattern = pattern.replace("d ", "d'er' ", 1)
        return format_date(value, pattern, locale=self.locale)

    def day(self, value: date) -> str:
        """ "mercredi 4 mars" / "Wednesday 4 March"."""
        return self._date(value, "EEEE d MMMM")

    def day_with_year(self, value: date) -> str:
        return self._date(value, "EEEE d MMMM y")

    def short_day(self, value: date) -> str:
        return self._date(value, "EEE d MMM")

    def day_number(self, value: date) -> str:
        """ "1er", "4" / "1", "4": a day in a list of one month's days."""
        return "1er" if self.locale == "fr" and value.day == 1 else str(value.day)

    def month(self, value: date) -> str:
        return format_date(value, "LLLL y", locale=self.locale)

    def time(self, value: datetime) -> str:
        return format_time(value, "HH:mm", locale=self.locale)

    def moment(self, value: datetime) -> str:
        pattern = "EEEE d MMMM, HH:mm"
        if self.locale == "fr" and value.day == 1:
            pattern = "EEEE d'er' MMMM, HH:mm"
        return format_datetime(value, pattern, locale=self.locale)

    def money(self, cents: int) -> str:
        return format_cents(cents, self.locale)

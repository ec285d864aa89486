"""Translations (French source strings, English catalogue) and Babel formatting per locale."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from booking.money import format_cents

#: Where the catalogues are: compiled into the package when it is built (a wheel, `pip install
#: .`, see setup.py), else the source tree's locales/ (the .mo that `make` compiles, or the .po).
BUNDLED_DIR = Path(__file__).resolve().parent / "catalogues"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "ribambelle"
LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for deferred strings
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


class MissingCatalogue(RuntimeError):
    """A supported language has no catalogue: English would silently answer in French."""


@cache
def _translations(locale: str) -> NullTranslations:
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    for folder in (BUNDLED_DIR, LOCALES_DIR):
        compiled = folder / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        source = folder / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        if compiled.exists() and (
            not source.exists() or compiled.stat().st_mtime >= source.stat().st_mtime
        ):
            with compiled.open("rb") as mo:
                return Translations(mo, domain=DOMAIN)
        if source.exists():  # not compiled (no `make`), or compiled before the last edit
            return Translations(BytesIO(_compiled(source)), domain=DOMAIN)
    raise MissingCatalogue(
        f"no {locale!r} catalogue in {BUNDLED_DIR} or {LOCALES_DIR}: reinstall the package"
    )


def _compiled(source: Path) -> bytes:
    """The .po compiled in memory, fuzzy entries left out as `pybabel compile` does."""
    with source.open("rb") as po:
        catalog = read_po(po, locale=source.parent.parent.name)
    out = BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def check_catalogues() -> None:
    """Load every language's catalogue now: a missing one stops the start-up, loudly."""
    for locale in LOCALES:
        _translations(locale)


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

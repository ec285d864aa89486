"""France's public holidays and school holidays per zone, from published data, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import holidays
from vacances_scolaires_france import SchoolHolidayDates

SCHOOL_ZONES = ("A", "B", "C")

# The library's `nom_vacances` → our kinds.
_KINDS = {
    "Vacances de la Toussaint": "toussaint",
    "Vacances de Noël": "noel",
    "Vacances d'hiver": "hiver",
    "Vacances de printemps": "printemps",
    "Vacances d'été": "ete",
    "Pont de l'Ascension": "ascension",
}
SCHOOL_HOLIDAY_KINDS = tuple(_KINDS.values())


@dataclass(frozen=True)
class SchoolHoliday:
    """One school holiday period of a zone, `first` and `last` days included.

    `kind` is one of "toussaint", "noel", "hiver", "printemps", "ete", "ascension".
    """

    kind: str
    first: date
    last: date


def public_holidays(year: int) -> dict[date, str]:
    """France's public holidays (jours fériés) that year, by date.

    The national list: Alsace-Moselle's Good Friday and 26 December are not in it.

    Values are the `holidays` library's English names ("Easter Monday", "Ascension Day",
    "Pentecost Monday"…); two holidays on one day share it as "Ascension Day; Labor Day".
    A year the library does not cover has none. The result is the caller's to change.
    """
    return dict(_public_holidays(year))


@cache
def _public_holidays(year: int) -> tuple[tuple[date, str], ...]:
    return tuple(sorted(holidays.France(years=year, language="en_US").items()))


@cache
def _school_holiday_dates() -> SchoolHolidayDates:
    """The library reads its whole CSV file when built: once per process, when first needed."""
    return SchoolHolidayDates()


@cache
def school_holidays(zone: str | None, first_year: int, last_year: int) -> tuple[SchoolHoliday, ...]:
    """The school holidays of `zone` ("A", "B" or "C") that touch `first_year`..`last_year`.

    Periods are whole and in date order: the Christmas holidays of 2026-2027 belong to both
    years. Contiguous days of one holiday make one period. No zone gives none; years the
    library does not know are left out (what it knows is returned).

    Raises:
        ValueError: `zone` is not A, B or C.
    """
    if zone is None or first_year > last_year:
        return ()
    zone = zone.upper()
    if zone not in SCHOOL_ZONES:
        raise ValueError(f"unknown school zone {zone!r} (A, B or C)")
    calendar = _school_holiday_dates()
    # A year each side, so that a period across New Year is found whole.
    years = range(max(first_year - 1, calendar.min_year), min(last_year + 1, calendar.max_year) + 1)
    days = sorted(
        (day, _KINDS[row["nom_vacances"]])
        for year in years
        for day, row in calendar.holidays_for_year_and_zone(year, zone).items()
        if row["nom_vacances"] in _KINDS
    )
    periods: list[SchoolHoliday] = []
    for day, kind in days:
        last = periods[-1] if periods else None
        if last is not None and last.kind == kind and last.last + timedelta(days=1) == day:
            periods[-1] = SchoolHoliday(kind, last.first, day)
        else:
            periods.append(SchoolHoliday(kind, day, day))
    start, end = date(first_year, 1, 1), date(last_year, 12, 31)
    return tuple(period for period in periods if period.first <= end and period.last >= start)

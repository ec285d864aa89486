"""Long lists of days said short: per child and activity, the count, the weekdays and the days
of each month ("mars : 1er, 4, 8"), so that a recap of a term stays a few lines long (and under
Telegram's 4,096 characters)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

from babel.dates import format_date, get_day_names

from dialogs.i18n import Translator

#: A child's activity with at most this many days is listed day by day.
DETAILED_UP_TO = 3

Item = TypeVar("Item")


@dataclass
class Group(Generic[Item]):
    child: str
    activity: str
    items: list[Item] = field(default_factory=list)


def group(items: Iterable[Item], key: Callable[[Item], tuple[str, str]]) -> list[Group[Item]]:
    """Items per (child, activity), in the order they first come."""
    groups: dict[tuple[str, str], Group[Item]] = {}
    for item in items:
        child, activity = key(item)
        groups.setdefault((child, activity), Group(child, activity)).items.append(item)
    return list(groups.values())


def days_text(t: Translator, days: Sequence[date]) -> str:
    """ "mars : 1er, 4, 8 ; avril : 1er" — the days of each month, in order."""
    months: dict[tuple[int, int], list[date]] = {}
    for day in sorted(set(days)):
        months.setdefault((day.year, day.month), []).append(day)
    parts = []
    for (year, month), in_month in months.items():
        name = format_date(date(year, month, 1), "LLLL", locale=t.locale)
        numbers = ", ".join(t.day_number(day) for day in in_month)
        parts.append(f"{name}{t.colon}{numbers}")
    return " ; ".join(parts)


def weekdays_text(t: Translator, days: Sequence[date]) -> str:
    """ "lun., jeu." — the weekdays the days fall on, Monday first."""
    names = get_day_names("abbreviated", locale=t.locale)
    return ", ".join(names[weekday] for weekday in sorted({day.weekday() for day in days}))

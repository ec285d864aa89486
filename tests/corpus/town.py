"""The demo town at the corpus's reference instant, as understanding sees it: no database.

Ids follow the demo's order: activities 1.. in the catalogue's order, children 1.. in the
dupont household's order (Léa, Paolo, Amalia).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from booking.catalogue_file import ActivitySpec, CatalogueSpec, parse_catalogue, planned_sessions
from booking.clock import PARIS
from booking.demo import demo_catalogue, demo_households
from booking.school_calendar import school_holidays
from dialogs.understanding import ActivityInfo, Catalogue, ChildInfo

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=PARIS)  # a Monday, 09:00 in Paris
HOUSEHOLD = "dupont"


def fold(text: str) -> str:
    """Lower case without accents: "Léa", "lea" and "LEA" name one child."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower().strip()


@dataclass(frozen=True)
class Town:
    """What a corpus line's names and codes stand for."""

    now: datetime
    children: tuple[ChildInfo, ...]
    catalogue: Catalogue

    def activity_id(self, code: str) -> int:
        for activity in self.catalogue.activities:
            if activity.code == code:
                return activity.id
        raise KeyError(f"no activity with code {code!r}")

    def activity_code(self, activity_id: int) -> str:
        for activity in self.catalogue.activities:
            if activity.id == activity_id:
                return activity.code
        return f"#{activity_id}"

    def child_id(self, name: str) -> int:
        for child in self.children:
            if fold(child.name) == fold(name):
                return child.id
        raise KeyError(f"no child called {name!r}")

    def child_name(self, child_id: int) -> str:
        for child in self.children:
            if child.id == child_id:
                return child.name
        return f"#{child_id}"


def _session_days(spec_activity: ActivitySpec, spec: CatalogueSpec, today: date) -> frozenset[date]:
    """Every day a session runs on, from today: a summer week counts Monday to Friday."""
    days: set[date] = set()
    for session in planned_sessions(spec, spec_activity):
        first, last = session.starts_at.date(), session.ends_at.date()
        day = first
        while day <= last:
            if day >= today:
                days.add(day)
            day += timedelta(days=1)
    return frozenset(days)


@cache
def town() -> Town:
    """The demo town's catalogue and the dupont children at `NOW`."""
    today = NOW.astimezone(PARIS).date()
    spec = parse_catalogue(demo_catalogue(NOW))
    activities = tuple(
        ActivityInfo(
            id=index,
            code=activity.code,
            name=activity.name,
            category=str(getattr(activity.category, "value", activity.category)),
            aliases=tuple(activity.aliases),
            min_age=activity.min_age,
            max_age=activity.max_age,
            session_days=_session_days(activity, spec, today),
        )
        for index, activity in enumerate(spec.activities, start=1)
    )
    zone = spec.structure.school_zone or "A"
    holidays = school_holidays(zone, today.year - 1, today.year + 1)
    household = next(h for h in demo_households(today) if h.login == HOUSEHOLD)
    children = tuple(
        ChildInfo(id=index, name=person.first_name, birth_date=person.birth_date)
        for index, person in enumerate(household.children, start=1)
    )
    return Town(NOW, children, Catalogue(activities=activities, school_holidays=holidays))


def corpus_context() -> tuple[datetime, tuple[ChildInfo, ...], Catalogue]:
    """(now, children, catalogue): the arguments every corpus line is understood with."""
    place = town()
    return place.now, place.children, place.catalogue

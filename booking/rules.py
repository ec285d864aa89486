"""Booking rules as pure functions over plain values: ages, deadlines, openings, prices."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache

from booking.refusals import Refusal
from booking.school_calendar import public_holidays


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on `day` (a birthday on that day counts)."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


def online_provider(payment_settings: dict | None) -> str | None:
    """The town's payment provider, or None: a town that names none takes no money online
    (the sandbox is never a default)."""
    provider = (payment_settings or {}).get("provider")
    return str(provider) if provider else None


def age_refusal(min_age: int, max_age: int | None, birth_date: date, day: date) -> Refusal | None:
    """The activity accepts `min_age <= age < max_age` on the session's day."""
    age = age_on(birth_date, day)
    if age < min_age:
        return Refusal.TOO_YOUNG
    if max_age is not None and age >= max_age:
        return Refusal.TOO_OLD
    return None


@cache
def french_public_holidays(year: int) -> frozenset[date]:
    """Jours fériés of France (the `holidays` library's list, see `school_calendar`)."""
    return frozenset(public_holidays(year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in french_public_holidays(day.year)


def days_before(day: date, count: int, *, working: bool) -> date:
    """The day `count` calendar (or working) days before `day`."""
    if not working:
        return day - timedelta(days=count)
    current = day
    remaining = count
    while remaining > 0:
        current -= timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def deadline_at(
    starts_at: datetime,
    *,
    days: int,
    working_days: bool,
    at: time | None,
    tz: tzinfo,
) -> datetime:
    """The last instant (exclusive) to book or cancel a session starting at `starts_at`.

    The reference day is `days` calendar or working days before the session's local day; the
    deadline is that day at `at`, or the end of that day without `at`, and never after the
    session starts. Allowed while `now < deadline`.
    """
    local_start = starts_at.astimezone(tz)
    reference = days_before(local_start.date(), days, working=working_days)
    if at is not None:
        deadline = datetime.combine(reference, at, tzinfo=tz)
    else:
        deadline = datetime.combine(reference + timedelta(days=1), time(0, 0), tzinfo=tz)
    return min(deadline, local_start)


def opening_for(
    default_opens_at: datetime | None, waves: Mapping[str, datetime], household_group: str | None
) -> datetime | None:
    """When booking opens for a household group: its wave, else the activity's opening."""
    if household_group is not None and household_group in waves:
        return waves[household_group]
    return default_opens_at


@dataclass(frozen=True)
class TariffBand:
    price_cents: int
    min_quotient: int | None = None
    max_quotient: int | None = None
    min_age: int | None = None
    max_age: int | None = None

    def matches(self, quotient: int | None, age: int) -> bool:
        if self.min_quotient is not None and (quotient is None or quotient < self.min_quotient):
            return False
        if self.max_quotient is not None and (quotient is None or quotient > self.max_quotient):
            return False
        if self.min_age is not None and age < self.min_age:
            return False
        return not (self.max_age is not None and age >= self.max_age)


def price_for(
    base_price_cents: int, bands: Iterable[TariffBand], *, quotient: int | None, age: int
) -> int:
    """The first tariff band that matches the household's quotient and the child's age wins.

    A household without a known quotient pays the session's base price (the full rate).
    """
    for band in bands:
        if band.matches(quotient, age):
            return band.price_cents
    return base_price_cents


def overlaps(start_a: datetime, end_a: datetime, start_b: datetime, end_b: datetime) -> bool:
    return start_a < end_b and start_b < end_a


ADULT_AGE = 18


def is_adult(birth_date: date, day: date) -> bool:
    return age_on(birth_date, day) >= ADULT_AGE

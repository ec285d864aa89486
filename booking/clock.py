"""The injectable clock: every service receives `now` read once from one of these."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in the town's time zone."""

    def __init__(self, tz: tzinfo = PARIS) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)


class ShiftedClock:
    """A clock that starts at a pinned instant and then runs forward in real time.

    Used for demos (`RIBAMBELLE_NOW`): the product behaves as on that day, holds still expire.
    """

    def __init__(self, start: datetime, tz: tzinfo = PARIS) -> None:
        self.start = start.astimezone(tz)
        self.tz = tz
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._origin)


class FrozenClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime, tz: tzinfo = PARIS) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._now = start.astimezone(tz)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta = timedelta(0), **kwargs: float) -> datetime:
        self._now += delta + timedelta(**kwargs)
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(self._now.tzinfo)


def parse_instant(text: str, tz: tzinfo = PARIS) -> datetime:
    """Read an ISO 8601 instant; a naive one is taken in the town's time zone."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(tz)


def clock_from_env(pinned: str | None, tz: tzinfo = PARIS) -> Clock:
    """The clock for a process: shifted to `pinned` (RIBAMBELLE_NOW) when given."""
    if pinned:
        return ShiftedClock(parse_instant(pinned, tz), tz)
    return SystemClock(tz)

"""Channel-neutral replies: text, button rows, a link and a month calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class CalendarDay:
    day: date
    state: str  # open, booked, in_basket, full, waitlist, closed, past_deadline
    label: str  # spoken label, e.g. "mercredi 4 mars : ouvert"
    payload: str | None


@dataclass(frozen=True)
class Calendar:
    title: str
    weekdays: list[str]
    weeks: list[list[CalendarDay | None]]
    previous: Button | None
    next: Button | None
    legend: list[tuple[str, str]]  # (state, label)


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    link: Link | None = None
    calendar: Calendar | None = None
    secret_input: bool = False  # the next message is a password: mask it, delete it
    locale: str = "fr"

"""The month calendar of one activity for one child: each day's state, as a Calendar reply."""

from __future__ import annotations

import calendar as stdlib_calendar
from collections.abc import Callable
from datetime import date

from babel.dates import get_day_names

from booking.models import BookingState
from booking.services.catalogue import Availability
from booking.services.queries import DayInfo
from dialogs.i18n import N_, Translator
from dialogs.replies import Button, Calendar, CalendarDay

STATE_LABELS = {
    "open": N_("ouvert"),
    "booked": N_("réservé"),
    "to_cancel": N_("à annuler"),
    "locked": N_("réservé, ne peut plus être annulé"),
    "in_basket": N_("dans le panier"),
    "full": N_("complet"),
    "waitlist": N_("liste d'attente"),
    "closed": N_("fermé"),
    "past_deadline": N_("délai dépassé"),
}

_AVAILABILITY_STATES = {
    Availability.OPEN: "open",
    Availability.FULL: "full",
    Availability.WAITLIST: "waitlist",
    Availability.NOT_OPEN_YET: "closed",
    Availability.PAST_DEADLINE: "past_deadline",
    Availability.CANCELLED: "closed",
}


def day_state(info: DayInfo) -> str:
    """What the parent sees for a day: their own booking first, then the session's state."""
    if info.booking is not None:
        if info.booking.state is BookingState.HELD:
            return "in_basket"
        if info.booking.state is BookingState.WAITLISTED:
            return "waitlist"
        return "booked"
    return _AVAILABILITY_STATES[info.availability]


def month_calendar(
    t: Translator,
    year: int,
    month: int,
    days: list[DayInfo],
    *,
    day_button: Callable[[DayInfo, str], str | None],
    previous: Button | None,
    following: Button | None,
    marked_for_cancel: set[int] = frozenset(),
    locked: set[int] = frozenset(),
) -> Calendar:
    """A grid of weeks (Monday first); `day_button` gives the payload of a tappable day.

    A booked day picked for cancellation is drawn "to_cancel"; one past its cancellation
    deadline is "locked" and cannot be tapped. The legend names only the states shown.
    """
    by_day = {info.day: info for info in days}
    names = get_day_names("abbreviated", locale=t.locale)
    weekdays = [names[index] for index in range(7)]
    weeks = []
    for week in stdlib_calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        row: list[CalendarDay | None] = []
        for day in week:
            if day.month != month:
                row.append(None)
                continue
            info = by_day.get(day)
            if info is None:
                row.append(CalendarDay(day, "closed", _label(t, day, "closed"), None))
                continue
            state = day_state(info)
            if state == "booked" and info.booking.id in locked:
                state = "locked"
            elif state == "booked" and info.booking.id in marked_for_cancel:
                state = "to_cancel"
            label = _label(t, day, state)
            row.append(CalendarDay(day, state, label, day_button(info, state)))
        weeks.append(row)
    shown = {cell.state for week in weeks for cell in week if cell is not None}
    legend = [(state, t._(label)) for state, label in STATE_LABELS.items() if state in shown]
    return Calendar(
        title=t.month(date(year, month, 1)),
        weekdays=weekdays,
        weeks=weeks,
        previous=previous,
        next=following,
        legend=legend,
    )


def _label(t: Translator, day: date, state: str) -> str:
    return f"{t.day(day)}{t.colon}{t._(STATE_LABELS[state])}"

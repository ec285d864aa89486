"""Back-office dashboard: fill rates, waitlists, late cancellations, no-shows, money, unpaid
links, as charts with the same figures in tables (the tables are what screen readers and
tests read)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from zoneinfo import ZoneInfo

from aiohttp import web

from booking.models import StaffRole, Structure
from booking.services.dashboard import (
    LATE_CANCELLATION_HOURS,
    Dashboard,
    clamp_period,
    dashboard,
    default_period,
)
from booking.services.staff_accounts import StaffContext
from bot.staff.web import page, render, translator
from bot.web.keys import CLOCK, DATABASE


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def figures(
    board: Dashboard, short_day: Callable[[date], str], month_name: Callable[[date], str]
) -> dict:
    """What dashboard.js draws: the tables' numbers, labelled."""
    return {
        "weeks": [short_day(week) for week in board.weeks],
        "activities": [
            {
                "name": activity.name,
                "fill": [_percent(activity.week(week).rate) for week in board.weeks],
                "waitlist": [activity.week(week).waitlisted for week in board.weeks],
            }
            for activity in board.activities
        ],
        "late": [board.totals[week].late_cancellations for week in board.weeks],
        "noshows": [board.totals[week].no_shows for week in board.weeks],
        "months": [month_name(row.month) for row in board.months],
        "paid": [row.paid_cents / 100 for row in board.months],
        "invoiced": [row.invoiced_cents / 100 for row in board.months],
    }


@page("GET", "/dashboard", role=StaffRole.MANAGER, name="dashboard")
async def show_dashboard(request: web.Request, staff: StaffContext) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[DATABASE].reading() as db:
        structure = await db.get(Structure, staff.structure_id)
        today = now.astimezone(ZoneInfo(structure.timezone)).date()
        first, last = default_period(today)
        wanted_from, wanted_to = _day(request.query.get("from")), _day(request.query.get("to"))
        wrong = any(
            request.query.get(name) and value is None
            for name, value in (("from", wanted_from), ("to", wanted_to))
        )
        start, end = clamp_period(wanted_from or first, wanted_to or last)
        board = await dashboard(db, staff.structure_id, start, end, now)
    t = translator(request)
    return render(
        request,
        "dashboard.html",
        {
            "board": board,
            "wrong_dates": wrong,
            "late_hours": LATE_CANCELLATION_HOURS,
            "figures": figures(board, t.short_day, t.month),
        },
    )

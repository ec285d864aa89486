"""Back-office pages: who comes today and tomorrow, session by session (printable, CSV)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from aiohttp import web

from booking.services.rosters import SessionRoster, day_rosters, session_roster
from booking.services.staff_accounts import StaffContext
from bot.staff.web import (
    chosen_day,
    csv_response,
    error_page,
    local_today,
    page,
    render,
    translator,
)
from bot.web.keys import DATABASE
from dialogs.i18n import Translator


def day_links(day: date, today: date) -> dict[str, date]:
    return {
        "today": today,
        "tomorrow": today + timedelta(days=1),
        "previous": day - timedelta(days=1),
        "next": day + timedelta(days=1),
    }


def _session_id(request: web.Request) -> int:
    return int(request.match_info["session_id"])


@page("GET", "/today", name="today")
async def today_page(request: web.Request, staff: StaffContext) -> web.Response:
    today = local_today(request)
    day = chosen_day(request, today)
    if day is None:
        return error_page(request, 400, translator(request)._("Date illisible."))
    async with request.app[DATABASE].reading() as db:
        rosters = await day_rosters(db, staff.structure_id, day)
    return render(
        request,
        "rosters.html",
        {"rosters": rosters, "shown": day, "links": day_links(day, today)},
    )


@page("GET", r"/roster/{session_id:\d+}", name="roster")
async def roster_page(request: web.Request, staff: StaffContext) -> web.Response:
    async with request.app[DATABASE].reading() as db:
        roster = await session_roster(db, staff.structure_id, _session_id(request))
    if roster is None:
        return error_page(request, 404, translator(request)._("Séance introuvable."))
    return render(request, "rosters_session.html", {"item": roster})


def csv_header(t: Translator) -> list[str]:
    return [
        t._("Date"),
        t._("Activité"),
        t._("Séance"),
        t._("Début"),
        t._("Fin"),
        t._("Nom"),
        t._("Prénom"),
        t._("Âge"),
        t._("Classe"),
        t._("Notes du dossier"),
        t._("Téléphones"),
        t._("Statut"),
    ]


def csv_rows(t: Translator, day: date, rosters: Iterable[SessionRoster]) -> Iterable[list[object]]:
    for item in rosters:
        for child in item.children:
            yield [
                day.isoformat(),
                item.activity_name,
                item.label,
                t.time(item.starts_at),
                t.time(item.ends_at),
                child.last_name,
                child.first_name,
                child.age,
                child.school_class,
                " ".join(child.notes.split()),
                " / ".join(child.phones),
                t._("Paiement en attente") if child.pending_payment else t._("Confirmé"),
            ]


@page("GET", "/today.csv", name="today_csv")
async def today_csv(request: web.Request, staff: StaffContext) -> web.Response:
    t = translator(request)
    day = chosen_day(request, local_today(request))
    if day is None:
        return error_page(request, 400, t._("Date illisible."))
    async with request.app[DATABASE].reading() as db:
        rosters = await day_rosters(db, staff.structure_id, day)
    return csv_response(
        f"presences-{day.isoformat()}.csv", csv_header(t), csv_rows(t, day, rosters.sessions)
    )


@page("GET", r"/roster/{session_id:\d+}.csv", name="roster_csv")
async def roster_csv(request: web.Request, staff: StaffContext) -> web.Response:
    t = translator(request)
    async with request.app[DATABASE].reading() as db:
        roster = await session_roster(db, staff.structure_id, _session_id(request))
    if roster is None:
        return error_page(request, 404, t._("Séance introuvable."))
    return csv_response(
        f"seance-{roster.session_id}-{roster.day.isoformat()}.csv",
        csv_header(t),
        csv_rows(t, roster.day, [roster]),
    )

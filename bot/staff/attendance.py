"""Back-office pages: attendance (le pointage) on a tablet, and absences without notice."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from booking.models import AttendanceStatus, StaffRole
from booking.services.attendance import (
    AttendanceRefusal,
    AttendanceRefused,
    SessionAttendance,
    absences_of,
    day_attendance,
    mark_all_present,
    mark_attendance,
    session_attendance,
)
from booking.services.staff_accounts import StaffContext
from bot.staff.rosters import day_links
from bot.staff.web import (
    FORM,
    chosen_day,
    chosen_month,
    csv_response,
    error_page,
    local_today,
    page,
    redirect,
    render,
    translator,
)
from bot.web.keys import CLOCK, DATABASE
from dialogs.i18n import Translator


def refusal_text(t: Translator, refused: AttendanceRefused) -> str:
    code = refused.code
    if code is AttendanceRefusal.UNKNOWN_BOOKING:
        return t._("Cette réservation n'est pas sur cette séance.")
    if code is AttendanceRefusal.NOT_CONFIRMED:
        return t._("Seule une réservation confirmée peut être pointée.")
    if code is AttendanceRefusal.SESSION_CANCELLED:
        return t._("Cette séance est annulée : il n'y a rien à pointer.")
    if code is AttendanceRefusal.TOO_EARLY:
        return t._(
            "Le pointage de cette séance ouvre le {moment}.",
            moment=t.moment(refused.params["opens"]),
        )
    return t._(
        "Le pointage de cette séance est clos depuis le {moment} : seul un responsable peut le corriger.",
        moment=t.moment(refused.params["until"]),
    )


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@page("GET", "/attendance", name="attendance")
async def attendance_day(request: web.Request, staff: StaffContext) -> web.Response:
    today = local_today(request)
    day = chosen_day(request, today)
    if day is None:
        return error_page(request, 400, translator(request)._("Date illisible."))
    async with request.app[DATABASE].reading() as db:
        sessions = await day_attendance(db, staff.structure_id, day)
    return render(
        request,
        "attendance.html",
        {"sessions": sessions, "shown": day, "links": day_links(day, today)},
    )


async def _session_page(
    request: web.Request, staff: StaffContext, message: str = "", status: int = 200
) -> web.Response:
    session_id = int(request.match_info["session_id"])
    async with request.app[DATABASE].reading() as db:
        found = await session_attendance(db, staff.structure_id, session_id)
    if found is None:
        return error_page(request, 404, translator(request)._("Séance introuvable."))
    now = request.app[CLOCK].now()
    return render(
        request,
        "attendance_session.html",
        {
            "sheet": found,
            "item": found.roster,
            "is_open": found.open_for(now, staff.role),
            "too_early": now < found.window.opens,
            "past": now >= found.window.closes,
            "statuses": AttendanceStatus,
            "message": message,
        },
        status=status,
    )


@page("GET", r"/attendance/{session_id:\d+}", name="attendance_session")
async def attendance_session(request: web.Request, staff: StaffContext) -> web.Response:
    return await _session_page(request, staff)


def _summary(sheet: SessionAttendance) -> dict[str, int]:
    counts = sheet.counts
    return {
        "present": counts[AttendanceStatus.PRESENT],
        "absent": counts[AttendanceStatus.ABSENT],
        "excused": counts[AttendanceStatus.EXCUSED],
        "unmarked": sheet.unmarked,
    }


@page("POST", r"/attendance/{session_id:\d+}", name="attendance_mark")
async def attendance_mark(request: web.Request, staff: StaffContext) -> web.Response:
    """One child's mark (booking_id + status), or `all=present` for every unmarked child."""
    t = translator(request)
    form = request[FORM]
    session_id = int(request.match_info["session_id"])
    now = request.app[CLOCK].now()
    booking_id = None
    try:
        async with request.app[DATABASE].writing() as db:
            if form.get("all") == "present":
                await mark_all_present(db, staff, session_id, now)
            else:
                try:
                    booking_id = int(str(form.get("booking_id", "")))
                    status = AttendanceStatus(str(form.get("status", "")))
                except ValueError:
                    return _bad_request(request, t._("Choisissez Présent, Absent ou Excusé."))
                await mark_attendance(db, staff, booking_id, status, now, session_id=session_id)
    except AttendanceRefused as refused:
        code = 404 if refused.code is AttendanceRefusal.UNKNOWN_BOOKING else 409
        if _wants_json(request):
            return web.json_response({"error": refusal_text(t, refused)}, status=code)
        if code == 404:
            return error_page(request, 404, refusal_text(t, refused))
        return await _session_page(request, staff, refusal_text(t, refused), status=code)
    if _wants_json(request):
        async with request.app[DATABASE].reading() as db:
            sheet = await session_attendance(db, staff.structure_id, session_id)
        assert sheet is not None
        return web.json_response(
            {
                "marks": {str(key): value.value for key, value in sheet.marks.items()},
                "counts": _summary(sheet),
            }
        )
    anchor = f"#child-{booking_id}" if booking_id is not None else ""
    return redirect(f"/staff/attendance/{session_id}{anchor}")


def _bad_request(request: web.Request, message: str) -> web.Response:
    if _wants_json(request):
        return web.json_response({"error": message}, status=400)
    return error_page(request, 400, message)


async def _absences(request: web.Request, staff: StaffContext):  # noqa: ANN202
    month = chosen_month(request, local_today(request))
    if month is None:
        return None, None
    async with request.app[DATABASE].reading() as db:
        return month, await absences_of(db, staff.structure_id, month.year, month.month)


@page("GET", "/attendance/absences", role=StaffRole.MANAGER, name="absences")
async def absences_page(request: web.Request, staff: StaffContext) -> web.Response:
    month, households = await _absences(request, staff)
    if month is None:
        return error_page(request, 400, translator(request)._("Mois illisible."))
    first = month
    previous = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return render(
        request,
        "attendance_absences.html",
        {
            "households": households,
            "first": first,
            "month_key": f"{first:%Y-%m}",
            "previous_key": f"{previous:%Y-%m}",
            "next_key": f"{following:%Y-%m}",
        },
    )


@page("GET", "/attendance/absences.csv", role=StaffRole.MANAGER, name="absences_csv")
async def absences_csv(request: web.Request, staff: StaffContext) -> web.Response:
    t = translator(request)
    month, households = await _absences(request, staff)
    if month is None:
        return error_page(request, 400, t._("Mois illisible."))
    rows = [
        [
            household.reference,
            household.name,
            household.count,
            absence.day.isoformat(),
            absence.last_name,
            absence.first_name,
            absence.activity_name,
            absence.session_label,
        ]
        for household in households
        for absence in household.absences
    ]
    header = [
        t._("Référence famille"),
        t._("Famille"),
        t._("Absences du mois"),
        t._("Date"),
        t._("Nom"),
        t._("Prénom"),
        t._("Activité"),
        t._("Séance"),
    ]
    return csv_response(f"absences-{month:%Y-%m}.csv", header, rows)

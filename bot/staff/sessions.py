"""Back-office pages: the structure's sessions (list, create, edit, capacity, cancel a session
or a whole day) and when booking opens (an activity's opening and its waves)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from booking.models import StaffRole
from booking.money import parse_euros, plain_euros
from booking.services import staff_sessions as service
from booking.services.staff_accounts import StaffContext
from booking.services.staff_sessions import SessionRefusal, SessionRefused
from bot.staff.web import FORM, error_page, page, redirect, render, translator
from bot.web.keys import CLOCK, DATABASE
from dialogs.i18n import Translator

MAX_DAYS = 92  # the list's longest period


class BadInput(ValueError):
    """A form field that does not parse (the page says which)."""


def parse_date(value: str | None, default: date | None = None) -> date:
    if not value:
        if default is None:
            raise BadInput("date")
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput("date") from None


def parse_time(value: str | None) -> time:
    try:
        return time.fromisoformat(value or "")
    except ValueError:
        raise BadInput("time") from None


def parse_int(value: str | None) -> int:
    if value is None or not value.strip().lstrip("-").isdigit() or len(value.strip()) > 6:
        raise BadInput("number")
    return int(value.strip())


def parse_cents(value: str | None) -> int:
    """ "12", "12,5", "12.50 €" → 1250; a price is never negative nor a million euros."""
    try:
        cents = parse_euros(value or "")
    except ValueError:
        raise BadInput("price") from None
    if not 0 <= cents < 100_000_000:
        raise BadInput("price")
    return cents


def parse_moment(value: str | None, tz: ZoneInfo) -> datetime | None:
    """A `datetime-local` field in the structure's time zone; empty is None."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput("moment") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)


def refusal_text(t: Translator, error: SessionRefused | BadInput) -> str:
    if isinstance(error, BadInput):
        return t._("Un champ est mal rempli : vérifiez les dates, heures, nombres et prix.")
    code, params = error.code, error.params
    if code is SessionRefusal.CAPACITY_BELOW_TAKEN:
        return t.n_(
            "{count} place est réservée : la capacité ne peut pas descendre en dessous.",
            "{count} places sont réservées : la capacité ne peut pas descendre en dessous.",
            params["taken"],
        )
    if code is SessionRefusal.PRICE_LOCKED:
        return t.n_(
            "Le prix ne change plus : {count} réservation est faite à ce prix.",
            "Le prix ne change plus : {count} réservations sont faites à ce prix.",
            params["bookings"],
        )
    messages = {
        SessionRefusal.NEGATIVE: t._("La capacité et le prix ne peuvent pas être négatifs."),
        SessionRefusal.ENDS_BEFORE_START: t._("La séance doit finir après son début."),
        SessionRefusal.CANCELLED: t._("Cette séance est annulée : elle ne change plus."),
        SessionRefusal.REASON_REQUIRED: t._("Indiquez le motif : les familles le liront."),
        SessionRefusal.GROUP_REQUIRED: t._("Indiquez le groupe de familles."),
    }
    return messages[code]


def _local(value: datetime, tz: ZoneInfo) -> datetime:
    return value.astimezone(tz)


def _count(request: web.Request) -> int:
    """The number a change reported (`?n=`), for the notice after its redirect."""
    value = request.query.get("n", "")
    return int(value) if value.isdigit() and len(value) < 7 else 0


# The list ---------------------------------------------------------------------------------


@page("GET", "/sessions", role=StaffRole.MANAGER, name="sessions")
async def sessions_list(request: web.Request, staff: StaffContext) -> web.Response:
    now = request.app[CLOCK].now()
    t = translator(request)
    async with request.app[DATABASE].reading() as db:
        tz = await service.structure_tz(db, staff.structure_id)
        today = now.astimezone(tz).date()
        try:
            start = parse_date(request.query.get("from"), today)
            end = parse_date(request.query.get("to"), start + timedelta(days=13))
            chosen = request.query.get("activity") or ""
            activity_id = parse_int(chosen) if chosen else None
        except BadInput as error:
            return error_page(request, 400, refusal_text(t, error))
        end = min(max(end, start), start + timedelta(days=MAX_DAYS))
        activities = await service.structure_activities(db, staff.structure_id)
        rows = await service.list_sessions(
            db, staff.structure_id, start=start, end=end, activity_id=activity_id
        )
    return render(
        request,
        "sessions.html",
        {
            "rows": rows,
            "activities": activities,
            "chosen": activity_id,
            "start": start,
            "end": end,
            "tz": tz,
            "local": _local,
        },
    )


# Creating ---------------------------------------------------------------------------------


async def _new_form(
    request: web.Request,
    staff: StaffContext,
    values: dict[str, Any],
    error: str = "",
    status: int = 200,
) -> web.Response:
    async with request.app[DATABASE].reading() as db:
        activities = await service.structure_activities(db, staff.structure_id)
    return render(
        request,
        "sessions_new.html",
        {"activities": activities, "values": values, "error": error},
        status=status,
    )


@page("GET", "/sessions/new", role=StaffRole.MANAGER, name="session_new")
async def session_new(request: web.Request, staff: StaffContext) -> web.Response:
    values = {
        "activity": request.query.get("activity", ""),
        "day": request.query.get("day", ""),
        "start": "",
        "end": "",
        "capacity": "",
        "price": "0,00",
        "place": "",
        "label": "",
    }
    return await _new_form(request, staff, values)


@page("POST", "/sessions/new", role=StaffRole.MANAGER, name="session_create")
async def session_create(request: web.Request, staff: StaffContext) -> web.Response:
    form = request[FORM]
    values = {
        key: str(form.get(key, ""))
        for key in ("activity", "day", "start", "end", "capacity", "price", "place", "label")
    }
    t = translator(request)
    try:
        async with request.app[DATABASE].writing() as db:
            session = await service.create_session(
                db,
                staff,
                activity_id=parse_int(values["activity"]),
                day=parse_date(values["day"]),
                start=parse_time(values["start"]),
                end=parse_time(values["end"]),
                capacity=parse_int(values["capacity"]),
                price_cents=parse_cents(values["price"]),
                place=values["place"],
                label=values["label"],
                now=request.app[CLOCK].now(),
            )
    except LookupError:
        return error_page(request, 404, t._("Activité introuvable."))
    except (SessionRefused, BadInput) as error:
        return await _new_form(request, staff, values, refusal_text(t, error), status=400)
    return redirect(f"/staff/sessions/{session.id}?done=created")


# One session ------------------------------------------------------------------------------


async def _detail(
    request: web.Request,
    staff: StaffContext,
    session_id: int,
    error: str = "",
    status: int = 200,
) -> web.Response:
    t = translator(request)
    async with request.app[DATABASE].reading() as db:
        try:
            row = await service.session_row(db, staff, session_id)
        except LookupError:
            return error_page(request, 404, t._("Séance introuvable."))
        tz = await service.structure_tz(db, staff.structure_id)
    return render(
        request,
        "sessions_detail.html",
        {
            "row": row,
            "session": row.session,
            "starts": _local(row.session.starts_at, tz),
            "ends": _local(row.session.ends_at, tz),
            "price": plain_euros(row.session.price_cents),
            "error": error,
            "done": request.query.get("done", ""),
            "count": _count(request),
        },
        status=status,
    )


def _session_id(request: web.Request) -> int:
    return int(request.match_info["session_id"])


@page("GET", r"/sessions/{session_id:\d{1,12}}", role=StaffRole.MANAGER, name="session")
async def session_detail(request: web.Request, staff: StaffContext) -> web.Response:
    return await _detail(request, staff, _session_id(request))


async def _change(request: web.Request, staff: StaffContext, change, done: str) -> web.Response:  # noqa: ANN001
    """Run one change of a session; its refusal shows the session's page again."""
    session_id = _session_id(request)
    t = translator(request)
    try:
        async with request.app[DATABASE].writing() as db:
            count = await change(db, session_id, request[FORM], request.app[CLOCK].now())
    except LookupError:
        return error_page(request, 404, t._("Séance introuvable."))
    except (SessionRefused, BadInput) as error:
        return await _detail(request, staff, session_id, refusal_text(t, error), status=409)
    suffix = f"&n={count}" if count is not None else ""
    return redirect(f"/staff/sessions/{session_id}?done={done}{suffix}")


@page("POST", r"/sessions/{session_id:\d{1,12}}/edit", role=StaffRole.MANAGER, name="session_edit")
async def session_edit(request: web.Request, staff: StaffContext) -> web.Response:
    async def change(db, session_id, form, now):  # noqa: ANN001, ANN202
        await service.edit_session(
            db,
            staff,
            session_id,
            start=parse_time(form.get("start")),
            end=parse_time(form.get("end")),
            place=str(form.get("place", "")),
            label=str(form.get("label", "")),
            price_cents=parse_cents(form.get("price")),
            now=now,
        )

    return await _change(request, staff, change, "edited")


@page(
    "POST",
    r"/sessions/{session_id:\d{1,12}}/capacity",
    role=StaffRole.MANAGER,
    name="session_capacity",
)
async def session_capacity(request: web.Request, staff: StaffContext) -> web.Response:
    async def change(db, session_id, form, now):  # noqa: ANN001, ANN202
        await service.set_capacity(db, staff, session_id, parse_int(form.get("capacity")), now=now)

    return await _change(request, staff, change, "capacity")


@page(
    "POST", r"/sessions/{session_id:\d{1,12}}/cancel", role=StaffRole.MANAGER, name="session_cancel"
)
async def session_cancel(request: web.Request, staff: StaffContext) -> web.Response:
    async def change(db, session_id, form, now):  # noqa: ANN001, ANN202
        done = await service.cancel_one_session(
            db, staff, session_id, reason=str(form.get("reason", "")), now=now
        )
        return len(done)

    return await _change(request, staff, change, "cancelled")


# A whole day ------------------------------------------------------------------------------


async def _day_page(
    request: web.Request,
    staff: StaffContext,
    day_text: str,
    activity_texts: list[str],
    *,
    reason: str = "",
    error: str = "",
    status: int = 200,
) -> web.Response:
    t = translator(request)
    try:
        day = parse_date(day_text) if day_text else None
        chosen = [parse_int(value) for value in activity_texts if value]
    except BadInput as problem:
        return error_page(request, 400, refusal_text(t, problem))
    async with request.app[DATABASE].reading() as db:
        activities = await service.structure_activities(db, staff.structure_id)
        if any(item not in {activity.id for activity in activities} for item in chosen):
            return error_page(request, 404, t._("Activité introuvable."))
        impact = await service.day_impact(db, staff.structure_id, day, chosen) if day else None
        tz = await service.structure_tz(db, staff.structure_id)
    return render(
        request,
        "sessions_day.html",
        {
            "activities": activities,
            "chosen": chosen,
            "chosen_day": day,
            "impact": impact,
            "reason": reason,
            "error": error,
            "tz": tz,
            "local": _local,
            "done": request.query.get("done", ""),
            "count": _count(request),
        },
        status=status,
    )


@page("GET", "/sessions/day", role=StaffRole.MANAGER, name="sessions_day")
async def sessions_day(request: web.Request, staff: StaffContext) -> web.Response:
    """The first step: choose a day (and activities), see what cancelling would touch."""
    return await _day_page(
        request, staff, request.query.get("day", ""), request.query.getall("activity", [])
    )


@page("POST", "/sessions/day", role=StaffRole.MANAGER, name="sessions_day_cancel")
async def sessions_day_cancel(request: web.Request, staff: StaffContext) -> web.Response:
    """The second step, after the count was shown: cancel every chosen session that day."""
    form = request[FORM]
    day_text = str(form.get("day", ""))
    activity_texts = [str(value) for value in form.getall("activity", [])]
    reason = str(form.get("reason", ""))
    t = translator(request)
    try:
        day = parse_date(day_text)
        chosen = [parse_int(value) for value in activity_texts if value]
        async with request.app[DATABASE].writing() as db:
            done = await service.cancel_day(
                db, staff, day, reason=reason, activity_ids=chosen, now=request.app[CLOCK].now()
            )
    except LookupError:
        return error_page(request, 404, t._("Activité introuvable."))
    except (SessionRefused, BadInput) as error:
        return await _day_page(
            request,
            staff,
            day_text,
            activity_texts,
            reason=reason,
            error=refusal_text(t, error),
            status=409,
        )
    return redirect(f"/staff/sessions/day?day={day.isoformat()}&done=cancelled&n={len(done)}")


# When booking opens -----------------------------------------------------------------------


async def _waves_page(
    request: web.Request,
    staff: StaffContext,
    activity_text: str,
    error: str = "",
    status: int = 200,
) -> web.Response:
    t = translator(request)
    async with request.app[DATABASE].reading() as db:
        activities = await service.structure_activities(db, staff.structure_id)
        activity = None
        if activity_text:
            try:
                activity = await service.staff_activity(db, staff, parse_int(activity_text))
            except (LookupError, BadInput):
                return error_page(request, 404, t._("Activité introuvable."))
        groups = await service.household_groups(db, staff.structure_id)
        tz = await service.structure_tz(db, staff.structure_id)
    return render(
        request,
        "sessions_waves.html",
        {
            "activities": activities,
            "activity": activity,
            "opens_at": _local(activity.opens_at, tz) if activity and activity.opens_at else None,
            "opens_field": activity.opens_at.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
            if activity and activity.opens_at
            else "",
            "waves": [
                (wave.household_group, _local(wave.opens_at, tz))
                for wave in (activity.waves if activity else [])
            ],
            "groups": groups,
            "error": error,
            "done": request.query.get("done", ""),
        },
        status=status,
    )


@page("GET", "/sessions/waves", role=StaffRole.MANAGER, name="sessions_waves")
async def sessions_waves(request: web.Request, staff: StaffContext) -> web.Response:
    return await _waves_page(request, staff, request.query.get("activity", ""))


@page("POST", "/sessions/waves", role=StaffRole.MANAGER, name="sessions_waves_set")
async def sessions_waves_set(request: web.Request, staff: StaffContext) -> web.Response:
    """Set the activity's opening (`what=opening`) or a group's wave (`what=wave`; an empty
    moment removes the wave)."""
    form = request[FORM]
    activity_text = str(form.get("activity", ""))
    t = translator(request)
    try:
        now = request.app[CLOCK].now()
        async with request.app[DATABASE].writing() as db:
            tz = await service.structure_tz(db, staff.structure_id)
            activity_id = parse_int(activity_text)
            opens_at = parse_moment(str(form.get("opens_at", "")), tz)
            if form.get("what") == "wave":
                group = str(form.get("group", ""))
                await service.set_wave(db, staff, activity_id, group, opens_at, now=now)
            else:
                await service.set_opening(db, staff, activity_id, opens_at, now=now)
    except LookupError:
        return error_page(request, 404, t._("Activité introuvable."))
    except (SessionRefused, BadInput) as error:
        return await _waves_page(request, staff, activity_text, refusal_text(t, error), status=409)
    return redirect(f"/staff/sessions/waves?activity={activity_id}&done=saved")

"""Back-office pages: writing to the families of a session, an activity or a day, with a
preview of how many families will read it, and the messages sent with their delivery counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from booking.models import StaffRole
from booking.services import staff_messages as service
from booking.services.staff_accounts import StaffContext
from booking.services.staff_messages import MessageRefusal, MessageRefused, Scope
from booking.services.staff_sessions import list_sessions, structure_activities, structure_tz
from bot.staff.web import FORM, error_page, page, redirect, render, translator
from bot.web.keys import CLOCK, DATABASE
from dialogs.i18n import Translator

UPCOMING_DAYS = 31  # the sessions offered in the form


def refusal_text(t: Translator, error: MessageRefused) -> str:
    if error.code is MessageRefusal.TOO_LONG:
        return t._("Message trop long : {limit} caractères au plus.", limit=error.params["limit"])
    return {
        MessageRefusal.TEXT_REQUIRED: t._("Écrivez le message."),
        MessageRefusal.BAD_TARGET: t._("Choisissez une séance, une activité ou un jour."),
        MessageRefusal.NOBODY: t._("Aucune famille n'a de réservation ici : rien à envoyer."),
    }[error.code]


def _values(source: Any) -> dict[str, str]:
    """The form's fields, from the query (a link from a session) or the posted form."""
    scope = str(source.get("scope", "session"))
    values = {
        "scope": scope if scope in {item.value for item in Scope} else Scope.SESSION.value,
        "session": str(source.get("session", "")),
        "activity": str(source.get("activity", "")),
        "day": str(source.get("day", "")),
        "subject": str(source.get("subject", "")),
        "text": str(source.get("text", "")),
        "urgent": "1" if source.get("urgent") else "",
    }
    if source.get("target"):  # ?scope=session&target=12
        values[values["scope"]] = str(source.get("target"))
    return values


async def _page(
    request: web.Request,
    staff: StaffContext,
    values: dict[str, str],
    *,
    preview: service.Target | None = None,
    households: int = 0,
    error: str = "",
    status: int = 200,
) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[DATABASE].reading() as db:
        tz = await structure_tz(db, staff.structure_id)
        today = now.astimezone(tz).date()
        sessions = [
            row.session
            for row in await list_sessions(
                db, staff.structure_id, start=today, end=today + timedelta(days=UPCOMING_DAYS)
            )
            if row.session.cancelled_at is None
        ]
        activities = await structure_activities(db, staff.structure_id)
        sent = await service.sent_messages(db, staff.structure_id)
        labels = await service.target_labels(db, staff.structure_id, [d.message for d in sent])
    return render(
        request,
        "messages.html",
        {
            "values": values,
            "sessions": sessions,
            "activities": activities,
            "sent": sent,
            "labels": labels,
            "preview": preview,
            "households": households,
            "error": error,
            "just_sent": request.query.get("sent", ""),
            "tz": tz,
        },
        status=status,
    )


@page("GET", "/messages", role=StaffRole.AGENT, name="messages")
async def messages(request: web.Request, staff: StaffContext) -> web.Response:
    return await _page(request, staff, _values(request.query))


@page("POST", "/messages", role=StaffRole.AGENT, name="messages_send")
async def messages_send(request: web.Request, staff: StaffContext) -> web.Response:
    """`action=preview` counts the families; `action=send` (offered after it) sends."""
    form = request[FORM]
    values = _values(form)
    t = translator(request)
    now = request.app[CLOCK].now()
    key = values[values["scope"]]
    try:
        if form.get("action") == "send":
            async with request.app[DATABASE].writing() as db:
                message = await service.send_message(
                    db,
                    staff,
                    scope=values["scope"],
                    key=key,
                    subject=values["subject"],
                    text=values["text"],
                    urgent=bool(values["urgent"]),
                    now=now,
                )
            return redirect(f"/staff/messages?sent={message.id}")
        async with request.app[DATABASE].reading() as db:
            target = await service.resolve_target(db, staff.structure_id, values["scope"], key)
            households = await service.recipients(db, staff.structure_id, target, now)
        return await _page(request, staff, values, preview=target, households=len(households))
    except LookupError:
        return error_page(request, 404, t._("Séance ou activité introuvable."))
    except MessageRefused as error:
        return await _page(request, staff, values, error=refusal_text(t, error), status=409)

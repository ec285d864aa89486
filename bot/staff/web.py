"""What every back-office page shares: the staff session cookie, role checks, CSRF on every
form, the language, and rendering a template.

A page is a handler `async def (request, staff) -> web.Response` registered with `@page`;
the guard runs first: no session (or an idle one) goes to the login page, a role too low gets
403, and a POST whose form lacks the session's CSRF token gets 403 before the handler runs.
The parsed form is `request[FORM]`.
"""

from __future__ import annotations

import csv
import hmac
import io
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from booking.models import StaffRole
from booking.refusals import Refused
from booking.services.staff_accounts import (
    StaffContext,
    authenticate_staff,
    end_staff_session,
    open_staff_session,
    staff_session,
    touch_staff_session,
)
from bot.web.keys import CLOCK, DATABASE, SETTINGS
from bot.web.security import client_address
from dialogs.explain import explain
from dialogs.i18n import Translator

STAFF_COOKIE = "ribambelle_staff"
LOGIN_CSRF_COOKIE = "ribambelle_staff_login"
LANGUAGE_COOKIE = "ribambelle_staff_lang"
PREFIX = "/staff"
MAX_FORM = 2 * 1024 * 1024  # a CSV of households
STAFF: web.RequestKey = web.RequestKey("staff", StaffContext)  # type: ignore[type-arg]
FORM: web.RequestKey = web.RequestKey("staff_form", MultiDictProxy)  # type: ignore[type-arg]
CSRF: web.RequestKey = web.RequestKey("staff_csrf", str)  # type: ignore[type-arg]
ZONE: web.RequestKey = web.RequestKey("staff_zone", ZoneInfo)  # type: ignore[type-arg]

Handler = Callable[[web.Request, StaffContext], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    handler: Handler
    role: StaffRole
    name: str


PAGES: list[Page] = []


def page(method: str, path: str, *, role: StaffRole = StaffRole.AGENT, name: str = "") -> Callable:
    """Register a back-office page at PREFIX + path for staff of at least `role`."""

    def register(handler: Handler) -> Handler:
        PAGES.append(Page(method, PREFIX + path, handler, role, name or handler.__name__))
        return handler

    return register


def translator(request: web.Request) -> Translator:
    """The staff's language: `?lang=` (kept in a cookie), else the browser's, else French."""
    chosen = request.query.get("lang") or request.cookies.get(LANGUAGE_COOKIE) or ""
    if chosen not in ("fr", "en"):
        chosen = "en" if request.headers.get("Accept-Language", "").startswith("en") else "fr"
    return Translator(chosen)


def _secure(request: web.Request) -> bool:
    return request.app[SETTINGS].public_url.startswith("https://")


def _cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="Strict", secure=_secure(request), path=PREFIX
    )


def _same_token(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


async def read_form(request: web.Request) -> MultiDictProxy:
    if request.content_length is not None and request.content_length > MAX_FORM:
        raise web.HTTPRequestEntityTooLarge(MAX_FORM, request.content_length)
    return await request.post()


def _formatters(t: Translator, zone: ZoneInfo | None) -> dict[str, Any]:
    def local(value: datetime) -> datetime:
        # The database hands instants back in UTC: the staff read them on their town's clock.
        return value.astimezone(zone) if zone is not None and value.tzinfo is not None else value

    return {
        "t": t,
        "_": t._,
        "n_": t.n_,
        "money": t.money,
        "day": lambda value: t.day(value) if isinstance(value, date) else "",
        "short_day": lambda value: t.short_day(value) if isinstance(value, date) else "",
        "month_name": lambda value: t.month(value) if isinstance(value, date) else "",
        "time": lambda value: t.time(local(value)) if isinstance(value, datetime) else "",
        "moment": lambda value: t.moment(local(value)) if isinstance(value, datetime) else "",
    }


def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    """A page from bot/staff/templates/ with what every page needs: the staff member, the
    CSRF token for forms, gettext and Babel's formatting in the staff's language."""
    t = translator(request)
    values = {
        "staff": request.get(STAFF),
        "csrf_token": request.get(CSRF, ""),
        "lang": t.locale,
        "path": request.path,
        "roles": StaffRole,
        **_formatters(t, request.get(ZONE)),
        **(context or {}),
    }
    response = aiohttp_jinja2.render_template(template, request, values, status=status)
    if "lang" in request.query and request.query["lang"] in ("fr", "en"):
        _cookie(request, response, LANGUAGE_COOKIE, request.query["lang"])
    return response


#: What a spreadsheet would run as a formula (CSV injection): such cells get a quote first.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")  # "-3,35": a credit note's total, not a formula


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def csv_response(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A CSV French Excel opens as is: UTF-8 with a BOM, `;` between cells, no cell read as
    a formula."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return web.Response(
        body=out.getvalue().encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **(headers or {})},
    )


def local_today(request: web.Request) -> date:
    """Today on the staff's structure's clock (its time zone, read by the guard)."""
    return request.app[CLOCK].now().astimezone(request[ZONE]).date()


def chosen_day(request: web.Request, today: date) -> date | None:
    """`?day=YYYY-MM-DD`, today without it, None when unreadable."""
    given = request.query.get("day", "").strip()
    if not given:
        return today
    try:
        return date.fromisoformat(given)
    except ValueError:
        return None


def chosen_month(request: web.Request, default: date) -> date | None:
    """`?month=YYYY-MM` as its first day, `default`'s month without it, None when unreadable."""
    given = request.query.get("month", "").strip()
    if not given:
        return default.replace(day=1)
    found = _MONTH.match(given)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        return None
    return date(int(found.group(1)), int(found.group(2)), 1)


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", {"message": message}, status=status)


def redirect(location: str) -> web.Response:
    """After a POST: 303 to the page showing the result (a reload does not post again)."""
    return web.Response(status=303, headers={"Location": location})


def guard(item: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        now = request.app[CLOCK].now()
        idle = timedelta(minutes=request.app[SETTINGS].staff_idle_minutes)
        async with request.app[DATABASE].reading() as db:
            found = await staff_session(db, request.cookies.get(STAFF_COOKIE), now, idle)
        if found is None:
            if request.method == "GET":
                return redirect(f"{PREFIX}/login?next={quote(request.path_qs)}")
            return redirect(f"{PREFIX}/login")
        staff, session_id, csrf, last_seen = found
        request[STAFF] = staff
        request[ZONE] = ZoneInfo(staff.timezone)
        request[CSRF] = csrf
        if not staff.may(item.role):
            t = translator(request)
            return error_page(request, 403, t._("Cette page est réservée à un autre rôle."))
        if request.method == "POST":
            form = await read_form(request)
            if not _same_token(form.get("csrf"), csrf):
                t = translator(request)
                return error_page(
                    request, 403, t._("Formulaire expiré : rechargez la page et recommencez.")
                )
            request[FORM] = form
        if now - last_seen > timedelta(minutes=1):  # spare a write on every page
            async with request.app[DATABASE].writing() as db:
                await touch_staff_session(db, session_id, now)
        return await item.handler(request, staff)

    return handle


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a back-office path only (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX + "/"


async def login_form(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    request[CSRF] = token
    response = render(
        request,
        "login.html",
        {"message": message, "next": safe_next(request.query.get("next"))},
        status=status,
    )
    _cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


async def get_login(request: web.Request) -> web.Response:
    return await login_form(request)


async def post_login(request: web.Request) -> web.Response:
    form = await read_form(request)
    t = translator(request)
    if not _same_token(form.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE) or "-"):
        return await login_form(request, t._("Formulaire expiré : recommencez."), status=403)
    login = str(form.get("login", ""))[:64]
    password = str(form.get("password", ""))[:256]
    now = request.app[CLOCK].now()
    client = client_address(request, request.app[SETTINGS].trusted_proxies)
    refused = None
    async with request.app[DATABASE].writing() as db:
        try:
            member = await authenticate_staff(db, login, password, now, client=client)
            token = await open_staff_session(db, member, now)
        except Refused as error:
            refused = error  # the failure's count is committed with this transaction
    if refused is not None:
        return await login_form(request, explain(t, refused), status=401)
    response = redirect(safe_next(str(form.get("next", ""))))
    _cookie(request, response, STAFF_COOKIE, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


@page("POST", "/logout")
async def logout(request: web.Request, staff: StaffContext) -> web.Response:
    async with request.app[DATABASE].writing() as db:
        await end_staff_session(db, request.cookies.get(STAFF_COOKIE), request.app[CLOCK].now())
    response = redirect(f"{PREFIX}/login")
    response.del_cookie(STAFF_COOKIE, path=PREFIX)
    return response

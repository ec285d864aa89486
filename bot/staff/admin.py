"""Back-office admin pages: staff accounts, catalogue upload, the structure's settings, and the
audit of staff changes. Admins only; every change is audited by booking.services.staff_admin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from booking.catalogue_file import CatalogueError
from booking.models import StaffRole, Structure
from booking.services.staff_accounts import StaffContext
from booking.services.staff_admin import (
    SETTING_RANGES,
    AdminRefusal,
    AdminRefused,
    change_role,
    create_staff,
    disable_staff,
    enable_staff,
    import_catalogue,
    latest_audit,
    read_catalogue_upload,
    settings_of,
    staff_of,
    update_settings,
)
from bot.staff.web import FORM, PREFIX, error_page, page, redirect, render, translator
from bot.web.keys import CLOCK, DATABASE
from dialogs.i18n import Translator

ADMIN = StaffRole.ADMIN


def refusal_text(t: Translator, error: AdminRefused) -> str:
    """An admin refusal in the staff's language."""
    params = error.params
    texts = {
        AdminRefusal.UNKNOWN_STAFF: lambda: t._("Ce compte n'existe pas."),
        AdminRefusal.LOGIN_TAKEN: lambda: t._(
            "L'identifiant {login} est déjà pris.", login=params.get("login", "")
        ),
        AdminRefusal.BAD_LOGIN: lambda: t._(
            "Identifiant invalide : 1 à 64 caractères, sans espace."
        ),
        AdminRefusal.WEAK_PASSWORD: lambda: t._(
            "Mot de passe trop faible : au moins {min_length} caractères, avec des lettres "
            "et des chiffres.",
            min_length=params.get("min_length", ""),
        ),
        AdminRefusal.NOT_YOURSELF: lambda: t._(
            "Vous ne pouvez pas désactiver votre propre compte ni changer votre propre rôle."
        ),
        AdminRefusal.OTHER_STRUCTURE: lambda: t._(
            "Ce catalogue est celui de la structure « {slug} », pas de la vôtre : rien "
            "n'a été importé.",
            slug=params.get("slug", ""),
        ),
        AdminRefusal.OUT_OF_RANGE: lambda: t._(
            "{setting} : une valeur entière de {low} à {high}.",
            setting=setting_label(t, params.get("setting", "")),
            low=params.get("low", ""),
            high=params.get("high", ""),
        ),
        AdminRefusal.BAD_INVOICE_BASIS: lambda: t._(
            "Base de facturation : réservations ou présences."
        ),
    }
    return texts[error.code]()


def setting_label(t: Translator, name: str) -> str:
    return {
        "attendance_until_hour": t._("Pointage modifiable jusqu'à (heure du lendemain)"),
        "digest_hour": t._("Heure du compte rendu quotidien"),
        "reminder_hour": t._("Heure des rappels aux familles"),
        "hold_minutes": t._("Durée de réservation du panier (minutes)"),
        "invoice_basis": t._("Base de facturation"),
    }.get(name, name)


def _id(request: web.Request) -> int | None:
    text = request.match_info.get("id", "")
    return int(text) if text.isdigit() and len(text) < 12 else None


@page("GET", "/admin", role=ADMIN, name="admin")
async def admin_home(request: web.Request, staff: StaffContext) -> web.Response:
    raise web.HTTPFound(PREFIX + "/admin/staff")


# Staff accounts ---------------------------------------------------------------------------


async def _staff_page(
    request: web.Request, staff: StaffContext, status: int = 200, **context: Any
) -> web.Response:
    async with request.app[DATABASE].reading() as db:
        members = await staff_of(db, staff.structure_id)
    done = request.query.get("done", "")
    return render(
        request,
        "admin_staff.html",
        {
            "members": members,
            "done": done,
            "created": None,
            "password": "",
            "error": "",
            "form": {},
            **context,
        },
        status=status,
    )


@page("GET", "/admin/staff", role=ADMIN, name="admin_staff")
async def show_staff(request: web.Request, staff: StaffContext) -> web.Response:
    return await _staff_page(request, staff)


@page("POST", "/admin/staff", role=ADMIN, name="admin_staff_add")
async def add_staff_member(request: web.Request, staff: StaffContext) -> web.Response:
    form = request[FORM]
    values = {name: str(form.get(name, ""))[:256] for name in ("login", "name", "email")}
    try:
        role = StaffRole(str(form.get("role", "")))
    except ValueError:
        return error_page(request, 400, translator(request)._("Rôle inconnu."))
    choose = form.get("password_choice") == "set"
    try:
        async with request.app[DATABASE].writing() as db:
            member, password = await create_staff(
                db,
                staff,
                login=values["login"],
                role=role,
                now=request.app[CLOCK].now(),
                name=values["name"],
                email=values["email"],
                password=str(form.get("password", ""))[:256] if choose else "",
            )
    except AdminRefused as error:
        return await _staff_page(
            request,
            staff,
            status=400,
            error=refusal_text(translator(request), error),
            form={**values, "role": role.value},
        )
    # Shown once, on this answer only: the generated password is stored nowhere in clear.
    return await _staff_page(
        request, staff, created=member.login, password="" if choose else password
    )


async def _change(
    request: web.Request,
    staff: StaffContext,
    action: Callable[[AsyncSession, int, datetime], Awaitable[object]],
) -> web.Response:
    staff_id = _id(request)
    t = translator(request)
    if staff_id is None:
        return error_page(request, 404, t._("Ce compte n'existe pas."))
    try:
        async with request.app[DATABASE].writing() as db:
            await action(db, staff_id, request.app[CLOCK].now())
    except AdminRefused as error:
        status = 404 if error.code is AdminRefusal.UNKNOWN_STAFF else 400
        return error_page(request, status, refusal_text(t, error))
    return redirect(PREFIX + "/admin/staff?done=1")


@page("POST", "/admin/staff/{id}/role", role=ADMIN, name="admin_staff_role")
async def change_staff_role(request: web.Request, staff: StaffContext) -> web.Response:
    try:
        role = StaffRole(str(request[FORM].get("role", "")))
    except ValueError:
        return error_page(request, 400, translator(request)._("Rôle inconnu."))
    return await _change(
        request, staff, lambda db, staff_id, now: change_role(db, staff, staff_id, role, now)
    )


@page("POST", "/admin/staff/{id}/disable", role=ADMIN, name="admin_staff_disable")
async def disable_staff_member(request: web.Request, staff: StaffContext) -> web.Response:
    return await _change(
        request, staff, lambda db, staff_id, now: disable_staff(db, staff, staff_id, now)
    )


@page("POST", "/admin/staff/{id}/enable", role=ADMIN, name="admin_staff_enable")
async def enable_staff_member(request: web.Request, staff: StaffContext) -> web.Response:
    return await _change(
        request, staff, lambda db, staff_id, now: enable_staff(db, staff, staff_id, now)
    )


# Catalogue --------------------------------------------------------------------------------


@page("GET", "/admin/catalogue", role=ADMIN, name="admin_catalogue")
async def show_catalogue(request: web.Request, staff: StaffContext) -> web.Response:
    return render(request, "admin_catalogue.html", {"errors": [], "report": None})


@page("POST", "/admin/catalogue", role=ADMIN, name="admin_catalogue_import")
async def upload_catalogue(request: web.Request, staff: StaffContext) -> web.Response:
    t = translator(request)
    upload = request[FORM].get("file")
    if upload is None or not hasattr(upload, "file"):
        errors = [t._("Choisissez un fichier YAML de catalogue.")]
        return render(request, "admin_catalogue.html", {"errors": errors, "report": None}, 400)
    content = upload.file.read()
    try:
        spec = await read_catalogue_upload(content, upload.filename or "catalogue.yaml")
        async with request.app[DATABASE].writing() as db:
            report = await import_catalogue(db, staff, spec, request.app[CLOCK].now())
    except CatalogueError as error:
        return render(
            request, "admin_catalogue.html", {"errors": error.errors, "report": None}, 400
        )
    except AdminRefused as error:
        errors = [refusal_text(t, error)]
        return render(request, "admin_catalogue.html", {"errors": errors, "report": None}, 400)
    return render(request, "admin_catalogue.html", {"errors": [], "report": report})


# Settings ---------------------------------------------------------------------------------


async def _settings_page(
    request: web.Request, staff: StaffContext, status: int = 200, **context: Any
) -> web.Response:
    async with request.app[DATABASE].reading() as db:
        structure = await db.get(Structure, staff.structure_id)
        values = settings_of(structure)
    t = translator(request)
    return render(
        request,
        "admin_settings.html",
        {
            "structure_name": structure.name,
            "values": {**values, **context.pop("values", {})},
            "ranges": SETTING_RANGES,
            "labels": {name: setting_label(t, name) for name in (*SETTING_RANGES, "invoice_basis")},
            "saved": request.query.get("saved") == "1",
            "error": "",
            **context,
        },
        status=status,
    )


@page("GET", "/admin/settings", role=ADMIN, name="admin_settings")
async def show_settings(request: web.Request, staff: StaffContext) -> web.Response:
    return await _settings_page(request, staff)


@page("POST", "/admin/settings", role=ADMIN, name="admin_settings_save")
async def save_settings(request: web.Request, staff: StaffContext) -> web.Response:
    form = request[FORM]
    values = {name: str(form.get(name, ""))[:32] for name in (*SETTING_RANGES, "invoice_basis")}
    try:
        async with request.app[DATABASE].writing() as db:
            await update_settings(db, staff, values, request.app[CLOCK].now())
    except AdminRefused as error:
        return await _settings_page(
            request,
            staff,
            status=400,
            error=refusal_text(translator(request), error),
            values=values,
        )
    return redirect(PREFIX + "/admin/settings?saved=1")


# Audit ------------------------------------------------------------------------------------


@page("GET", "/admin/audit", role=ADMIN, name="admin_audit")
async def show_audit(request: web.Request, staff: StaffContext) -> web.Response:
    async with request.app[DATABASE].reading() as db:
        lines = await latest_audit(db, staff.structure_id)
    return render(request, "admin_audit.html", {"lines": lines})

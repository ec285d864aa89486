"""Dossiers and enrolment requests to decide: approve, or refuse with a reason the parent reads;
a dossier's notes (allergies, PAI…) and missing items."""

from __future__ import annotations

from aiohttp import web

from booking.models import StaffRole
from booking.services.staff_accounts import StaffContext
from booking.services.staff_dossiers import (
    DecisionError,
    approve_dossier,
    decide_enrolment,
    dossier_item,
    dossiers_to_validate,
    enrolments_to_decide,
    read_items,
    refuse_dossier,
    update_dossier,
)
from bot.staff.web import FORM, error_page, page, redirect, render, translator
from bot.web.keys import CLOCK, DATABASE
from dialogs.i18n import Translator

QUEUE = "/staff/dossiers"


def _problem(t: Translator, error: DecisionError) -> str:
    if error.field == "reason":
        if error.code == "required":
            return t._("Écrivez le motif du refus : la famille le lira dans le chat.")
        return t._("Le motif est trop long (500 caractères au plus).")
    if error.field == "notes":
        return t._("Les remarques sont trop longues (4 000 caractères au plus).")
    return t._("Trop de pièces manquantes, ou une pièce trop longue (100 caractères au plus).")


def _not_found(request: web.Request) -> web.Response:
    return error_page(request, 404, translator(request)._("Ce dossier n'existe pas."))


async def _queue(
    request: web.Request, staff: StaffContext, error: str = "", status: int = 200
) -> web.Response:
    async with request.app[DATABASE].reading() as db:
        dossiers = await dossiers_to_validate(db, staff.structure_id)
        enrolments = await enrolments_to_decide(db, staff.structure_id)
    return render(
        request,
        "dossiers.html",
        {
            "dossiers": dossiers,
            "enrolments": enrolments,
            "error": error,
            "done": request.query.get("done", ""),
            "reason": str(request[FORM].get("reason", "")) if error else "",
            "refused": request.path if error else "",
        },
        status=status,
    )


@page("GET", "/dossiers", role=StaffRole.MANAGER, name="dossiers")
async def dossiers(request: web.Request, staff: StaffContext) -> web.Response:
    return await _queue(request, staff)


@page("POST", r"/dossiers/{id:\d+}/approve", role=StaffRole.MANAGER, name="dossier_approve")
async def approve(request: web.Request, staff: StaffContext) -> web.Response:
    async with request.app[DATABASE].writing() as db:
        done = await approve_dossier(
            db, staff, int(request.match_info["id"]), request.app[CLOCK].now()
        )
    if done is None:
        return _not_found(request)
    return redirect(f"{QUEUE}?done=dossier_approved")


@page("POST", r"/dossiers/{id:\d+}/refuse", role=StaffRole.MANAGER, name="dossier_refuse")
async def refuse(request: web.Request, staff: StaffContext) -> web.Response:
    reason = str(request[FORM].get("reason", ""))
    try:
        async with request.app[DATABASE].writing() as db:
            done = await refuse_dossier(
                db, staff, int(request.match_info["id"]), reason, request.app[CLOCK].now()
            )
    except DecisionError as error:
        return await _queue(request, staff, _problem(translator(request), error), status=400)
    if done is None:
        return _not_found(request)
    return redirect(f"{QUEUE}?done=dossier_refused")


@page("GET", r"/dossiers/{id:\d+}", role=StaffRole.MANAGER, name="dossier")
async def dossier(request: web.Request, staff: StaffContext) -> web.Response:
    async with request.app[DATABASE].reading() as db:
        item = await dossier_item(db, staff.structure_id, int(request.match_info["id"]))
    if item is None:
        return _not_found(request)
    return render(
        request,
        "dossiers_edit.html",
        {"item": item, "error": "", "saved": request.query.get("done") == "saved"},
    )


@page("POST", r"/dossiers/{id:\d+}", role=StaffRole.MANAGER, name="dossier_save")
async def save(request: web.Request, staff: StaffContext) -> web.Response:
    form = request[FORM]
    dossier_id = int(request.match_info["id"])
    try:
        items = read_items(str(form.get("missing_items", "")))
        async with request.app[DATABASE].writing() as db:
            done = await update_dossier(
                db,
                staff,
                dossier_id,
                notes=str(form.get("notes", "")),
                missing_items=items,
                now=request.app[CLOCK].now(),
            )
    except DecisionError as error:
        async with request.app[DATABASE].reading() as db:
            item = await dossier_item(db, staff.structure_id, dossier_id)
        if item is None:
            return _not_found(request)
        return render(
            request,
            "dossiers_edit.html",
            {"item": item, "error": _problem(translator(request), error), "saved": False},
            status=400,
        )
    if done is None:
        return _not_found(request)
    return redirect(f"/staff/dossiers/{dossier_id}?done=saved")


@page(
    "POST", r"/enrolments/{id:\d+}/{verdict:approve|refuse}", role=StaffRole.MANAGER, name="enrol"
)
async def enrolment(request: web.Request, staff: StaffContext) -> web.Response:
    approved = request.match_info["verdict"] == "approve"
    try:
        async with request.app[DATABASE].writing() as db:
            done = await decide_enrolment(
                db,
                staff,
                int(request.match_info["id"]),
                approved=approved,
                reason=str(request[FORM].get("reason", "")),
                now=request.app[CLOCK].now(),
            )
    except DecisionError as error:
        return await _queue(request, staff, _problem(translator(request), error), status=400)
    if done is None:
        return error_page(request, 404, translator(request)._("Cette demande n'existe pas."))
    return redirect(f"{QUEUE}?done=enrolment_{'approved' if approved else 'refused'}")

"""Households: search, one household's account, creation by form or CSV import, the login
letter (a first password, printed) and unlocking a waiting login."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from booking.models import StaffRole, Structure
from booking.passwords import hash_password, off_loop
from booking.services.staff_accounts import StaffContext
from booking.services.staff_households import (
    CSV_COLUMNS,
    GROUPS,
    FieldError,
    HouseholdRejected,
    NewChild,
    NewGuardian,
    NewHousehold,
    create_households,
    first_password,
    household_account,
    household_of,
    import_households,
    search_households,
    set_first_password,
    unlock_login,
)
from bot.staff.web import FORM, error_page, page, redirect, render, translator
from bot.web.keys import CLOCK, DATABASE, SETTINGS
from dialogs.i18n import N_, Translator

GUARDIAN_SLOTS = 2
CHILD_SLOTS = 4
MAX_IMPORT = 2 * 1024 * 1024

FIELD_NAMES = {
    "reference": N_("référence"),
    "household_name": N_("nom du foyer"),
    "group": N_("groupe"),
    "quotient": N_("quotient familial"),
    "emails": N_("e-mails du foyer"),
    "language": N_("langue"),
    "guardian_first_name": N_("prénom du responsable"),
    "guardian_last_name": N_("nom du responsable"),
    "login": N_("identifiant"),
    "email": N_("e-mail du responsable"),
    "phone": N_("téléphone"),
    "child_first_name": N_("prénom de l'enfant"),
    "child_last_name": N_("nom de l'enfant"),
    "birth_date": N_("date de naissance"),
    "class": N_("classe"),
    "missing_items": N_("pièces manquantes"),
}
PROBLEMS = {
    "required": N_("obligatoire"),
    "taken": N_("déjà utilisé par une autre famille"),
    "duplicate": N_("en double dans ce que vous envoyez"),
    "invalid": N_("valeur non valable"),
    "too_long": N_("trop long"),
    "unknown_column": N_("colonne inconnue"),
    "missing_column": N_("colonne manquante"),
}
GROUP_NAMES = {"resident": N_("résident"), "non_resident": N_("non résident")}
#: The words of states and kinds on a household's page (codes stay shown if unknown).
WORDS = {
    "held": N_("dans un panier"),
    "pending_payment": N_("en attente de paiement"),
    "confirmed": N_("confirmée"),
    "waitlisted": N_("en liste d'attente"),
    "cancelled": N_("annulée"),
    "expired": N_("non confirmée à temps"),
    "created": N_("lien envoyé"),
    "paid": N_("payé"),
    "refused": N_("refusé"),
    "abandoned": N_("abandonné"),
    "refunded": N_("remboursé"),
    "basket": N_("réservations"),
    "top_up": N_("rechargement"),
    "debt": N_("dette"),
    "refund": N_("remboursement"),
    "pending": N_("à envoyer"),
    "sent": N_("envoyé"),
    "dead": N_("échec"),
    "skipped": N_("sans destinataire"),
    "euros": N_("porte-monnaie"),
    "coupons": N_("coupons"),
    "account": N_("compte de facturation"),
}
CHILD_FIELDS = ("child_first_name", "child_last_name", "birth_date", "class", "missing_items")


def error_text(t: Translator, error: FieldError) -> str:
    """ "Ligne 3 — date de naissance : valeur non valable" (or "Enfant 2 — …" in the form)."""
    name = t._(FIELD_NAMES.get(error.field, error.field))
    problem = t._(PROBLEMS.get(error.code, error.code))
    if error.line is not None:
        return t._(
            "Ligne {line} — {field} : {problem}", line=error.line, field=name, problem=problem
        )
    if error.item is not None:
        if error.field in CHILD_FIELDS:
            return t._(
                "Enfant {n} — {field} : {problem}", n=error.item, field=name, problem=problem
            )
        return t._(
            "Responsable {n} — {field} : {problem}", n=error.item, field=name, problem=problem
        )
    return t._("{field} : {problem}", field=name, problem=problem)


def _not_found(request: web.Request) -> web.Response:
    return error_page(request, 404, translator(request)._("Cette famille n'existe pas."))


@page("GET", "/households", role=StaffRole.MANAGER, name="households")
async def households(request: web.Request, staff: StaffContext) -> web.Response:
    query = request.query.get("q", "")[:100]
    async with request.app[DATABASE].reading() as db:
        hits = await search_households(db, staff.structure_id, query)
    return render(request, "households.html", {"q": query, "hits": hits})


@page("GET", r"/households/{id:\d+}", role=StaffRole.MANAGER, name="household")
async def household(request: web.Request, staff: StaffContext) -> web.Response:
    async with request.app[DATABASE].reading() as db:
        account = await household_account(
            db, staff.structure_id, int(request.match_info["id"]), request.app[CLOCK].now()
        )
    if account is None:
        return _not_found(request)
    return render(
        request,
        "households_show.html",
        {
            "account": account,
            "done": request.query.get("done", ""),
            "group_names": GROUP_NAMES,
            "words": WORDS,
            "balances": {kind.value: amount for kind, amount in account.balances.items()},
        },
    )


def _blank_form() -> dict[str, str]:
    return {"group": "resident", "language": "fr"}


def _new_household(form: MultiDictProxy) -> NewHousehold:
    """The form's household: empty guardian and child slots are left out."""

    def value(name: str) -> str:
        return str(form.get(name, "")).strip()

    new = NewHousehold(
        reference=value("reference"),
        name=value("household_name"),
        group=value("group") or "resident",
        quotient=value("quotient"),
        emails=value("emails"),
        language=value("language") or "fr",
    )
    for n in range(1, GUARDIAN_SLOTS + 1):
        fields = [value(f"g{n}_{name}") for name in ("first_name", "last_name", "login")]
        extra = [value(f"g{n}_{name}") for name in ("email", "phone")]
        if n == 1 or any(fields + extra):
            new.guardians.append(NewGuardian(*fields, *extra))
    for n in range(1, CHILD_SLOTS + 1):
        fields = [value(f"c{n}_{name}") for name in ("first_name", "last_name", "birth_date")]
        school_class, missing = value(f"c{n}_class"), value(f"c{n}_missing_items")
        if any(fields) or school_class or missing:
            items = [item.strip() for item in missing.replace(";", ",").split(",") if item.strip()]
            new.children.append(NewChild(*fields, school_class, items))
    return new


def _form_page(
    request: web.Request, values: dict[str, str], errors: list[str], status: int = 200
) -> web.Response:
    return render(
        request,
        "households_new.html",
        {
            "values": values,
            "errors": errors,
            "groups": GROUPS,
            "group_names": GROUP_NAMES,
            "guardian_slots": range(1, GUARDIAN_SLOTS + 1),
            "child_slots": range(1, CHILD_SLOTS + 1),
        },
        status=status,
    )


@page("GET", "/households/new", role=StaffRole.MANAGER, name="household_new")
async def new_form(request: web.Request, staff: StaffContext) -> web.Response:
    return _form_page(request, _blank_form(), [])


@page("POST", "/households/new", role=StaffRole.MANAGER, name="household_create")
async def create(request: web.Request, staff: StaffContext) -> web.Response:
    form = request[FORM]
    new = _new_household(form)
    try:
        async with request.app[DATABASE].writing() as db:
            made = await create_households(db, staff, [new], request.app[CLOCK].now())
    except HouseholdRejected as rejected:
        t = translator(request)
        values = {key: str(value) for key, value in form.items() if key != "csrf"}
        return _form_page(request, values, [error_text(t, e) for e in rejected.errors], status=400)
    return redirect(f"/staff/households/{made[0].id}?done=created")


@page("GET", "/households/import", role=StaffRole.MANAGER, name="household_import_form")
async def import_form(request: web.Request, staff: StaffContext) -> web.Response:
    return render(
        request, "households_import.html", {"columns": CSV_COLUMNS, "errors": [], "count": None}
    )


@page("POST", "/households/import", role=StaffRole.MANAGER, name="household_import")
async def import_file(request: web.Request, staff: StaffContext) -> web.Response:
    t = translator(request)
    upload = request[FORM].get("file")
    raw = upload.file.read(MAX_IMPORT + 1) if hasattr(upload, "file") else b""
    errors: list[str] = []
    count = None
    status = 200
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
        errors = [t._("Le fichier doit être un CSV enregistré en UTF-8.")]
    if not raw.strip():
        errors = [t._("Choisissez un fichier CSV non vide.")]
    if not errors:
        try:
            async with request.app[DATABASE].writing() as db:
                made = await import_households(db, staff, text, request.app[CLOCK].now())
            count = len(made)
        except HouseholdRejected as rejected:
            errors = [error_text(t, error) for error in rejected.errors]
    if errors:
        status = 400
    return render(
        request,
        "households_import.html",
        {"columns": CSV_COLUMNS, "errors": errors, "count": count},
        status=status,
    )


def _ids(request: web.Request) -> tuple[int, int]:
    return int(request.match_info["id"]), int(request.match_info["guardian"])


@page(
    "POST",
    r"/households/{id:\d+}/guardians/{guardian:\d+}/letter",
    role=StaffRole.MANAGER,
    name="login_letter",
)
async def letter(request: web.Request, staff: StaffContext) -> web.Response:
    """A new first password, shown once on a printable letter (never stored in clear)."""
    household_id, guardian_id = _ids(request)
    async with request.app[DATABASE].reading() as db:
        if await household_of(db, staff.structure_id, household_id) is None:
            return _not_found(request)  # before argon2's work: another town's ids cost nothing
    password = first_password()
    password_hash = await off_loop(hash_password, password)
    async with request.app[DATABASE].writing() as db:
        guardian = await set_first_password(
            db, staff, household_id, guardian_id, password_hash, request.app[CLOCK].now()
        )
        if guardian is None:
            return _not_found(request)
        home = await household_of(db, staff.structure_id, household_id)
        town = await db.get(Structure, staff.structure_id)
    response = render(
        request,
        "households_letter.html",
        {
            "guardian": guardian,
            "household": home,
            "town": town,
            "password": password,
            "chat_url": request.app[SETTINGS].public_url.rstrip("/") + "/",
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@page(
    "POST",
    r"/households/{id:\d+}/guardians/{guardian:\d+}/unlock",
    role=StaffRole.MANAGER,
    name="login_unlock",
)
async def unlock(request: web.Request, staff: StaffContext) -> web.Response:
    household_id, guardian_id = _ids(request)
    async with request.app[DATABASE].writing() as db:
        guardian = await unlock_login(
            db, staff, household_id, guardian_id, request.app[CLOCK].now()
        )
    if guardian is None:
        return _not_found(request)
    return redirect(f"/staff/households/{household_id}?done=unlocked")

"""The pages of the one-time account links sent by e-mail, in the chat's look.

- `GET /mot-de-passe/<token>`: a form for a new password, typed twice (or "lien expiré ou
  déjà utilisé"); `POST /mot-de-passe`: the first login's rules, the link used up, the
  login's waits cleared, the guardian's open conversations logged out.
- `GET /adresse-e-mail/<token>`: the new addresses and a button; `POST /adresse-e-mail`
  applies them. A GET never changes anything: mail scanners and link previews open links.

The token is the only secret: the forms post it in their body, to a path without it (the
GET's path is redacted from access logs, bot/web/security.py). There is no other CSRF
token: a page of another site would need the token to do anything, and whoever has it can
post it themselves. As a second lock, a POST must come from our own page: a browser's
`Sec-Fetch-Site` must say "same-origin" and its `Origin`, when it names one, must be ours
(our pages' `Referrer-Policy: no-referrer` makes a browser send `Origin: null`, accepted).
"""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web
from sqlalchemy import select

from booking.models import AccountToken, Guardian, Household, Structure
from booking.refusals import Refused
from booking.services.account_tokens import Purpose, peek_token
from booking.services.accounts import check_new_password, password_refusal
from booking.services.password_reset import reset_password
from booking.services.profile import confirm_email_change, link_addresses
from bot.payments.pages import page, ways_back
from bot.web.keys import CLOCK, DATABASE, SETTINGS
from bot.web.legal import page_language
from bot.web.security import origin_allowed
from dialogs.explain import explain
from dialogs.flows.devices import logged_out
from dialogs.i18n import Translator
from dialogs.notices import EMAIL_PATH, RESET_PATH

MAX_FIELD = 1000  # characters of a form field; more is not a password anyone typed
HEADERS = {
    "Cache-Control": "no-store",  # the form holds the token: no copy in a cache
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}
DEFAULT_TOWN = "Ribambelle"


def _translator(request: web.Request) -> Translator:
    return Translator(page_language(request))


def _language_query(t: Translator) -> str:
    return "?lang=en" if t.locale == "en" else ""


def same_origin(request: web.Request) -> bool:
    """Whether a form post comes from our own page (see the module's docstring); clients
    that are not browsers send neither header and are let through: the token decides."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True
    return origin_allowed(request, request.app[SETTINGS])


async def _form(request: web.Request) -> dict[str, str]:
    """The posted fields that are short strings (files and oversized values dropped)."""
    posted = await request.post()
    return {
        name: value
        for name, value in posted.items()
        if isinstance(value, str) and len(value) <= MAX_FIELD
    }


async def _peek(request: web.Request, token: object, purpose: Purpose) -> dict[str, Any] | None:
    """What the page shows about a valid link: its row, guardian, household and town."""
    async with request.app[DATABASE].reading() as db:
        row = await peek_token(db, token, purpose, request.app[CLOCK].now())
        if row is None:
            return None
        found = await db.execute(
            select(Guardian, Household, Structure.name)
            .join(Household, Household.id == Guardian.household_id)
            .join(Structure, Structure.id == Household.structure_id)
            .where(Guardian.id == row.guardian_id)
        )
        account = found.first()
    if account is None:  # the guardian is gone (an erased household)
        return None
    guardian, household, town = account
    return {"row": row, "guardian": guardian, "household": household, "town": town}


def _show(
    t: Translator,
    *,
    town: str,
    title: str,
    body: str,
    status: int = 200,
    tone: str = "",
) -> web.Response:
    response = page(
        t, town=town, title=title, body=body, status=status, tone=tone, headers=dict(HEADERS)
    )
    response.headers["Content-Language"] = t.locale
    return response


def _expired(request: web.Request, t: Translator, how_to_ask_again: str) -> web.Response:
    return _show(
        t,
        town=DEFAULT_TOWN,
        title=t._("Lien expiré ou déjà utilisé"),
        body=f"<p>{html.escape(how_to_ask_again)}</p>"
        f"<div class='actions'>{ways_back(request, t)}</div>",
        status=410,
        tone="failed",
    )


def _refused(request: web.Request, t: Translator) -> web.Response:
    return _show(
        t,
        town=DEFAULT_TOWN,
        title=t._("Demande refusée"),
        body="<p>"
        + html.escape(t._("Ce formulaire s'envoie depuis la page du lien reçu par e-mail."))
        + f"</p><div class='actions'>{ways_back(request, t)}</div>",
        status=403,
        tone="failed",
    )


def _hidden_token(token: str) -> str:
    return f'<input type="hidden" name="token" value="{html.escape(token, quote=True)}">'


# --- A new password -------------------------------------------------------------------------


def _reset_expired(request: web.Request, t: Translator) -> web.Response:
    return _expired(
        request,
        t,
        t._(
            "Ce lien sert une seule fois, pendant 30 minutes. Demandez-en un nouveau dans le "
            "chat : « mot de passe oublié »."
        ),
    )


def _password_form(
    t: Translator, link: dict[str, Any], token: str, *, error: str | None = None
) -> web.Response:
    login = link["guardian"].login
    field = (
        '<p class="field"><label for="{name}">{label}</label>'
        '<input id="{name}" name="{name}" type="password" autocomplete="new-password" '
        'required maxlength="200"></p>'
    )
    body = (
        "<p>"
        + html.escape(t._("Identifiant : {login}", login=login))
        + "</p><p class='note'>"
        + html.escape(
            t._(
                "Choisissez un nouveau mot de passe : au moins 10 caractères, avec des "
                "lettres et des chiffres."
            )
        )
        + "</p>"
        + (f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else "")
        + f'<form method="post" action="{RESET_PATH}{_language_query(t)}">'
        + _hidden_token(token)
        # For password managers: the login the new password belongs to.
        + '<input type="text" name="username" autocomplete="username" hidden value="'
        + html.escape(login, quote=True)
        + '">'
        + field.format(name="password", label=html.escape(t._("Nouveau mot de passe")))
        + field.format(name="confirmation", label=html.escape(t._("Le même, une seconde fois")))
        + "<div class='actions'><button class='button primary' type='submit'>"
        + html.escape(t._("Changer le mot de passe"))
        + "</button></div></form>"
    )
    return _show(
        t,
        town=link["town"],
        title=t._("Choisir un nouveau mot de passe"),
        body=body,
        status=400 if error else 200,
    )


async def reset_page(request: web.Request) -> web.Response:
    """The new-password form, if the link is still valid: it only shows (no change)."""
    t = _translator(request)
    token = request.match_info["token"]
    link = await _peek(request, token, Purpose.PASSWORD_RESET)
    if link is None:
        return _reset_expired(request, t)
    return _password_form(t, link, token)


async def reset_submit(request: web.Request) -> web.Response:
    """Set the new password: checked, hashed before the transaction, the link used once."""
    t = _translator(request)
    if not same_origin(request):
        return _refused(request, t)
    form = await _form(request)
    token = form.get("token", "")
    link = await _peek(request, token, Purpose.PASSWORD_RESET)
    if link is None:  # before any hashing: a flood of bad tokens costs no argon2
        return _reset_expired(request, t)
    password, confirmation = form.get("password", ""), form.get("confirmation", "")
    if password != confirmation:
        return _password_form(
            t, link, token, error=t._("Les deux mots de passe sont différents. Recommençons.")
        )
    refusal = password_refusal(password)
    if refusal is not None:
        return _password_form(t, link, token, error=explain(t, refusal))
    checked = await check_new_password(password)
    try:
        async with request.app[DATABASE].writing() as db:
            guardian = await reset_password(
                db,
                token,
                password,
                request.app[CLOCK].now(),
                new_hash=checked.new_hash if checked else None,
                logged_out=logged_out,
            )
    except Refused:  # the guardian went meanwhile (the rules were checked above)
        guardian = None
    if guardian is None:  # used or expired meanwhile
        return _reset_expired(request, t)
    return _show(
        t,
        town=link["town"],
        title=t._("Mot de passe changé"),
        tone="ok",
        body="<p>"
        + html.escape(
            t._(
                "Votre nouveau mot de passe est enregistré. Retournez au chat et connectez-vous "
                "avec votre identifiant {login} et ce mot de passe.",
                login=guardian.login,
            )
        )
        + f"</p><div class='actions'>{ways_back(request, t)}</div>",
    )


# --- New e-mail addresses -------------------------------------------------------------------


def _email_expired(request: web.Request, t: Translator) -> web.Response:
    return _expired(
        request,
        t,
        t._(
            "Ce lien sert une seule fois, pendant 24 heures. Refaites la demande dans le "
            "chat : « changer mon e-mail »."
        ),
    )


def _addresses(row: AccountToken) -> str:
    return ", ".join(link_addresses(row.data))


async def email_page(request: web.Request) -> web.Response:
    """The addresses a link would apply, and a button: opening the link changes nothing."""
    t = _translator(request)
    token = request.match_info["token"]
    link = await _peek(request, token, Purpose.EMAIL_CHANGE)
    if link is None:
        return _email_expired(request, t)
    body = (
        "<p>"
        + html.escape(
            t._(
                "Le compte {name} recevra désormais ses messages à : {addresses}.",
                name=link["household"].name,
                addresses=_addresses(link["row"]),
            )
        )
        + "</p>"
        + f'<div class="actions"><form method="post" action="{EMAIL_PATH}{_language_query(t)}">'
        + _hidden_token(token)
        + "<button class='button primary' type='submit'>"
        + html.escape(t._("Confirmer"))
        + "</button></form>"
        + ways_back(request, t)
        + "</div>"
    )
    return _show(t, town=link["town"], title=t._("Confirmer les adresses e-mail"), body=body)


async def email_submit(request: web.Request) -> web.Response:
    t = _translator(request)
    if not same_origin(request):
        return _refused(request, t)
    token = (await _form(request)).get("token", "")
    link = await _peek(request, token, Purpose.EMAIL_CHANGE)
    if link is None:
        return _email_expired(request, t)
    async with request.app[DATABASE].writing() as db:
        household = await confirm_email_change(db, token, request.app[CLOCK].now())
    if household is None:
        return _email_expired(request, t)
    return _show(
        t,
        town=link["town"],
        title=t._("Adresses e-mail enregistrées"),
        tone="ok",
        body="<p>"
        + html.escape(
            t._(
                "C'est fait : les messages du compte {name} iront désormais à {addresses}.",
                name=household.name,
                addresses=", ".join(household.email_list),
            )
        )
        + f"</p><div class='actions'>{ways_back(request, t)}</div>",
    )


def setup_account_pages(app: web.Application) -> None:
    app.router.add_get(RESET_PATH + "/{token}", reset_page)
    app.router.add_post(RESET_PATH, reset_submit)
    app.router.add_get(EMAIL_PATH + "/{token}", email_page)
    app.router.add_post(EMAIL_PATH, email_submit)

"""Logging in (with the first-login password change and terms), and logging out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from booking.db import Database
from booking.models import Guardian
from booking.refusals import Refused
from booking.services.accounts import (
    PasswordCheck,
    accept_terms,
    authenticate,
    change_password,
    check_new_password,
    check_password,
    find_guardian,
    password_matches,
    password_refusal,
)
from booking.services.links import create_link_code, redeem_link_code
from dialogs.explain import explain
from dialogs.flows.common import nav_row, require_login, show_menu, show_start
from dialogs.i18n import Translator
from dialogs.replies import Link
from dialogs.state import State
from dialogs.turn import Turn, action, step, text_handler
from dialogs.understanding.intents import intent_of
from dialogs.understanding.text import fold


def raw(handler):  # noqa: ANN001, ANN201
    """Mark a text handler whose text is a secret or a login, never a command; a login step
    may return False for words that cannot be a login, which the engine then reads."""
    handler.raw = True
    return handler


@action("login")
async def start_login(turn: Turn) -> None:
    if turn.state.logged_in:
        await show_menu(turn)
        return
    await turn.show("login_user")


@step("login_user")
async def ask_login(turn: Turn) -> None:
    turn.state.step = "login_user"
    turn.say(
        turn.t._("Quel est votre identifiant (il figure sur le courrier de la mairie) ?"),
        [_forgot_row(turn), [turn.button(turn.t._("Annuler"), "start")]],
    )


def _forgot_row(turn: Turn) -> list:
    return [turn.button(turn.t._("Mot de passe oublié"), "forgot_password")]


async def _asks_for_reset(turn: Turn, text: str) -> bool:
    """ "mot de passe oublié" typed at a login step: the reset, not a login or a password."""
    if intent_of(text) != "password_reset":
        return False
    await turn.show("forgot_login")
    return True


@action("start")
async def go_start(turn: Turn) -> None:
    turn.state.login = None
    await show_start(turn)


@text_handler("login_user")
@raw
async def read_login(turn: Turn, text: str) -> bool:
    if await _asks_for_reset(turn, text):
        return True
    if any(character.isspace() for character in text.strip()):
        return False  # no login holds a space: words, for the engine to read
    turn.state.login = text.strip()[:64]
    await turn.show("login_password")
    return True


@step("login_password")
async def ask_password(turn: Turn) -> None:
    turn.state.step = "login_password"
    turn.say(
        turn.t._("Votre mot de passe ? (Il sera effacé de la conversation.)"),
        [_forgot_row(turn), [turn.button(turn.t._("Annuler"), "start")]],
        secret_input=True,
    )


@text_handler("login_password")
@raw
async def read_password(turn: Turn, text: str) -> bool:
    if await _asks_for_reset(turn, text):
        return True
    try:
        guardian = await authenticate(
            turn.db,
            turn.state.login or "",
            text,
            turn.now,
            turn.password_check,
            client=turn.client,
        )
    except Refused as refused:
        turn.say(explain(turn.t, refused))
        await turn.show("login_user")
        return True
    await _logged_in(turn, guardian)
    return True


async def _logged_in(turn: Turn, guardian: Guardian) -> None:
    state = turn.state
    state.login = None
    # The household opens only once the first-login steps are done.
    state.guardian_id = guardian.id
    state.household_id = None
    state.question = {"household_id": guardian.household_id}
    if guardian.language and state.locale is None:
        state.locale = guardian.language
        turn.t = Translator(guardian.language)
    if guardian.must_change_password:
        turn.say(
            turn.t._("Bienvenue {name} ! C'est votre première connexion.", name=guardian.first_name)
        )
        await turn.show("new_password")
        return
    if guardian.terms_accepted_at is None:
        await turn.show("terms")
        return
    _open_household(turn)
    turn.say(turn.t._("Bonjour {name} !", name=guardian.first_name))
    await show_menu(turn)


def _open_household(turn: Turn) -> None:
    turn.state.household_id = turn.state.question.get("household_id")
    turn.state.question = {}


@step("new_password")
async def ask_new_password(turn: Turn) -> None:
    turn.state.step = "new_password"
    turn.say(
        turn.t._(
            "Choisissez un nouveau mot de passe : au moins 10 caractères, avec des lettres et "
            "des chiffres."
        ),
        [[turn.button(turn.t._("Annuler"), "logout")]],
        secret_input=True,
    )


@text_handler("new_password")
@raw
async def read_new_password(turn: Turn, text: str) -> bool:
    refusal = password_refusal(text)
    if refusal is not None:
        turn.say(explain(turn.t, refusal))
        await turn.show("new_password")
        return True
    # Only a hash of the candidate is kept between the two messages.
    check = turn.password_check or await check_new_password(text)
    turn.state.question["new_password_hash"] = check.new_hash
    turn.state.step = "new_password_confirm"
    turn.say(turn.t._("Écrivez-le une seconde fois pour confirmer."), secret_input=True)
    return True


@step("new_password_confirm")
async def ask_confirm_again(turn: Turn) -> None:
    await ask_new_password(turn)


@text_handler("new_password_confirm")
@raw
async def read_password_confirmation(turn: Turn, text: str) -> bool:
    candidate = turn.state.question.get("new_password_hash")
    check = turn.password_check
    if not await password_matches(candidate, text, check):
        turn.say(turn.t._("Les deux mots de passe sont différents. Recommençons."))
        await turn.show("new_password")
        return True
    new_hash = check.new_hash if check is not None and check.checked_hash == candidate else None
    await change_password(turn.db, turn.state.guardian_id, text, new_hash)
    turn.state.question.pop("new_password_hash", None)
    turn.say(turn.t._("Votre mot de passe est enregistré."))
    guardian = await turn.db.get(Guardian, turn.state.guardian_id)
    if guardian is not None and guardian.terms_accepted_at is None:
        await turn.show("terms")
    else:
        _open_household(turn)
        await show_menu(turn)
    return True


#: Argon2 ahead of the transaction for the password steps of other flows (the profile's).
PASSWORD_CHECKS: dict[
    str, Callable[[Database, State, str, datetime], Awaitable[PasswordCheck | None]]
] = {}


async def check_password_first(
    database: Database, state: State, text: str, now: datetime
) -> PasswordCheck | None:
    """Argon2's work on a password typed at `state`'s step, before the turn's transaction.

    Reads what it needs in a short read transaction and hashes with none open, so that the
    write lock is not held for argon2's 200 ms; the turn records the outcome.
    """
    if state.step in PASSWORD_CHECKS:
        return await PASSWORD_CHECKS[state.step](database, state, text, now)
    if state.step == "login_password":
        async with database.reading() as db:
            guardian = await find_guardian(db, state.login or "")
        return await check_password(guardian, state.login or "", text, now)
    if state.step == "new_password":
        return await check_new_password(text)
    candidate = state.question.get("new_password_hash")
    if state.step == "new_password_confirm" and candidate is not None:
        return await check_new_password(text, candidate)
    return None


#: Where the web server serves the terms of use and the privacy notice (bot/web/legal.py).
TERMS_PATH = "/cgu"
PRIVACY_PATH = "/confidentialite"


@step("terms")
async def ask_terms(turn: Turn) -> None:
    turn.state.step = "terms"
    t = turn.t
    language = "?lang=en" if t.locale == "en" else ""
    terms_url = f"{turn.public_url}{TERMS_PATH}{language}"
    privacy_url = f"{turn.public_url}{PRIVACY_PATH}{language}"
    turn.say(
        t._(
            "Avant de continuer, lisez la notice de confidentialité (RGPD) et les conditions "
            "d'utilisation : vos données (enfants, réservations, paiements) servent uniquement "
            "aux services de la mairie, sont conservées le temps de la scolarité et vous pouvez "
            "y accéder ou les rectifier auprès de la mairie. Les acceptez-vous ?"
        )
        + "\n\n"
        + t._(
            "Conditions d'utilisation : {terms_url}\nNotice de confidentialité : {privacy_url}",
            terms_url=terms_url,
            privacy_url=privacy_url,
        ),
        [
            [turn.button(t._("J'accepte"), "accept_terms")],
            [turn.button(t._("Je refuse"), "logout")],
        ],
        # Telegram refuses a button to a local address (a demo on 127.0.0.1): there, the
        # addresses in the text are enough.
        link=Link(t._("Lire les conditions d'utilisation"), terms_url)
        if turn.channel == "web" or terms_url.startswith("https://")
        else None,
    )


@action("accept_terms")
async def terms_accepted(turn: Turn) -> None:
    if turn.state.guardian_id is None or turn.state.step != "terms":
        await turn.show()
        return
    await accept_terms(turn.db, turn.state.guardian_id, turn.now)
    _open_household(turn)
    turn.say(turn.t._("Merci, c'est noté."))
    await show_menu(turn)


@action("logout")
async def logout(turn: Turn) -> None:
    """Log this conversation out: it forgets the household, so it leaves the household's
    connected devices and its notifications stop (a Telegram chat's link ends)."""
    linked_chat = turn.channel == "telegram" and turn.state.household_id is not None
    turn.state.household_id = None
    turn.state.guardian_id = None
    turn.state.login = None
    turn.state.forget_selection()
    turn.state.lapsed_told = []
    if linked_chat:
        turn.say(
            turn.t._(
                "Vous êtes déconnecté : cette conversation Telegram n'est plus liée à votre "
                "compte famille et n'en recevra plus les notifications. À bientôt !"
            )
        )
    else:
        turn.say(turn.t._("Vous êtes déconnecté. À bientôt !"))
    await show_start(turn)


@text_handler("terms")
@raw
async def read_terms_answer(turn: Turn, text: str) -> bool:
    """Typed at the terms step: the buttons' words act as the buttons; anything else (even a
    request) asks again, the half-finished login kept."""
    t = turn.t
    answer = fold(text).strip(" .!")
    if answer in {fold(t._("J'accepte")), "j'accepte", "i accept"}:
        await terms_accepted(turn)
    elif answer in {fold(t._("Je refuse")), "je refuse", "i refuse"}:
        await logout(turn)
    else:
        turn.say(
            t._(
                "Pour continuer, lisez les textes (liens ci-dessous) puis touchez le bouton "
                "qui les accepte ou celui qui les refuse."
            )
        )
        await ask_terms(turn)
    return True


async def redeem_code(turn: Turn, code: str) -> None:
    """`/start <code>` from the deep link a web chat session showed: log this chat in."""
    guardian = await redeem_link_code(turn.db, code, turn.now)
    if guardian is None:
        turn.say(
            turn.t._(
                "Ce lien de connexion n'est plus valable (il sert une seule fois, pendant 15 "
                "minutes). Connectez-vous avec votre identifiant, ou demandez un nouveau lien "
                "dans le chat du site."
            )
        )
        await show_start(turn)
        return
    turn.say(turn.t._("Votre compte Telegram est maintenant lié à votre compte famille."))
    await _logged_in(turn, guardian)


@action("link_telegram")
@require_login
async def link_telegram(turn: Turn) -> None:
    """Show a one-time deep link that logs a Telegram chat in as this guardian."""
    if not turn.telegram_username:
        turn.say(turn.t._("Telegram n'est pas disponible pour le moment."))
        await show_menu(turn)
        return
    code = await create_link_code(turn.db, turn.state.guardian_id, turn.now)
    turn.say(
        turn.t._(
            "Touchez ce lien sur votre téléphone pour retrouver Ribambelle dans Telegram, déjà "
            "connecté. Il sert une seule fois et pendant 15 minutes."
        ),
        [nav_row(turn, back=False)],
        link=Link(
            turn.t._("Ouvrir dans Telegram"), f"https://t.me/{turn.telegram_username}?start={code}"
        ),
    )

"""The family account in the chat ("Mon compte"): its guardians and e-mail addresses, a new
password (the current one first), new e-mail addresses (applied from a link sent to them),
and the household's data to download.

```mermaid
stateDiagram-v2
    menu --> profile: Mon compte / « mon compte »
    profile --> current_password: Changer mon mot de passe / « changer mon mot de passe »
    current_password --> change_password_new: the current password
    current_password --> profile: a wrong one (a failed login: the same waits)
    change_password_new --> change_password_confirm
    change_password_confirm --> profile: the same twice
    change_password_confirm --> change_password_new: two different ones
    profile --> change_email: Changer les adresses e-mail / « changer mon e-mail »
    change_email --> profile: a link sent to the new addresses
    profile --> export_data: Télécharger mes données
```
"""

from __future__ import annotations

from datetime import datetime

from booking.db import Database
from booking.email_addresses import MAX_ADDRESSES, read_addresses
from booking.models import Guardian
from booking.refusals import Refused
from booking.services.accounts import (
    PasswordCheck,
    authenticate,
    change_password,
    check_new_password,
    check_password,
    password_matches,
    password_refusal,
)
from booking.services.profile import household_profile, request_email_change
from dialogs.explain import explain
from dialogs.flows.account import PASSWORD_CHECKS, raw
from dialogs.flows.common import nav_row, require_login
from dialogs.replies import Button
from dialogs.state import State
from dialogs.turn import Turn, action, step, text_handler

#: The steps where a password is typed: the engine erases the message and hashes first.
PASSWORD_STEPS = ("current_password", "change_password_new", "change_password_confirm")


def masked(login: str) -> str:
    """Another guardian's login, as the profile shows it: "ma…" (enough to recognise)."""
    return login[:2] + "…" if len(login) > 2 else "…"


@action("profile")
@require_login
async def open_profile(turn: Turn) -> None:
    await turn.show("profile")


@step("profile")
@require_login
async def show_profile(turn: Turn) -> None:
    t = turn.t
    turn.state.step = "profile"
    turn.state.question = {}
    profile = await household_profile(turn.db, turn.state.household_id)
    lines = [t._("Votre compte famille : {name}.", name=profile.name), t._("Responsables :")]
    for guardian in profile.guardians:
        you = guardian.id == turn.state.guardian_id
        parts = [
            f"{guardian.first_name} {guardian.last_name}",
            t._("identifiant {login}", login=guardian.login if you else masked(guardian.login)),
        ]
        if guardian.email:
            parts.append(guardian.email)
        if you:
            parts.append(t._("vous"))
        lines.append("• " + " — ".join(parts))
    lines.append(
        t._(
            "Adresses e-mail du foyer (notifications) : {addresses}",
            addresses=", ".join(profile.emails) or t._("aucune adresse"),
        )
    )
    rows: list[list[Button]] = [
        [turn.button(t._("Changer mon mot de passe"), "change_password")],
        [turn.button(t._("Changer les adresses e-mail"), "change_email")],
        [turn.button(t._("Télécharger mes données"), "export_data")],
        [
            turn.button(t._("Notifications"), "notifications"),
            turn.button(t._("Appareils connectés"), "devices"),
        ],
        nav_row(turn, back=False),
    ]
    turn.say("\n".join(lines), rows)


def _cancel_row(turn: Turn) -> list[Button]:
    return [turn.button(turn.t._("Annuler"), "profile")]


# --- A new password -----------------------------------------------------------------------


@action("change_password")
@require_login
async def start_password_change(turn: Turn) -> None:
    await turn.show("current_password")


@step("current_password")
@require_login
async def ask_current_password(turn: Turn) -> None:
    turn.state.step = "current_password"
    turn.say(
        turn.t._(
            "Pour changer de mot de passe, écrivez d'abord votre mot de passe actuel. (Il sera "
            "effacé de la conversation.)"
        ),
        [_cancel_row(turn)],
        secret_input=True,
    )


async def _guardian(turn: Turn) -> Guardian | None:
    """The guardian logged in here, or None (logged out meanwhile: the start is shown)."""
    guardian = None
    if turn.state.logged_in:
        guardian = await turn.db.get(Guardian, turn.state.guardian_id)
    if guardian is None:
        await turn.show("start")
    return guardian


@text_handler("current_password")
@raw
async def read_current_password(turn: Turn, text: str) -> bool:
    """A wrong current password is a failed login: counted, and it starts the same waits
    (an open session on a borrowed phone cannot be used to guess the password)."""
    guardian = await _guardian(turn)
    if guardian is None:
        return True
    try:
        await authenticate(
            turn.db,
            guardian.login,
            text,
            turn.now,
            checked=turn.password_check,
            client=turn.client,
        )
    except Refused as refused:
        turn.say(explain(turn.t, refused))
        await turn.show("profile")
        return True
    await turn.show("change_password_new")
    return True


@step("change_password_new")
@require_login
async def ask_new_password(turn: Turn) -> None:
    turn.state.step = "change_password_new"
    turn.state.question.pop("new_password_hash", None)
    turn.say(
        turn.t._(
            "Choisissez un nouveau mot de passe : au moins 10 caractères, avec des lettres et "
            "des chiffres."
        ),
        [_cancel_row(turn)],
        secret_input=True,
    )


@text_handler("change_password_new")
@raw
async def read_new_password(turn: Turn, text: str) -> bool:
    if await _guardian(turn) is None:
        return True
    refusal = password_refusal(text)
    if refusal is not None:
        turn.say(explain(turn.t, refusal))
        await turn.show("change_password_new")
        return True
    # Only a hash of the candidate is kept between the two messages.
    check = turn.password_check or await check_new_password(text)
    turn.state.question["new_password_hash"] = check.new_hash
    turn.state.step = "change_password_confirm"
    turn.say(
        turn.t._("Écrivez-le une seconde fois pour confirmer."),
        [_cancel_row(turn)],
        secret_input=True,
    )
    return True


@step("change_password_confirm")
async def ask_confirmation_again(turn: Turn) -> None:
    await ask_new_password(turn)


@text_handler("change_password_confirm")
@raw
async def read_confirmation(turn: Turn, text: str) -> bool:
    guardian = await _guardian(turn)
    if guardian is None:
        return True
    candidate = turn.state.question.get("new_password_hash")
    check = turn.password_check
    if candidate is None or not await password_matches(candidate, text, check):
        turn.say(turn.t._("Les deux mots de passe sont différents. Recommençons."))
        await turn.show("change_password_new")
        return True
    new_hash = check.new_hash if check is not None and check.checked_hash == candidate else None
    await change_password(turn.db, guardian.id, text, new_hash)
    turn.state.question.pop("new_password_hash", None)
    turn.say(
        turn.t._(
            "C'est fait : votre mot de passe est changé. Utilisez-le à votre prochaine "
            "connexion, dans le chat comme dans Telegram."
        )
    )
    await turn.show("profile")
    return True


async def check_profile_password_first(
    database: Database, state: State, text: str, now: datetime
) -> PasswordCheck | None:
    """Argon2's work on a password typed at a profile step, before the turn's transaction
    (see `account.check_password_first`)."""
    if state.step == "current_password" and state.guardian_id is not None:
        async with database.reading() as db:
            guardian = await db.get(Guardian, state.guardian_id)
        if guardian is None:
            return None
        return await check_password(guardian, guardian.login, text, now)
    if state.step == "change_password_new":
        return await check_new_password(text)
    candidate = state.question.get("new_password_hash")
    if state.step == "change_password_confirm" and candidate is not None:
        return await check_new_password(text, candidate)
    return None


PASSWORD_CHECKS.update(dict.fromkeys(PASSWORD_STEPS, check_profile_password_first))


# --- New e-mail addresses -----------------------------------------------------------------


@action("change_email")
@require_login
async def start_email_change(turn: Turn) -> None:
    await turn.show("change_email")


@step("change_email")
@require_login
async def ask_addresses(turn: Turn) -> None:
    turn.state.step = "change_email"
    turn.say(
        turn.t._(
            "Écrivez la nouvelle adresse e-mail du foyer (pour plusieurs, séparez-les par des "
            "virgules ; la première devient la vôtre, où arrivent les liens « mot de passe "
            "oublié »). Un lien de confirmation y sera envoyé : rien ne change avant qu'il "
            "soit ouvert."
        ),
        [_cancel_row(turn)],
    )


@text_handler("change_email")
async def read_addresses_typed(turn: Turn, text: str) -> bool:
    """New addresses; a text without "@" ("menu", "retour") is read as anywhere else."""
    if "@" not in text or not turn.state.logged_in:
        return False
    t = turn.t
    typed = read_addresses(text)
    if typed.invalid is not None:
        turn.say(t._("« {address} » n'est pas une adresse e-mail valide.", address=typed.invalid))
        await ask_addresses(turn)
        return True
    if typed.too_many:
        turn.say(
            t.n_(
                "Le foyer peut garder {count} adresse au plus.",
                "Le foyer peut garder {count} adresses au plus.",
                MAX_ADDRESSES,
            )
        )
        await ask_addresses(turn)
        return True
    sent_to = await request_email_change(turn.db, turn.state.guardian_id, typed.addresses, turn.now)
    if sent_to is None:
        turn.say(t._("Trop de demandes de changement d'adresse : réessayez dans une heure."))
    else:
        turn.say(
            t._(
                "Un lien de confirmation vient d'être envoyé à {addresses}. Ouvrez-le dans les "
                "24 heures : les adresses ne changent qu'à ce moment-là. Les adresses actuelles "
                "sont prévenues de la demande.",
                addresses=", ".join(sent_to),
            )
        )
    await turn.show("profile")
    return True

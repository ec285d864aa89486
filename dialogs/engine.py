"""The conversation engine: one entry point, `Engine.handle`, for every channel.

```mermaid
stateDiagram-v2
    [*] --> start
    start --> login_user: Se connecter
    start --> browse: Voir les activités
    login_user --> login_password
    login_user --> forgot_login: Mot de passe oublié (flows/password_reset.py)
    login_password --> new_password: first login
    new_password --> new_password_confirm
    new_password_confirm --> terms
    terms --> menu
    login_password --> menu
    menu --> recap: a whole sentence (child, activity, dates)
    menu --> ask: a sentence missing a child, a tied activity, a period
    ask --> recap: answered
    ask --> calendar: no date yet
    menu --> child: Réserver
    child --> activity
    activity --> calendar
    calendar --> calendar: tap a day / type dates / month
    calendar --> waitlist_offer: full day
    waitlist_offer --> calendar
    calendar --> recap: Récapitulatif
    recap --> recap: a correction (ajoute, enlève, plutôt, et pour X aussi)
    recap --> menu: Confirmer / Abandonner
    recap --> calendar: Modifier
    menu --> bookings: Mes réservations
    bookings --> recap: Annuler une réservation
    menu --> balance: Solde
    menu --> profile: Mon compte (flows/profile.py)
    menu --> start: Déconnexion
```
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from booking.clock import Clock
from booking.db import Database
from booking.services.accounts import PasswordCheck
from booking.services.conversations import (
    StaleConversation,
    find_conversation,
    open_conversation,
    save_conversation,
)
from dialogs import flows  # noqa: F401 - registers the actions and steps
from dialogs.flows.account import check_password_first, redeem_code
from dialogs.flows.common import MENU_ACTIONS, not_understood
from dialogs.flows.profile import PASSWORD_STEPS
from dialogs.flows.requests import cancel_request, on_text
from dialogs.i18n import Translator, pick_locale
from dialogs.replies import Reply
from dialogs.state import State
from dialogs.turn import ACTIONS, TEXT_HANDLERS, Turn
from dialogs.understanding import Frame

log = logging.getLogger(__name__)
MAX_TEXT = 2000
RETRIES = 5


@dataclass(frozen=True)
class Incoming:
    text: str | None = None
    button: str | None = None
    command: str | None = None  # a channel command: book, cancel, bookings, balance, help…
    link_code: str | None = None  # a one-time code linking this conversation to a guardian
    locale_hint: str | None = None  # the channel's idea of the user's language
    # The client's address (behind a trusted proxy, the real client's), or a channel's
    # stand-in for one ("telegram:<chat id>"): wrong passwords also count per client.
    client: str | None = None


#: Channel commands and the request each stands for.
COMMANDS = ("start", "book", "cancel", "bookings", "balance", "help", "language", "logout")
SECRET_STEPS = ("login_password", "new_password", "new_password_confirm", *PASSWORD_STEPS)


@dataclass(frozen=True)
class TurnResult:
    conversation_id: int
    first_message_id: int
    replies: list[Reply]
    household_id: int | None
    secret_received: bool = False  # the incoming text was a password: channels erase it


class Engine:
    def __init__(
        self, database: Database, clock: Clock, *, public_url: str = "http://127.0.0.1:8080"
    ) -> None:
        self.database = database
        self.clock = clock
        self.public_url = public_url.rstrip("/")
        self.telegram_username: str | None = None  # set once the Telegram bot is known
        self._at_secret_step: set[tuple[str, str]] = set()

    async def handle(self, channel: str, key: str, incoming: Incoming) -> TurnResult:
        """Run one turn: load the state, act, save the state (replayed if a racing message
        changed it meanwhile), all in one transaction with the booking changes."""
        for _attempt in range(RETRIES):
            try:
                return await self._handle_once(channel, key, incoming)
            except StaleConversation:
                log.info("conversation %s/%s changed meanwhile: replaying the turn", channel, key)
        raise RuntimeError("conversation kept changing")

    async def _handle_once(self, channel: str, key: str, incoming: Incoming) -> TurnResult:
        now = self.clock.now()
        checked = await self._check_password_first(channel, key, incoming, now)
        async with self.database.writing() as db:
            conversation = await open_conversation(db, channel, key, now)
            state = State.from_json(conversation.state)
            locale = pick_locale(state.locale, incoming.locale_hint)
            turn = Turn(
                db=db,
                now=now,
                state=state,
                t=Translator(locale),
                channel=channel,
                public_url=self.public_url,
                conversation_id=conversation.id,
                client=incoming.client,
            )
            if checked is not None and checked[0] == conversation.version:
                turn.password_check = checked[1]  # else the state moved: verify inside
            turn.telegram_username = self.telegram_username
            secret = incoming.text is not None and state.step in SECRET_STEPS
            await dispatch(turn, incoming)
            turn.seal()
            self._remember_step(channel, key, state.step)
            first_id = await save_conversation(
                db,
                conversation,
                state=state.to_json(),
                household_id=state.household_id,
                guardian_id=state.guardian_id,
                messages=len(turn.replies),
                now=now,
            )
            return TurnResult(
                conversation.id, first_id, turn.replies, state.household_id, secret_received=secret
            )

    def _remember_step(self, channel: str, key: str, step: str) -> None:
        """Which conversations wait for a password, so that only their next text is read
        before the transaction (every other turn skips that read)."""
        if step in SECRET_STEPS:
            if len(self._at_secret_step) > 10_000:  # logins left half-way pile up
                self._at_secret_step.clear()
            self._at_secret_step.add((channel, key))
        else:
            self._at_secret_step.discard((channel, key))

    async def _check_password_first(
        self, channel: str, key: str, incoming: Incoming, now: datetime
    ) -> tuple[int, PasswordCheck] | None:
        """Argon2 for a password typed at a secret step, before the write transaction.

        Argon2 takes about 200 ms of CPU; inside the transaction every other turn of the town
        would wait behind it. Returns the verdict with the conversation's version it was
        computed for: the turn uses it only if the state is still that one.
        """
        text = typed_text(incoming)
        if text is None or (channel, key) not in self._at_secret_step:
            return None  # unknown here (another process, a restart): verified inside
        async with self.database.reading() as db:
            conversation = await find_conversation(db, channel, key)
        if conversation is None:
            return None
        state = State.from_json(conversation.state)
        if state.step not in SECRET_STEPS:
            return None
        checked = await check_password_first(self.database, state, text, now)
        return None if checked is None else (conversation.version, checked)


def typed_text(incoming: Incoming) -> str | None:
    """The text a turn reads, when it reads one (buttons, links and commands come first)."""
    if any(x is not None for x in (incoming.button, incoming.link_code, incoming.command)):
        return None
    return (incoming.text or "").strip()[:MAX_TEXT] or None


async def dispatch(turn: Turn, incoming: Incoming) -> None:
    if incoming.button is not None:
        await _press(turn, incoming.button)
        return
    if incoming.link_code is not None:
        await redeem_code(turn, incoming.link_code)
        return
    if incoming.command is not None:
        await run_command(turn, incoming.command)
        return
    text = typed_text(incoming)
    if text is None:
        await turn.show()
        return
    handler = TEXT_HANDLERS.get(turn.state.step)
    if handler is not None and getattr(handler, "raw", False):
        if await handler(turn, text):
            return  # a login or a password: never read as a command
        await on_text(turn, text)  # words where a login was asked ("se connecter")
        return
    if handler is not None and await handler(turn, text):
        return  # the step's own reading ("30 €" when a top-up amount is asked)
    await on_text(turn, text)


async def run_command(turn: Turn, command: str) -> None:
    """A channel command (/reserver, /annuler…): the same as the button or request."""
    if command not in COMMANDS:
        await not_understood(turn)
    elif command == "start":
        turn.state.step = "start" if not turn.state.logged_in else "menu"
        await turn.show()
    elif command == "language":
        await ACTIONS["language"](turn, "en" if turn.t.locale == "fr" else "fr")
    elif command == "cancel":
        if turn.state.logged_in:
            await cancel_request(turn, Frame(intent="cancel"))
        else:
            turn.say(turn.t._("Connectez-vous d'abord pour cela."))
            await turn.show("login_user")
    elif command == "logout" and not turn.state.logged_in:
        await turn.show("start")
    else:
        await ACTIONS[command](turn)


#: Buttons of messages sent outside a turn (a reminder's "Annuler"): they outlive the turn's
#: nonce, so they name an action and an id, checked on arrival like any request.
STANDING_ACTIONS = {
    "cancel": ("mark_cancel", 1),
    "recap": ("recap", 0),
    # The menu's buttons: a tap on an older menu (another tab, a message scrolled up) still
    # means the same thing, so it is carried out instead of being refused as stale.
    **{name: (name, 0) for name in MENU_ACTIONS},
}


def standing_payload(action_name: str, *args: int) -> str:
    return ".".join(("x", action_name, *map(str, args)))


async def _press_standing(turn: Turn, payload: str) -> bool:
    parts = payload.split(".")
    if len(parts) < 2 or parts[1] not in STANDING_ACTIONS:
        return False
    name, arity = STANDING_ACTIONS[parts[1]]
    if len(parts) - 2 != arity or not all(p.isdigit() and len(p) < 12 for p in parts[2:]):
        return False
    args = [int(part) for part in parts[2:]]
    if name == "mark_cancel" and args and args[0] in turn.state.to_cancel:
        await turn.show("recap")  # already picked: show the recap again
        return True
    await ACTIONS[name](turn, *args)
    return True


async def _press(turn: Turn, payload: str) -> None:
    if payload.startswith("x.") and await _press_standing(turn, payload[:64]):
        return
    resolved = turn.resolve(payload[:64])
    if resolved is None or resolved[0] not in ACTIONS:
        turn.say(turn.t._("Ce bouton n'est plus valable. Voici où nous en sommes :"))
        await turn.show()
        return
    name, *args = resolved
    await ACTIONS[name](turn, *args)

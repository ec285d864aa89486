"""One turn of a conversation: its context, the replies it builds, and the registries of
button actions and step renderers that the flows fill."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Channel
from booking.services.accounts import PasswordCheck
from booking.services.common import Actor
from dialogs.i18n import Translator
from dialogs.replies import Button, Calendar, Link, Reply
from dialogs.state import State

Action = Callable[..., Awaitable[None]]
ACTIONS: dict[str, Action] = {}
STEPS: dict[str, Callable[[Turn], Awaitable[None]]] = {}
TEXT_HANDLERS: dict[str, Callable[[Turn, str], Awaitable[bool]]] = {}


def action(name: str) -> Callable[[Action], Action]:
    """Register what a button does; its arguments come back from the state, never the client."""

    def register(function: Action) -> Action:
        ACTIONS[name] = function
        return function

    return register


def step(name: str) -> Callable:
    """Register how a step shows itself (after a stale button, "back", or an empty message)."""

    def register(function: Callable[[Turn], Awaitable[None]]) -> Callable:
        STEPS[name] = function
        return function

    return register


def text_handler(name: str) -> Callable:
    """Register what free text means at a step; returns False when it did not understand."""

    def register(function: Callable[[Turn, str], Awaitable[bool]]) -> Callable:
        TEXT_HANDLERS[name] = function
        return function

    return register


@dataclass
class Turn:
    db: AsyncSession
    now: datetime
    state: State
    t: Translator
    channel: str
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Paris"))
    replies: list[Reply] = field(default_factory=list)
    # Buttons an earlier message of this turn offers, shown on the step's message instead
    # (channels keep only the last message's buttons active).
    pending_rows: list[list[Button]] = field(default_factory=list)
    # What the recap shown by this turn must say first: days that could not be added, why.
    recap_notes: list[str] = field(default_factory=list)
    telegram_username: str | None = None  # offer to link Telegram when the bot is known
    public_url: str = "http://127.0.0.1:8080"  # where payment links point
    conversation_id: int | None = None
    client: str | None = None  # who typed, for the login waits per client (Incoming.client)
    # Argon2's work on the password this turn received, done before its transaction.
    password_check: PasswordCheck | None = None
    _buttons: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._nonce = secrets.token_urlsafe(4)[:5]

    @property
    def actor(self) -> Actor:
        return Actor(
            channel=Channel(self.channel)
            if self.channel in Channel._value2member_map_
            else Channel.WEB,
            household_id=self.state.household_id,
            guardian_id=self.state.guardian_id,
            conversation_id=self.conversation_id,
        )

    def button(self, label: str, name: str, *args: Any) -> Button:
        """A button whose short opaque payload only this conversation, this turn, can use."""
        key = format(len(self._buttons), "x")
        self._buttons[key] = [name, *args]
        return Button(label=label, payload=f"{self._nonce}.{key}")

    def say(
        self,
        text: str,
        buttons: list[list[Button]] | None = None,
        *,
        link: Link | None = None,
        calendar: Calendar | None = None,
        secret_input: bool = False,
    ) -> None:
        if buttons and self.pending_rows:
            buttons = self.pending_rows + buttons
            self.pending_rows = []
        self.replies.append(
            Reply(
                text=text,
                buttons=buttons or [],
                link=link,
                calendar=calendar,
                secret_input=secret_input,
                locale=self.t.locale,
            )
        )

    def seal(self) -> None:
        """Store this turn's buttons in the state: older payloads become stale."""
        self.state.nonce = self._nonce
        self.state.buttons = self._buttons

    def resolve(self, payload: str) -> list[Any] | None:
        nonce, _, key = payload.partition(".")
        if not nonce or nonce != self.state.nonce:
            return None
        return self.state.buttons.get(key)

    async def show(self, step_name: str | None = None) -> None:
        if step_name is not None:
            self.state.step = step_name
        await STEPS.get(self.state.step, STEPS["start"])(self)

"""One delivery interface for messages sent outside a turn, whatever the channel.

Notification work (payment results, reminders, waitlist offers) calls `Deliveries.push` or
`push_to_household`; each channel (web inbox + WebSocket, Telegram) implements `Delivery`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from booking.clock import Clock
from booking.db import Database
from booking.services.conversations import conversations_of_household
from booking.services.links import mark_blocked
from dialogs.i18n import Translator, pick_locale
from dialogs.replies import Reply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    conversation_id: int
    channel: str
    key: str
    locale: str


class DeliveryBlocked(Exception):
    """The recipient refuses messages for good (blocked the bot): do not retry."""


class Delivery(Protocol):
    channel: str

    async def send(self, recipient: Recipient, reply: Reply, key: str | None = None) -> None:
        """Deliver; `key` identifies the message where the channel can drop a repeat."""


class Deliveries:
    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock
        self._channels: dict[str, Delivery] = {}

    def register(self, delivery: Delivery) -> None:
        self._channels[delivery.channel] = delivery

    def channel(self, name: str) -> Delivery:
        return self._channels[name]

    def supports(self, channel: str) -> bool:
        return channel in self._channels

    async def recipients(self, household_id: int) -> list[Recipient]:
        """Every logged-in, unblocked conversation of the household on a known channel."""
        async with self.database.reading() as db:
            conversations = await conversations_of_household(db, household_id)
        return [
            Recipient(c.id, c.channel, c.key, pick_locale((c.state or {}).get("locale")))
            for c in conversations
            if c.blocked_at is None and c.channel in self._channels
        ]

    async def push(self, recipient: Recipient, reply: Reply, key: str | None = None) -> bool:
        """Deliver one message; False when the recipient blocked us (and is marked so)."""
        try:
            await self._channels[recipient.channel].send(recipient, reply, key)
        except DeliveryBlocked:
            log.info(
                "conversation %s blocked the bot: marked, not retried", recipient.conversation_id
            )
            async with self.database.writing() as db:
                await mark_blocked(db, recipient.conversation_id, self.clock.now())
            return False
        return True

    async def push_to_household(
        self, household_id: int, render: Callable[[Translator], list[Reply]]
    ) -> int:
        """Render the message in each recipient's language and deliver it; count delivered.

        A recipient the channel cannot reach (after its own retries) is logged and skipped:
        the household's other conversations still get the message.
        """
        delivered = 0
        for recipient in await self.recipients(household_id):
            for reply in render(Translator(recipient.locale)):
                try:
                    sent = await self.push(recipient, reply)
                except Exception:
                    log.exception("could not deliver to conversation %s", recipient.conversation_id)
                    break
                if not sent:
                    break  # blocked: the rest of this message would be refused as well
                delivered += 1
        return delivered

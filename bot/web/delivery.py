"""Web chat delivery: the message goes to the conversation's inbox and its open sockets."""

from __future__ import annotations

from booking.clock import Clock
from booking.db import Database
from bot.delivery import Recipient
from bot.web.push import WebPushHub
from dialogs.replies import Reply


class WebDelivery:
    channel = "web"

    def __init__(self, hub: WebPushHub, database: Database, clock: Clock) -> None:
        self.hub = hub
        self.database = database
        self.clock = clock

    async def send(self, recipient: Recipient, reply: Reply, key: str | None = None) -> None:
        await self.hub.deliver(
            self.database, recipient.conversation_id, reply, self.clock.now(), key
        )

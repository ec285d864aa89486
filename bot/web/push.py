"""Messages sent outside a turn: kept in the conversation's inbox and pushed to open sockets."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from aiohttp import web

from booking.db import Database
from booking.services.conversations import push_message
from bot.web.messages import message_json
from dialogs.replies import Reply

log = logging.getLogger(__name__)


class WebPushHub:
    """The open WebSockets of each web conversation, in this process."""

    def __init__(self) -> None:
        self._sockets: dict[int, set[web.WebSocketResponse]] = defaultdict(set)

    def attach(self, conversation_id: int, socket: web.WebSocketResponse) -> None:
        self._sockets[conversation_id].add(socket)

    def detach(self, conversation_id: int, socket: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(conversation_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[conversation_id]

    async def publish(self, conversation_id: int, message: dict[str, Any]) -> None:
        for socket in list(self._sockets.get(conversation_id, ())):
            try:
                await socket.send_json(message)
            except (ConnectionError, RuntimeError):
                self.detach(conversation_id, socket)

    async def deliver(
        self,
        database: Database,
        conversation_id: int,
        reply: Reply,
        now,  # noqa: ANN001
        delivery_key: str | None = None,
    ) -> dict | None:
        """Store the message in the inbox (the next visit sees it), then push it live; once
        per `delivery_key` (None when it was delivered before)."""
        async with database.writing() as db:
            stored = await push_message(db, conversation_id, {}, now, delivery_key)
            if stored is None:
                return None
            await db.flush()
            body = message_json(stored.message_id, reply)
            stored.body = body
        await self.publish(conversation_id, body)
        return body

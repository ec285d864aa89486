"""Every web chat message reaches every open page of its conversation: messages sent outside
a turn (kept in the inbox) and each turn's replies (kept for the history a reload shows)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from aiohttp import WSCloseCode, web

from booking.db import Database
from booking.services.conversations import (
    keep_replies,
    push_message,
    start_history_if_household_changed,
)
from bot.web.messages import message_json
from dialogs.replies import Reply

log = logging.getLogger(__name__)


#: The first message of a turn that logged in or out: pages drop what they showed before.
HISTORY_START = "history_start"


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

    def open_sockets(self, conversation_id: int) -> int:
        return len(self._sockets.get(conversation_id, ()))

    async def close_all(self) -> None:
        """Close every open socket (the server stops): pages reconnect to the next one."""
        for sockets in list(self._sockets.values()):
            for socket in list(sockets):
                await socket.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutdown")

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

    async def share_turn(
        self,
        database: Database,
        conversation_id: int,
        messages: list[dict[str, Any]],
        household_id: int | None,
        now,  # noqa: ANN001
    ) -> list[dict[str, Any]]:
        """Keep a turn's replies for the history, then send them to every open page of the
        conversation (other tabs stay in step; the sender drops what it has by id).

        The first one says `history_start` when the turn logged in or out.
        """
        if not messages:
            return messages
        first_id = int(messages[0]["id"])
        try:
            async with database.writing() as db:
                if await start_history_if_household_changed(
                    db, conversation_id, first_id, household_id
                ):
                    messages = [{**messages[0], HISTORY_START: True}, *messages[1:]]
                await keep_replies(db, conversation_id, first_id, messages, now)
        except Exception:
            # The turn is done and saved: its answer still goes out, only unrecorded.
            log.exception("could not keep the replies of conversation %s", conversation_id)
        for message in messages:
            await self.publish(conversation_id, message)
        return messages

"""The idle timeout of logged-in web conversations (RIBAMBELLE_CHAT_IDLE_DAYS)."""

from __future__ import annotations

from datetime import datetime, timedelta

from booking.db import Database
from booking.services.conversations import (
    StaleConversation,
    find_conversation,
    save_conversation,
)
from dialogs.state import State


async def forget_idle_household(
    database: Database, channel: str, key: str, now: datetime, idle: timedelta
) -> bool:
    """Log out a conversation whose last turn is older than `idle`; True when it did.

    The cookie lives for months on a shared or lost device: past the idle time its next turn
    starts logged out (the household is forgotten, the language kept), and the page drops what
    it showed, as after a logout. A turn racing this one wins: it was not idle.
    """
    async with database.reading() as db:  # the usual case writes nothing
        conversation = await find_conversation(db, channel, key)
    if (
        conversation is None
        or conversation.household_id is None
        or conversation.updated_at > now - idle
    ):
        return False
    kept = State(locale=State.from_json(conversation.state).locale)
    async with database.writing() as db:
        try:
            await save_conversation(
                db,
                conversation,
                state=kept.to_json(),
                household_id=None,
                guardian_id=None,
                messages=0,
                now=now,
            )
        except StaleConversation:
            return False
    return True

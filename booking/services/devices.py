"""Connected devices: the conversations (web chats, Telegram chats) logged in to a household,
listed for it and ended by it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Conversation, Guardian


@dataclass(frozen=True)
class Device:
    conversation_id: int
    channel: str  # "web", "telegram"
    guardian_name: str  # the first name of the guardian logged in there
    opened_at: datetime  # the conversation's first message
    last_used_at: datetime  # its last turn


async def connected_devices(db: AsyncSession, household_id: int) -> list[Device]:
    """The household's logged-in conversations, the most recently used first."""
    rows = await db.execute(
        select(Conversation, Guardian.first_name)
        .outerjoin(Guardian, Guardian.id == Conversation.guardian_id)
        .where(Conversation.household_id == household_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )
    return [
        Device(c.id, c.channel, name or "", c.created_at, c.updated_at) for c, name in rows.all()
    ]


async def end_devices(
    db: AsyncSession,
    household_id: int,
    conversation_ids: list[int],
    logged_out: Callable[[dict], dict],
) -> int:
    """Log conversations of the household out; returns how many were still logged in.

    Rules: only the household's own conversations; each forgets the household (its state
    becomes `logged_out(state)`) and so receives no more pushes; its version moves, so that a
    turn running there meanwhile is replayed on the logged-out state.
    """
    if not conversation_ids:
        return 0
    conversations = await db.scalars(
        select(Conversation)
        .where(
            Conversation.household_id == household_id,
            Conversation.id.in_(conversation_ids),
        )
        .with_for_update()
    )
    ended = 0
    for conversation in conversations:
        conversation.state = logged_out(dict(conversation.state or {}))
        conversation.household_id = None
        conversation.guardian_id = None
        conversation.version += 1
        ended += 1
    await db.flush()
    return ended

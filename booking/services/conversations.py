"""Persistence of chat conversations: load, save with a version check, pushed messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Conversation, PushedMessage


class StaleConversation(Exception):
    """Another message changed this conversation since it was loaded."""


async def find_conversation(db: AsyncSession, channel: str, key: str) -> Conversation | None:
    return await db.scalar(
        select(Conversation).where(Conversation.channel == channel, Conversation.key == key)
    )


async def open_conversation(
    db: AsyncSession, channel: str, key: str, now: datetime
) -> Conversation:
    """The conversation for (channel, key), created empty on first contact."""
    conversation = await find_conversation(db, channel, key)
    if conversation is None:
        conversation = Conversation(
            channel=channel, key=key, state={}, version=0, created_at=now, updated_at=now
        )
        db.add(conversation)
        await db.flush()
    return conversation


async def save_conversation(
    db: AsyncSession,
    conversation: Conversation,
    *,
    state: dict,
    household_id: int | None,
    guardian_id: int | None,
    messages: int,
    now: datetime,
) -> int:
    """Store the new state if nobody else did meanwhile; returns the first new message id.

    Raises StaleConversation when the version moved: the caller rolls back and replays.
    """
    result = await db.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.version == conversation.version)
        .values(
            state=state,
            version=conversation.version + 1,
            household_id=household_id,
            guardian_id=guardian_id,
            last_message_id=Conversation.last_message_id + messages,
            updated_at=now,
        )
        .returning(Conversation.last_message_id)
        .execution_options(synchronize_session=False)
    )
    # Read back: a message pushed meanwhile moved the counter without changing the version.
    last_id = result.scalar_one_or_none()
    if last_id is None:
        raise StaleConversation(conversation.id)
    return last_id - messages + 1


async def push_message(
    db: AsyncSession,
    conversation_id: int,
    body: dict,
    now: datetime,
    delivery_key: str | None = None,
) -> PushedMessage | None:
    """Keep a message sent outside a turn; it takes the conversation's next message id.

    None when a message of that `delivery_key` is there already (a delivery retried).
    """
    if delivery_key is not None and await db.scalar(
        select(PushedMessage.id).where(PushedMessage.delivery_key == delivery_key)
    ):
        return None
    message_id = await db.scalar(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(last_message_id=Conversation.last_message_id + 1)
        .returning(Conversation.last_message_id)
    )
    if message_id is None:
        raise LookupError(conversation_id)
    message = PushedMessage(
        conversation_id=conversation_id,
        message_id=message_id,
        body=body,
        created_at=now,
        delivery_key=delivery_key,
    )
    db.add(message)
    return message


async def pushed_after(
    db: AsyncSession, conversation_id: int, after: int, limit: int = 100
) -> list[PushedMessage]:
    return list(
        (
            await db.scalars(
                select(PushedMessage)
                .where(
                    PushedMessage.conversation_id == conversation_id,
                    PushedMessage.message_id > after,
                )
                .order_by(PushedMessage.message_id)
                .limit(limit)
            )
        ).all()
    )


async def conversations_of_household(db: AsyncSession, household_id: int) -> list[Conversation]:
    return list(
        (
            await db.scalars(select(Conversation).where(Conversation.household_id == household_id))
        ).all()
    )

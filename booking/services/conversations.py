"""Persistence of chat conversations: load, save with a version check, pushed messages and
the web chat's history (replies kept for a reload, from the last login or logout on)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Conversation, PushedMessage
from booking.models.conversations import MessageKind

#: How long a web chat keeps its messages (the inbox and the history a reload shows).
KEEP_MESSAGES = timedelta(days=7)
#: At most this many messages come back with a reload.
HISTORY_LENGTH = 50


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
    """Messages pushed after `after`, since the conversation's last login or logout."""
    return list(
        (
            await db.scalars(
                _since_history_start(conversation_id)
                .where(PushedMessage.message_id > after, PushedMessage.kind == MessageKind.PUSH)
                .order_by(PushedMessage.message_id)
                .limit(limit)
            )
        ).all()
    )


def _since_history_start(conversation_id: int):  # noqa: ANN202
    return (
        select(PushedMessage)
        .join(Conversation, Conversation.id == PushedMessage.conversation_id)
        .where(
            PushedMessage.conversation_id == conversation_id,
            PushedMessage.message_id >= Conversation.history_from,
        )
    )


async def start_history_if_household_changed(
    db: AsyncSession, conversation_id: int, first_id: int, household_id: int | None
) -> bool:
    """Start the history at `first_id` when the turn that sent it changed the household (a
    login, a logout); True when it did.

    A turn saved earlier but kept later (two tabs racing) never moves the start back.
    """
    moved = await db.scalar(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.history_from < first_id,
            Conversation.history_household_id.is_distinct_from(household_id),
        )
        .values(history_from=first_id, history_household_id=household_id)
        .returning(Conversation.id)
        .execution_options(synchronize_session=False)
    )
    return moved is not None


async def keep_replies(
    db: AsyncSession,
    conversation_id: int,
    first_id: int,
    bodies: Sequence[dict],
    now: datetime,
) -> None:
    """Keep a turn's replies (ids from `first_id` on) for the history, and forget this
    conversation's replies older than KEEP_MESSAGES."""
    if bodies:
        await db.execute(
            insert(PushedMessage),
            [
                {
                    "conversation_id": conversation_id,
                    "message_id": first_id + index,
                    "body": body,
                    "created_at": now,
                    "kind": MessageKind.REPLY,
                }
                for index, body in enumerate(bodies)
            ],
        )
    await db.execute(
        delete(PushedMessage).where(
            PushedMessage.conversation_id == conversation_id,
            PushedMessage.kind == MessageKind.REPLY,
            PushedMessage.created_at < now - KEEP_MESSAGES,
        )
    )


async def history(
    db: AsyncSession,
    conversation_id: int,
    now: datetime,
    *,
    after: int | None = None,
    limit: int = HISTORY_LENGTH,
) -> tuple[int, list[PushedMessage]]:
    """(the history's first message id, its messages): the last `limit` ones, or the first
    `limit` after `after`; replies and pushed messages of the last KEEP_MESSAGES, since the
    conversation's last login or logout."""
    start = await db.scalar(
        select(Conversation.history_from).where(Conversation.id == conversation_id)
    )
    query = _since_history_start(conversation_id).where(
        PushedMessage.created_at >= now - KEEP_MESSAGES
    )
    if after is not None:
        query = query.where(PushedMessage.message_id > after).order_by(PushedMessage.message_id)
        return start or 0, list((await db.scalars(query.limit(limit))).all())
    query = query.order_by(PushedMessage.message_id.desc()).limit(limit)
    return start or 0, list(reversed((await db.scalars(query)).all()))


async def purge_messages(db: AsyncSession, now: datetime) -> int:
    """Forget turn replies older than KEEP_MESSAGES, in every conversation (a sweep).

    Pushed messages (receipts, reminders) stay for the inbox: the history shows only the
    last KEEP_MESSAGES of them anyway."""
    result = await db.execute(
        delete(PushedMessage).where(
            PushedMessage.kind == MessageKind.REPLY,
            PushedMessage.created_at < now - KEEP_MESSAGES,
        )
    )
    return result.rowcount


async def conversations_of_household(db: AsyncSession, household_id: int) -> list[Conversation]:
    return list(
        (
            await db.scalars(select(Conversation).where(Conversation.household_id == household_id))
        ).all()
    )

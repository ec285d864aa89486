"""Chat conversations: the dialog state of each channel conversation, and pushed messages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from booking.models.base import Base, enum_column


class Conversation(Base):
    """One conversation on one channel (a web chat token's hash, a Telegram chat id).

    `state` is the dialog engine's serialised state; `version` guards it against two
    messages racing on one conversation (optimistic concurrency). The web chat's history
    starts at `history_from`, the first message after the household last changed (a login,
    a logout): the next person at a shared tablet sees nothing of the previous household.
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("guardians.id"), index=True)
    last_message_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Set when the channel refuses delivery for good (a Telegram user who blocked the bot).
    blocked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    history_from: Mapped[int] = mapped_column(Integer, default=0)
    # The household the history from `history_from` belongs to (None: nobody logged in).
    history_household_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class MessageKind(StrEnum):
    PUSH = "push"  # sent outside a turn: payment result, reminder, waitlist offer
    REPLY = "reply"  # a turn's reply, kept for the history shown after a reload


class PushedMessage(Base):
    """A web chat message kept for a while: pushed ones for the inbox, and every one for the
    history a reload shows (`kind`)."""

    __tablename__ = "pushed_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]
    # The outbox's key: a notification delivered again is not shown twice.
    delivery_key: Mapped[str | None] = mapped_column(String(300), unique=True, nullable=True)
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind), default=MessageKind.PUSH)


class LinkCode(Base):
    """A one-time code that links another channel (Telegram) to a logged-in guardian."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    guardian_id: Mapped[int] = mapped_column(ForeignKey("guardians.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Lease(Base):
    """A named lease held by one process (the Telegram poller), renewed while it lives."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]

"""The notification outbox: messages to families, written with the change that causes them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from booking.models.base import Base, enum_column


class NoticeKind(enum.StrEnum):
    BOOKING_CONFIRMED = "booking_confirmed"
    BOOKING_CANCELLED = "booking_cancelled"  # by the parent
    SESSION_CANCELLED = "session_cancelled"  # by the town
    PAYMENT_RESULT = "payment_result"
    BASKET_EXPIRING = "basket_expiring"
    WAITLIST_OFFER = "waitlist_offer"
    REMINDER = "reminder"  # the evening before booked sessions
    PAYMENT_REMINDER = "payment_reminder"  # a payment link not paid yet
    DAILY_REPORT = "daily_report"  # the compte rendu, by e-mail
    INVOICE_ISSUED = "invoice_issued"  # a monthly invoice or credit note (services/invoices)
    # Account e-mails, to one guardian's addresses only (`outbox.send_account_email`):
    PASSWORD_RESET = "password_reset"  # the one-time link to a new password
    EMAIL_CHANGE = "email_change"  # to the new addresses: the link that applies them
    EMAIL_CHANGE_NOTICE = "email_change_notice"  # to the old ones: a change was asked
    STAFF_MESSAGE = "staff_message"  # staff wrote to the families of a session, activity, day
    # The town's staff decided (back office): approved, or refused with a reason.
    DOSSIER_DECIDED = "dossier_decided"
    ENROLMENT_DECIDED = "enrolment_decided"


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"  # failed too often, or refused for good: left for the operator
    SKIPPED = "skipped"  # the recipient is gone (blocked the bot, logged out)


class OutboxMessage(Base):
    """One notification to one recipient on one channel, delivered at least once.

    `delivery_key` is unique: a job that runs twice (two processes) writes the message once,
    and the channel uses it to drop a repeat (web inbox, e-mail Message-ID). `address` is a
    conversation id (web, Telegram) or the household's e-mail addresses.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    kind: Mapped[NoticeKind] = mapped_column(enum_column(NoticeKind))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(500))
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    delivery_key: Mapped[str] = mapped_column(String(300), unique=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[OutboxState] = mapped_column(
        enum_column(OutboxState), default=OutboxState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)

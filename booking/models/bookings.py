"""Bookings, the baskets that hold them, and the append-only journal of every change."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.models.base import AppendOnly, Base, enum_column
from booking.models.catalogue import Session
from booking.models.people import Participant


class BookingState(enum.StrEnum):
    HELD = "held"
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


#: States that take a place in the session.
PLACE_TAKING = (BookingState.HELD, BookingState.PENDING_PAYMENT, BookingState.CONFIRMED)
#: States in which a participant is still "on" the session (no second booking allowed).
ACTIVE = (*PLACE_TAKING, BookingState.WAITLISTED)

_ACTIVE_SQL = "state IN ('held', 'pending_payment', 'confirmed', 'waitlisted')"


class BasketState(enum.StrEnum):
    OPEN = "open"
    CHECKED_OUT = "checked_out"
    ABANDONED = "abandoned"


class Channel(enum.StrEnum):
    WEB = "web"
    TELEGRAM = "telegram"
    STAFF = "staff"
    SYSTEM = "system"
    CLI = "cli"


class Basket(Base):
    """A household's selection in progress; its items are held bookings with an expiry."""

    __tablename__ = "baskets"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    state: Mapped[BasketState] = mapped_column(enum_column(BasketState), default=BasketState.OPEN)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Booking(Base):
    """A participant's place (or place in line) in one session, with the price fixed when made."""

    __tablename__ = "bookings"
    __table_args__ = (
        Index(
            "uq_bookings_active_participant_session",
            "participant_id",
            "session_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_bookings_session_state", "session_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    basket_id: Mapped[int | None] = mapped_column(ForeignKey("baskets.id"), index=True)
    state: Mapped[BookingState] = mapped_column(enum_column(BookingState))
    price_cents: Mapped[int] = mapped_column(Integer, default=0)
    coupons: Mapped[int] = mapped_column(Integer, default=0)
    supplement_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    bus_stop_id: Mapped[int | None] = mapped_column(ForeignKey("bus_stops.id"), nullable=True)
    created_at: Mapped[datetime]
    held_until: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)

    session: Mapped[Session] = relationship(lazy="raise")
    participant: Mapped[Participant] = relationship(lazy="raise")


class EventKind(enum.StrEnum):
    HELD = "held"
    REMOVED = "removed"
    CONFIRMED = "confirmed"
    PENDING_PAYMENT = "pending_payment"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    CANCELLED_BY_TOWN = "cancelled_by_town"
    EXPIRED = "expired"
    PLACE_FREED = "place_freed"
    WAITLIST_PROMOTED = "waitlist_promoted"
    PAID = "paid"
    REFUNDED = "refunded"


class BookingEvent(AppendOnly, Base):
    """One movement (mouvement): who did what to which booking, when, through which channel."""

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    data: Mapped[dict] = mapped_column(JSON, default=dict)

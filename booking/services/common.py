"""What every service shares: the actor, the event journal, the capacity lock and count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    PLACE_TAKING,
    Booking,
    BookingEvent,
    BookingState,
    Channel,
    EventKind,
    Participant,
    Session,
)
from booking.refusals import Refusal, Refused


@dataclass(frozen=True)
class Actor:
    """Who acts: a guardian of a household through a channel, the staff, or the system."""

    channel: Channel
    household_id: int | None = None
    guardian_id: int | None = None
    staff: str | None = None
    conversation_id: int | None = None  # where the parent acts: told there, not pushed to

    @property
    def label(self) -> str:
        if self.guardian_id is not None:
            return f"guardian:{self.guardian_id}"
        if self.staff is not None:
            return f"staff:{self.staff}"
        return "system"

    @classmethod
    def system(cls) -> Actor:
        return cls(channel=Channel.SYSTEM)


def record_event(
    db: AsyncSession,
    *,
    kind: EventKind,
    at: datetime,
    actor: Actor,
    booking: Booking | None = None,
    session_id: int | None = None,
    household_id: int | None = None,
    **data: Any,
) -> BookingEvent:
    event = BookingEvent(
        at=at,
        kind=kind,
        booking_id=booking.id if booking is not None else None,
        session_id=booking.session_id if booking is not None else session_id,
        household_id=booking.household_id if booking is not None else household_id,
        actor=actor.label,
        channel=actor.channel,
        data=data,
    )
    db.add(event)
    return event


def confirm(
    db: AsyncSession, booking: Booking, *, now: datetime, actor: Actor, mode: str, **data: Any
) -> None:
    """The booking takes its place for good (a basket confirmed, a payment received)."""
    booking.state = BookingState.CONFIRMED
    booking.confirmed_at = now
    booking.held_until = None
    booking.ended_at = None
    record_event(
        db,
        kind=EventKind.CONFIRMED,
        at=now,
        actor=actor,
        booking=booking,
        price_cents=booking.price_cents,
        coupons=booking.coupons,
        mode=mode,
        **data,
    )


async def lock_session(db: AsyncSession, session_id: int) -> Session:
    """Take the capacity lock of a session and load it with its activity.

    The UPDATE is a row lock on PostgreSQL and, inside our BEGIN IMMEDIATE transactions, the
    database write lock on SQLite: concurrent bookings of one session queue here.
    """
    result = await db.execute(
        update(Session)
        .where(Session.id == session_id)
        .values(lock_version=Session.lock_version + 1)
        .returning(Session.id)
    )
    if result.scalar_one_or_none() is None:
        raise Refused(Refusal.UNKNOWN_SESSION, session_id=session_id)
    return await load_session(db, session_id)


async def load_session(db: AsyncSession, session_id: int) -> Session:
    from sqlalchemy.orm import joinedload

    session = await db.scalar(
        select(Session)
        .where(Session.id == session_id)
        .options(joinedload(Session.activity))
        .execution_options(populate_existing=True)
    )
    if session is None:
        raise Refused(Refusal.UNKNOWN_SESSION, session_id=session_id)
    return session


async def reread(db: AsyncSession, booking: Booking) -> None:
    """Read a booking's state again once its session's lock is held.

    It was loaded before the lock: on PostgreSQL another transaction (a sweep, the same
    parent in a second tab) may have changed it meanwhile, and acting on the stale copy
    would refund, confirm or free a place twice.
    """
    await db.flush()  # refresh() would silently drop this transaction's unflushed changes
    await db.refresh(
        booking, attribute_names=["state", "held_until", "basket_id", "confirmed_at", "ended_at"]
    )


async def lock_participant(db: AsyncSession, participant_id: int) -> Participant | None:
    """Serialise bookings of one participant (double booking and overlap checks)."""
    return await db.scalar(
        select(Participant).where(Participant.id == participant_id).with_for_update()
    )


async def places_taken(db: AsyncSession, session_id: int) -> int:
    return (
        await db.scalar(
            select(func.count(Booking.id)).where(
                Booking.session_id == session_id, Booking.state.in_(PLACE_TAKING)
            )
        )
        or 0
    )

"""Places coming free: expired holds, the sweep, and the waitlist taking the freed places."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from booking.models import (
    Basket,
    BasketState,
    Booking,
    BookingState,
    EventKind,
    NoticeKind,
    PaymentMode,
    Session,
    Structure,
)
from booking.services.common import Actor, lock_session, places_taken, record_event
from booking.services.outbox import booking_item, notify

STALE_STATES = (BookingState.HELD, BookingState.PENDING_PAYMENT)


async def open_basket(db: AsyncSession, household_id: int, now: datetime) -> Basket:
    """The household's open basket, opened when there is none."""
    basket = await db.scalar(
        select(Basket)
        .where(Basket.household_id == household_id, Basket.state == BasketState.OPEN)
        .order_by(Basket.id.desc())
        .limit(1)
    )
    if basket is None:
        basket = Basket(household_id=household_id, state=BasketState.OPEN, created_at=now)
        db.add(basket)
        await db.flush()
    return basket


async def waitlist_position(db: AsyncSession, booking: Booking) -> int:
    """1 for the first in line."""
    ahead = await db.scalar(
        select(func.count(Booking.id)).where(
            Booking.session_id == booking.session_id,
            Booking.state == BookingState.WAITLISTED,
            # Ids are given under the session's lock, so they are the order of arrival;
            # `created_at` is read before the lock and may disagree under contention.
            Booking.id < booking.id,
        )
    )
    return (ahead or 0) + 1


def end_booking(booking: Booking, state: BookingState, now: datetime) -> None:
    booking.state = state
    booking.ended_at = now
    booking.held_until = None


async def give_freed_places(
    db: AsyncSession, session: Session, now: datetime, actor: Actor
) -> None:
    """Record the freed place and give free places to the waitlist, first come first served.

    Must be called under the session's capacity lock. An invoiced activity confirms the
    promoted booking at once; otherwise it is held in the household's basket for the
    structure's waitlist hold, to be confirmed or paid by the parent.
    """
    record_event(db, kind=EventKind.PLACE_FREED, at=now, actor=actor, session_id=session.id)
    activity = session.activity
    if not activity.waitlist_enabled:
        return
    free = session.capacity - await places_taken(db, session.id)
    if free <= 0:
        return
    waiting = (
        await db.scalars(
            select(Booking)
            .where(Booking.session_id == session.id, Booking.state == BookingState.WAITLISTED)
            .options(joinedload(Booking.participant))
            .order_by(Booking.id)
            .limit(free)
        )
    ).all()
    if not waiting:
        return
    hold_minutes = await db.scalar(
        select(Structure.waitlist_hold_minutes).where(Structure.id == activity.structure_id)
    )
    for booking in waiting:
        payment = None
        if activity.payment_mode is PaymentMode.INVOICE:
            booking.state = BookingState.CONFIRMED
            booking.confirmed_at = now
        else:
            booking.state = BookingState.HELD
            booking.held_until = now + timedelta(minutes=hold_minutes or 0)
            booking.basket_id = (await open_basket(db, booking.household_id, now)).id
        if activity.payment_mode is PaymentMode.IMMEDIATE:
            # Offered with its own payment link; unpaid in time, the next in line gets it.
            from booking.services.payments import start_offer_payment

            booking.state = BookingState.PENDING_PAYMENT
            payment = await start_offer_payment(db, booking, session, now)
        record_event(
            db,
            kind=EventKind.WAITLIST_PROMOTED,
            at=now,
            actor=actor,
            booking=booking,
            state=booking.state.value,
            held_until=booking.held_until.isoformat() if booking.held_until else None,
        )
        await notify(
            db,
            household_id=booking.household_id,
            kind=NoticeKind.WAITLIST_OFFER,
            key=f"waitlist_offer:{booking.id}:{now.isoformat()}",
            data={
                **booking_item(booking, session=session),
                "state": booking.state.value,
                "mode": activity.payment_mode.value,
                "held_until": booking.held_until.isoformat() if booking.held_until else None,
                "pay_token": payment.token if payment is not None else None,
            },
            now=now,
        )


async def expire_stale_holds(db: AsyncSession, session: Session, now: datetime) -> list[Booking]:
    """Expire the holds of this session whose time is up; under the session's lock."""
    stale = (
        await db.scalars(
            select(Booking).where(
                Booking.session_id == session.id,
                Booking.state.in_(STALE_STATES),
                Booking.held_until <= now,
            )
        )
    ).all()
    if not stale:
        return []
    actor = Actor.system()
    for booking in stale:
        previous = booking.state
        end_booking(booking, BookingState.EXPIRED, now)
        record_event(
            db, kind=EventKind.EXPIRED, at=now, actor=actor, booking=booking, was=previous.value
        )
    await give_freed_places(db, session, now, actor)
    return list(stale)


async def sweep_expired_holds(db: AsyncSession, now: datetime) -> int:
    """Release every hold whose time is up, session by session (in id order: no deadlocks)."""
    session_ids = (
        await db.scalars(
            select(Booking.session_id)
            .where(Booking.state.in_(STALE_STATES), Booking.held_until <= now)
            .distinct()
            .order_by(Booking.session_id)
        )
    ).all()
    expired = 0
    for session_id in session_ids:
        session = await lock_session(db, session_id)
        expired += len(await expire_stale_holds(db, session, now))
    return expired

"""Cancelling: by the parent (within the deadline, with refunds) and by the town (a session)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    ACTIVE,
    PLACE_TAKING,
    Booking,
    BookingState,
    EventKind,
    LedgerKind,
    NoticeKind,
    Participant,
    PaymentMode,
    Session,
    Structure,
    WalletKind,
)
from booking.refusals import Refusal, Refused
from booking.services.basket import check_adults_remain, owned_booking, remove_from_basket
from booking.services.common import Actor, lock_session, record_event, reread
from booking.services.eligibility import cancellation_deadline
from booking.services.holds import end_booking, give_freed_places
from booking.services.outbox import booking_item, notify
from booking.services.payments import request_provider_refund
from booking.services.wallets import post_entry


@dataclass(frozen=True)
class Cancellation:
    booking: Booking
    refund_cents: int = 0
    refund_coupons: int = 0
    to_card: bool = False  # the money goes back through the payment provider


def cancellation_refusal(
    booking: Booking, session: Session, now: datetime, tz: ZoneInfo
) -> Refused | None:
    """Whether the parent may cancel this booking now (None) or why not.

    Held, waitlisted and unpaid bookings can always be dropped. A confirmed booking can be
    cancelled until the cancellation deadline; after it, coupon activities still allow it
    without refund (as towns do), other modes refuse.
    """
    if booking.state not in ACTIVE:
        return Refused(Refusal.NOT_CANCELLABLE, state=booking.state.value)
    if booking.state is not BookingState.CONFIRMED:
        return None
    if now >= session.starts_at:
        return Refused(Refusal.CANCELLATION_PAST_DEADLINE, deadline=session.starts_at)
    deadline = cancellation_deadline(session.activity, session, tz)
    if now >= deadline and session.activity.payment_mode is not PaymentMode.COUPONS:
        return Refused(Refusal.CANCELLATION_PAST_DEADLINE, deadline=deadline)
    return None


def refund_due(booking: Booking, session: Session, now: datetime, tz: ZoneInfo) -> tuple[int, int]:
    """(cents, coupons) given back when cancelling a confirmed booking now."""
    if booking.state is not BookingState.CONFIRMED:
        return 0, 0
    if now >= cancellation_deadline(session.activity, session, tz):
        return 0, 0
    mode = session.activity.payment_mode
    if mode is PaymentMode.COUPONS:
        return 0, booking.coupons
    if mode in (PaymentMode.WALLET, PaymentMode.IMMEDIATE):
        return booking.price_cents, 0
    return 0, 0


async def cancel_booking(
    db: AsyncSession, *, actor: Actor, booking_id: int, now: datetime
) -> Cancellation:
    """Cancel one booking of the actor's household; refund and free the place.

    Rules: see `cancellation_refusal`; inside the deadline, wallet and paid bookings are
    credited to the euro wallet and coupons back to the coupon wallet; in a family session
    an adult cannot leave children without enough adults. The freed place goes to the
    waitlist.
    """
    booking = await owned_booking(db, actor, booking_id)
    session = await lock_session(db, booking.session_id)
    await reread(db, booking)
    if booking.state is BookingState.HELD:
        return Cancellation(
            await remove_from_basket(db, actor=actor, booking_id=booking_id, now=now)
        )
    structure = await db.get(Structure, session.activity.structure_id)
    tz = ZoneInfo(structure.timezone if structure else "Europe/Paris")
    refusal = cancellation_refusal(booking, session, now, tz)
    if refusal is not None:
        raise refusal
    await check_adults_remain(db, booking, session)
    refund_cents, refund_coupons = refund_due(booking, session, now, tz)
    took_place = booking.state in PLACE_TAKING
    end_booking(booking, BookingState.CANCELLED, now)
    to_card = await _refund(
        db,
        booking,
        refund_cents,
        refund_coupons,
        now,
        label=session.activity.name,
        via_provider=structure is not None and structure.refund_via_provider,
    )
    record_event(
        db,
        kind=EventKind.CANCELLED,
        at=now,
        actor=actor,
        booking=booking,
        refund_cents=refund_cents,
        refund_coupons=refund_coupons,
        **({"to_card": True} if to_card else {}),
    )
    if took_place:
        await give_freed_places(db, session, now, actor)
    await notify(
        db,
        household_id=booking.household_id,
        kind=NoticeKind.BOOKING_CANCELLED,
        key=f"cancelled:booking:{booking.id}",
        data={
            "items": [booking_item(booking, session=session)],
            "refund_cents": refund_cents,
            "refund_coupons": refund_coupons,
            "to_card": to_card,
        },
        now=now,
        skip_conversation_id=actor.conversation_id,
    )
    return Cancellation(booking, refund_cents, refund_coupons, to_card)


async def _refund(
    db: AsyncSession,
    booking: Booking,
    cents: int,
    coupons: int,
    now: datetime,
    *,
    label: str,
    via_provider: bool = False,
) -> bool:
    """Give back; True when the euros go back through the payment provider (the structure's
    setting, for a booking paid online), otherwise they are credited to the wallet."""
    to_card = False
    if cents and via_provider:
        to_card = (
            await request_provider_refund(
                db, booking=booking, amount_cents=cents, label=label, now=now
            )
            is not None
        )
    if cents and not to_card:
        await post_entry(
            db,
            household_id=booking.household_id,
            kind=WalletKind.EUROS,
            amount=cents,
            entry_kind=LedgerKind.REFUND,
            at=now,
            label=label,
            booking_id=booking.id,
        )
    if coupons:
        await post_entry(
            db,
            household_id=booking.household_id,
            kind=WalletKind.COUPONS,
            amount=coupons,
            entry_kind=LedgerKind.REFUND,
            at=now,
            label=label,
            booking_id=booking.id,
        )
    return to_card


async def cancel_session(
    db: AsyncSession, *, actor: Actor, session_id: int, now: datetime, reason: str = ""
) -> list[Cancellation]:
    """The town cancels a session: every booking is cancelled and fully refunded."""
    session = await lock_session(db, session_id)
    if session.cancelled_at is not None:
        return []
    session.cancelled_at = now
    bookings = (
        await db.scalars(
            select(Booking).where(Booking.session_id == session.id, Booking.state.in_(ACTIVE))
        )
    ).all()
    done = []
    mode = session.activity.payment_mode
    structure = await db.get(Structure, session.activity.structure_id)
    via_provider = structure is not None and structure.refund_via_provider
    for booking in bookings:
        paid = booking.state is BookingState.CONFIRMED
        cents = (
            booking.price_cents
            if paid and mode in (PaymentMode.WALLET, PaymentMode.IMMEDIATE)
            else 0
        )
        coupons = booking.coupons if paid and mode is PaymentMode.COUPONS else 0
        end_booking(booking, BookingState.CANCELLED, now)
        to_card = await _refund(
            db, booking, cents, coupons, now, label=session.activity.name, via_provider=via_provider
        )
        record_event(
            db,
            kind=EventKind.CANCELLED_BY_TOWN,
            at=now,
            actor=actor,
            booking=booking,
            refund_cents=cents,
            refund_coupons=coupons,
            reason=reason,
            **({"to_card": True} if to_card else {}),
        )
        done.append(Cancellation(booking, cents, coupons, to_card))
    participants = {
        participant.id: participant.first_name
        for participant in await db.scalars(
            select(Participant).where(
                Participant.id.in_([item.booking.participant_id for item in done])
            )
        )
    }
    for household_id in sorted({item.booking.household_id for item in done}):
        mine = [item for item in done if item.booking.household_id == household_id]
        await notify(
            db,
            household_id=household_id,
            kind=NoticeKind.SESSION_CANCELLED,
            key=f"session_cancelled:{session.id}:{household_id}",
            data={
                "activity": session.activity.name,
                "day": session.day.isoformat(),
                "participants": [participants[item.booking.participant_id] for item in mine],
                "refund_cents": sum(item.refund_cents for item in mine),
                "refund_coupons": sum(item.refund_coupons for item in mine),
                "to_card": any(item.to_card for item in mine),
                "reason": reason,
            },
            now=now,
        )
    return done

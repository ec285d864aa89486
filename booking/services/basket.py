"""The basket: add and remove held places, join a waitlist, and confirm (check out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from booking import rules
from booking.models import (
    ACTIVE,
    PLACE_TAKING,
    Basket,
    BasketState,
    Booking,
    BookingState,
    BusRoute,
    BusStop,
    EventKind,
    Household,
    LedgerKind,
    NoticeKind,
    Participant,
    PaymentMode,
    Session,
    WalletKind,
)
from booking.refusals import Refusal, Refused
from booking.services.common import (
    Actor,
    confirm,
    lock_participant,
    lock_session,
    places_taken,
    record_event,
    reread,
)
from booking.services.eligibility import (
    eligibility_refusal,
    load_household,
    load_participant,
    opening_waves,
    window_refusal,
)
from booking.services.holds import (
    end_booking,
    expire_stale_holds,
    give_freed_places,
    open_basket,
    waitlist_position,
)
from booking.services.outbox import booking_item, notify
from booking.services.pricing import price_of
from booking.services.wallets import get_wallet, post_entry


async def _check_no_clash(
    db: AsyncSession, participant: Participant, session: Session, now: datetime
) -> None:
    """No second booking of the same session, no overlapping session for one participant.

    A hold whose time is up no longer counts, even before the sweep has released it.
    """
    same = await db.scalar(
        select(Booking).where(
            Booking.participant_id == participant.id,
            Booking.session_id == session.id,
            Booking.state.in_(ACTIVE),
        )
    )
    if same is not None:
        raise Refused(Refusal.ALREADY_BOOKED, state=same.state.value, booking_id=same.id)
    clash = await db.scalar(
        select(Session)
        .join(Booking, Booking.session_id == Session.id)
        .where(
            Booking.participant_id == participant.id,
            Booking.state.in_(PLACE_TAKING),
            or_(Booking.held_until.is_(None), Booking.held_until > now),
            Session.starts_at < session.ends_at,
            Session.ends_at > session.starts_at,
        )
        .options(joinedload(Session.activity))
        .limit(1)
    )
    if clash is not None:
        raise Refused(
            Refusal.OVERLAP,
            session_id=clash.id,
            activity=clash.activity.name,
            starts_at=clash.starts_at,
        )


async def _check_family_ratio(
    db: AsyncSession, household: Household, participant: Participant, session: Session
) -> None:
    """Family sessions: each adult of the household brings at most N children."""
    ratio = session.activity.children_per_adult
    if ratio is None or rules.is_adult(participant.birth_date, session.day):
        return
    adults, children = await _family_counts(db, household.id, session)
    if (children + 1) > adults * ratio:
        raise Refused(Refusal.ADULT_REQUIRED, children_per_adult=ratio)


async def _family_counts(db: AsyncSession, household_id: int, session: Session) -> tuple[int, int]:
    births = (
        await db.scalars(
            select(Participant.birth_date)
            .join(Booking, Booking.participant_id == Participant.id)
            .where(
                Booking.household_id == household_id,
                Booking.session_id == session.id,
                Booking.state.in_(PLACE_TAKING),
            )
        )
    ).all()
    adults = sum(1 for birth in births if rules.is_adult(birth, session.day))
    return adults, len(births) - adults


async def check_adults_remain(db: AsyncSession, booking: Booking, session: Session) -> None:
    """Family sessions: an adult may not leave while the household's children need them."""
    ratio = session.activity.children_per_adult
    if ratio is None or booking.state not in PLACE_TAKING:
        return
    births = (
        await db.execute(
            select(Booking.id, Participant.birth_date)
            .join(Participant, Participant.id == Booking.participant_id)
            .where(
                Booking.household_id == booking.household_id,
                Booking.session_id == session.id,
                Booking.state.in_(PLACE_TAKING),
            )
        )
    ).all()
    remaining = [birth for booking_id, birth in births if booking_id != booking.id]
    adults = sum(1 for birth in remaining if rules.is_adult(birth, session.day))
    children = len(remaining) - adults
    if children > adults * ratio:
        raise Refused(Refusal.ADULT_STILL_NEEDED, children_per_adult=ratio)


async def _prepare(
    db: AsyncSession, actor: Actor, participant_id: int, session_id: int, now: datetime
) -> tuple[Household, Participant, Session]:
    """Load, lock (participant, then session) and check everything but capacity."""
    if actor.household_id is None:
        raise Refused(Refusal.UNKNOWN_PARTICIPANT, participant_id=participant_id)
    household = await load_household(db, actor.household_id)
    participant = await load_participant(db, household.id, participant_id)
    await lock_participant(db, participant.id)
    session = await lock_session(db, session_id)
    # Release this session's holds whose time is up first: an expired hold of this very
    # participant must not count as "already booked", nor an expired adult in the ratio.
    await expire_stale_holds(db, session, now)
    refusal = await eligibility_refusal(
        db, household=household, participant=participant, session=session, now=now
    )
    if refusal is not None:
        raise refusal
    await _check_no_clash(db, participant, session, now)
    await _check_family_ratio(db, household, participant, session)
    return household, participant, session


async def add_to_basket(
    db: AsyncSession,
    *,
    actor: Actor,
    participant_id: int,
    session_id: int,
    now: datetime,
    supplement_codes: Sequence[str] = (),
    bus_stop_id: int | None = None,
) -> Booking:
    """Hold a place for a participant in a session, in the household's open basket.

    Rules: eligibility and booking window; no double booking or overlap; family ratio;
    capacity (held + pending + confirmed never exceed it; when full, `Refusal.FULL` says
    whether the waitlist is open). The hold lasts the structure's `hold_minutes`.
    """
    household, participant, session = await _prepare(db, actor, participant_id, session_id, now)
    if await places_taken(db, session.id) >= session.capacity:
        raise Refused(Refusal.FULL, waitlist=session.activity.waitlist_enabled)
    if bus_stop_id is not None:
        await _check_bus_stop(db, session.activity_id, bus_stop_id)
    price, coupons = await price_of(
        db,
        session=session,
        household=household,
        participant=participant,
        supplement_codes=supplement_codes,
    )
    basket = await open_basket(db, household.id, now)
    booking = Booking(
        session_id=session.id,
        participant_id=participant.id,
        household_id=household.id,
        basket_id=basket.id,
        state=BookingState.HELD,
        price_cents=price,
        coupons=coupons,
        supplement_codes=list(supplement_codes),
        bus_stop_id=bus_stop_id,
        created_at=now,
        held_until=now + timedelta(minutes=household.structure.hold_minutes),
    )
    db.add(booking)
    await db.flush()
    record_event(db, kind=EventKind.HELD, at=now, actor=actor, booking=booking, price_cents=price)
    return booking


async def _check_bus_stop(db: AsyncSession, activity_id: int, bus_stop_id: int) -> None:
    found = await db.scalar(
        select(BusStop.id)
        .join(BusRoute, BusRoute.id == BusStop.route_id)
        .where(BusStop.id == bus_stop_id, BusRoute.activity_id == activity_id)
    )
    if found is None:
        raise Refused(Refusal.UNKNOWN_BUS_STOP, bus_stop_id=bus_stop_id)


async def join_waitlist(
    db: AsyncSession, *, actor: Actor, participant_id: int, session_id: int, now: datetime
) -> tuple[Booking, int]:
    """Put a participant in line for a full session; returns the booking and its position."""
    household, participant, session = await _prepare(db, actor, participant_id, session_id, now)
    if not session.activity.waitlist_enabled:
        raise Refused(Refusal.WAITLIST_UNAVAILABLE)
    if await places_taken(db, session.id) < session.capacity:
        raise Refused(Refusal.NOT_FULL)
    price, coupons = await price_of(
        db, session=session, household=household, participant=participant
    )
    booking = Booking(
        session_id=session.id,
        participant_id=participant.id,
        household_id=household.id,
        state=BookingState.WAITLISTED,
        price_cents=price,
        coupons=coupons,
        created_at=now,
    )
    db.add(booking)
    await db.flush()
    position = await waitlist_position(db, booking)
    record_event(
        db, kind=EventKind.WAITLISTED, at=now, actor=actor, booking=booking, position=position
    )
    return booking, position


async def owned_booking(db: AsyncSession, actor: Actor, booking_id: int) -> Booking:
    """A booking of the actor's household (any booking for staff and the system)."""
    booking = await db.scalar(
        select(Booking)
        .where(Booking.id == booking_id)
        .options(
            joinedload(Booking.session).joinedload(Session.activity),
            joinedload(Booking.participant),
        )
    )
    if booking is None or (
        actor.household_id is not None and booking.household_id != actor.household_id
    ):
        raise Refused(Refusal.UNKNOWN_BOOKING, booking_id=booking_id)
    return booking


async def remove_from_basket(
    db: AsyncSession, *, actor: Actor, booking_id: int, now: datetime
) -> Booking:
    """Take a held item out of the basket and free its place."""
    booking = await owned_booking(db, actor, booking_id)
    session = await lock_session(db, booking.session_id)
    await reread(db, booking)
    if booking.state is not BookingState.HELD:
        raise Refused(Refusal.NOT_CANCELLABLE, state=booking.state.value)
    await check_adults_remain(db, booking, session)
    end_booking(booking, BookingState.CANCELLED, now)
    record_event(db, kind=EventKind.REMOVED, at=now, actor=actor, booking=booking)
    await give_freed_places(db, session, now, actor)
    return booking


async def basket_items(db: AsyncSession, household_id: int) -> tuple[Basket | None, list[Booking]]:
    """The open basket and its held items, with sessions, activities and participants."""
    basket = await db.scalar(
        select(Basket)
        .where(Basket.household_id == household_id, Basket.state == BasketState.OPEN)
        .order_by(Basket.id.desc())
        .limit(1)
    )
    if basket is None:
        return None, []
    return basket, await _held_items(db, basket.id)


async def _lock_open_basket(db: AsyncSession, household_id: int) -> Basket | None:
    """The household's open basket, locked and read again, or None.

    Two confirmations of one basket (a double tap, two tabs) queue on this lock; the second
    then finds the basket checked out. FOR NO KEY UPDATE, so that adding an item (whose
    foreign key takes a KEY SHARE lock on the basket) does not wait on it.
    """
    basket_id = await db.scalar(
        select(Basket.id)
        .where(Basket.household_id == household_id, Basket.state == BasketState.OPEN)
        .order_by(Basket.id.desc())
        .limit(1)
    )
    if basket_id is None:
        return None
    return await db.scalar(
        select(Basket)
        .where(Basket.id == basket_id, Basket.state == BasketState.OPEN)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


async def _held_items(db: AsyncSession, basket_id: int) -> list[Booking]:
    items = (
        await db.scalars(
            select(Booking)
            .where(Booking.basket_id == basket_id, Booking.state == BookingState.HELD)
            .options(
                joinedload(Booking.session).joinedload(Session.activity),
                joinedload(Booking.participant),
            )
            .join(Session, Session.id == Booking.session_id)
            .order_by(Session.starts_at, Booking.participant_id, Booking.id)
        )
    ).all()
    return list(items)


@dataclass
class Checkout:
    """What confirming a basket did."""

    confirmed: list[Booking] = field(default_factory=list)
    pending_payment: list[Booking] = field(default_factory=list)
    unavailable: list[tuple[Booking, Refused]] = field(default_factory=list)
    debited_cents: int = 0
    debited_coupons: int = 0

    @property
    def amount_due_cents(self) -> int:
        return sum(booking.price_cents for booking in self.pending_payment)


async def confirm_basket(db: AsyncSession, *, actor: Actor, now: datetime) -> Checkout:
    """Confirm the household's open basket.

    Every item is checked again: a hold that ran out or a deadline that passed meanwhile is
    released and named in `unavailable`. Then by payment mode: invoice confirms at once;
    wallet and coupons debit the ledger (the whole confirmation is refused with the balance
    when it is short); immediate moves the items to pending_payment until paid.
    """
    if actor.household_id is None:
        raise Refused(Refusal.BASKET_EMPTY)
    household = await load_household(db, actor.household_id)
    basket = await _lock_open_basket(db, household.id)
    items = await _held_items(db, basket.id) if basket is not None else []
    if basket is None or not items:
        raise Refused(Refusal.BASKET_EMPTY)
    tz = ZoneInfo(household.structure.timezone)
    checkout = Checkout()
    held_until = {item.id: item.held_until for item in items}
    for session_id in sorted({item.session_id for item in items}):
        session = await lock_session(db, session_id)
        for booking in [item for item in items if item.session_id == session_id]:
            await reread(db, booking)
            refusal = await _still_bookable(
                db, booking, held_until[booking.id], session, household, now, tz
            )
            if refusal is not None:
                checkout.unavailable.append((booking, refusal))
    released = {id(booking) for booking, _ in checkout.unavailable}
    # An item no longer held was taken out of the basket (or its session cancelled) meanwhile.
    keep = [item for item in items if id(item) not in released and item.state is BookingState.HELD]
    await _debit_prepaid(db, household.id, keep, now, checkout)
    for booking in keep:
        mode = booking.session.activity.payment_mode
        if mode is PaymentMode.IMMEDIATE:
            booking.state = BookingState.PENDING_PAYMENT
            checkout.pending_payment.append(booking)
            record_event(db, kind=EventKind.PENDING_PAYMENT, at=now, actor=actor, booking=booking)
        else:
            confirm(db, booking, now=now, actor=actor, mode=mode.value)
            checkout.confirmed.append(booking)
    basket.state = BasketState.CHECKED_OUT
    basket.closed_at = now
    if checkout.confirmed:
        await notify(
            db,
            household_id=household.id,
            kind=NoticeKind.BOOKING_CONFIRMED,
            key=f"confirmed:basket:{basket.id}",
            data={"items": [booking_item(booking) for booking in checkout.confirmed]},
            now=now,
            skip_conversation_id=actor.conversation_id,
        )
    return checkout


async def _still_bookable(
    db: AsyncSession,
    booking: Booking,
    held_until: datetime | None,
    session: Session,
    household: Household,
    now: datetime,
    tz: ZoneInfo,
) -> Refused | None:
    """Release an item whose hold ran out or whose window closed; say why.

    `held_until` is the hold read with the basket: expiring one item expires every stale
    hold of its session (and a sweep may have done it first), which clears `held_until`.
    """
    if booking.state is BookingState.EXPIRED or (
        booking.state is BookingState.HELD and held_until is not None and held_until <= now
    ):
        await expire_stale_holds(db, session, now)
        return Refused(Refusal.HOLD_EXPIRED, held_until=held_until)
    if booking.state is not BookingState.HELD:
        return None
    refusal = window_refusal(
        session.activity,
        session,
        waves=await opening_waves(db, session.activity_id),
        household_group=household.group,
        now=now,
        tz=tz,
    )
    if refusal is not None:
        end_booking(booking, BookingState.EXPIRED, now)
        record_event(
            db,
            kind=EventKind.EXPIRED,
            at=now,
            actor=Actor.system(),
            booking=booking,
            reason=refusal.code.value,
        )
        await give_freed_places(db, session, now, Actor.system())
    return refusal


async def _debit_prepaid(
    db: AsyncSession, household_id: int, items: list[Booking], now: datetime, checkout: Checkout
) -> None:
    """Debit wallet and coupon items; refuse the whole basket when a balance is short."""
    debits: list[tuple[Booking, WalletKind, int]] = []
    for booking in items:
        mode = booking.session.activity.payment_mode
        if mode is PaymentMode.WALLET and booking.price_cents:
            debits.append((booking, WalletKind.EUROS, booking.price_cents))
        elif mode is PaymentMode.COUPONS and booking.coupons:
            debits.append((booking, WalletKind.COUPONS, booking.coupons))
    for kind in (WalletKind.EUROS, WalletKind.COUPONS):
        needed = sum(amount for _, wallet_kind, amount in debits if wallet_kind is kind)
        if needed and (balance := (await get_wallet(db, household_id, kind)).balance) < needed:
            raise Refused(
                Refusal.INSUFFICIENT_BALANCE, wallet=kind.value, balance=balance, needed=needed
            )
    for booking, kind, amount in debits:
        await post_entry(
            db,
            household_id=household_id,
            kind=kind,
            amount=-amount,
            entry_kind=LedgerKind.DEBIT,
            at=now,
            label=booking.session.activity.name,
            booking_id=booking.id,
        )
        if kind is WalletKind.EUROS:
            checkout.debited_cents += amount
        else:
            checkout.debited_coupons += amount

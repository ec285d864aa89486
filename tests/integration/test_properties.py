"""Random parents' journeys in a small town never overbook, lose a movement or unbalance a wallet."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.models import (
    ACTIVE,
    PLACE_TAKING,
    Booking,
    BookingEvent,
    BookingState,
    EventKind,
    LedgerKind,
    PaymentMode,
    Session,
    WalletKind,
)
from booking.refusals import Refusal, Refused
from booking.services.basket import (
    add_to_basket,
    confirm_basket,
    join_waitlist,
    remove_from_basket,
)
from booking.services.cancellation import cancel_booking, cancel_session
from booking.services.holds import sweep_expired_holds, waitlist_position
from booking.services.wallets import post_entry
from tests import builders as b
from tests.builders import STAFF, Family
from tests.conftest import PINNED_NOW

HOUSEHOLDS = 3
CHILDREN = 2
SESSIONS = 4

#: The state a booking is in after each kind of movement (a promotion says which).
STATE_AFTER = {
    EventKind.HELD: BookingState.HELD,
    EventKind.REMOVED: BookingState.CANCELLED,
    EventKind.CONFIRMED: BookingState.CONFIRMED,
    EventKind.PENDING_PAYMENT: BookingState.PENDING_PAYMENT,
    EventKind.WAITLISTED: BookingState.WAITLISTED,
    EventKind.CANCELLED: BookingState.CANCELLED,
    EventKind.CANCELLED_BY_TOWN: BookingState.CANCELLED,
    EventKind.EXPIRED: BookingState.EXPIRED,
    EventKind.PAID: BookingState.CONFIRMED,
}

household = st.integers(0, HOUSEHOLDS - 1)
child = st.integers(0, CHILDREN - 1)
session = st.integers(0, SESSIONS - 1)
pick = st.integers(0, 5)
KINDS = {
    "add": st.tuples(st.just("add"), household, child, session),
    "book": st.tuples(st.just("book"), household, child, session),
    "wait": st.tuples(st.just("wait"), household, child, session),
    "remove": st.tuples(st.just("remove"), household, pick),
    "confirm": st.tuples(st.just("confirm"), household),
    "cancel": st.tuples(st.just("cancel"), household, pick),
    "pay": st.tuples(st.just("pay"), household, pick),
    "advance": st.tuples(st.just("advance"), st.sampled_from([1, 30, 59, 60, 61, 240])),
    "top_up": st.tuples(
        st.just("top_up"), household, st.sampled_from(list(WalletKind)), st.integers(1, 900)
    ),
    "town_cancels": st.tuples(st.just("town_cancels"), session),
}
#: How often each kind comes up: parents mostly add and confirm, so that places fill up and
#: queues form; the town rarely cancels a session (after which it refuses everything).
WEIGHTS = {
    "add": 4,
    "book": 6,
    "confirm": 3,
    "wait": 3,
    "cancel": 3,
    "pay": 2,
    "advance": 3,
    "remove": 2,
    "top_up": 1,
    "town_cancels": 1,
}
operations = st.sampled_from(
    [kind for kind, weight in WEIGHTS.items() for _ in range(weight)]
).flatmap(KINDS.__getitem__)


@dataclass
class SmallTown:
    database: Database
    clock: FrozenClock
    families: list[Family]
    children: list[list[int]]
    sessions: list[int]
    states: dict[int, BookingState] = field(default_factory=dict)
    event_counts: Counter = field(default_factory=Counter)


async def small_town(database: Database, clock: FrozenClock) -> SmallTown:
    """Three families of two children; four sessions, one per payment mode, two overlapping."""
    wednesday = datetime(2027, 3, 10, 9, 0, tzinfo=PARIS)
    async with database.writing() as db:
        town = await b.structure(db, hold_minutes=60, waitlist_hold_minutes=30)
        invoiced = await b.activity(db, town, waitlist=True)
        wallet = await b.activity(
            db, town, mode=PaymentMode.WALLET, waitlist=True, cancellation_days=1
        )
        coupons = await b.activity(db, town, mode=PaymentMode.COUPONS, cancellation_days=2)
        online = await b.activity(db, town, mode=PaymentMode.IMMEDIATE, waitlist=True)
        sessions = [
            await b.session(db, invoiced, starts_at=wednesday, capacity=1),
            await b.session(
                db,
                wallet,
                starts_at=wednesday + timedelta(days=7),
                hours=3,
                capacity=2,
                price_cents=700,
            ),
            await b.session(
                db,
                coupons,
                starts_at=wednesday + timedelta(days=7, hours=5),
                hours=3,
                capacity=1,
                coupons=1,
            ),
            await b.session(
                db,
                online,
                starts_at=wednesday + timedelta(hours=3),
                hours=2,
                capacity=1,
                price_cents=1000,
            ),
        ]
        families, children = [], []
        for index in range(HOUSEHOLDS):
            family = await b.family(db, town, name=f"FAMILLE{index}")
            second = await b.participant(db, family.household, first_name="Paolo")
            await b.credit(db, family.household, 1500)
            await b.credit(db, family.household, 2, kind=WalletKind.COUPONS)
            families.append(family)
            children.append([family.child.id, second.id])
    return SmallTown(database, clock, families, children, [s.id for s in sessions])


async def bookings_of(
    town: SmallTown, family: Family, states: tuple[BookingState, ...]
) -> list[int]:
    async with town.database.reading() as db:
        return list(
            await db.scalars(
                select(Booking.id)
                .where(Booking.household_id == family.household.id, Booking.state.in_(states))
                .order_by(Booking.id)
            )
        )


async def play(town: SmallTown, operation: tuple) -> bool:
    """Run one operation in its own unit of work; False when refused (nothing was written)."""
    kind, *args = operation
    now = town.clock.now()
    if kind == "advance":
        town.clock.advance(minutes=args[0])
        async with town.database.writing() as db:
            await sweep_expired_holds(db, town.clock.now())
        return True
    if kind == "town_cancels":
        async with town.database.writing() as db:
            await cancel_session(db, actor=STAFF, session_id=town.sessions[args[0]], now=now)
        return True
    family = town.families[args[0]]
    if kind in ("remove", "cancel", "pay"):
        wanted = {
            "remove": (BookingState.HELD,),
            "cancel": ACTIVE,
            "pay": (BookingState.PENDING_PAYMENT,),
        }[kind]
        candidates = await bookings_of(town, family, wanted)
        if not candidates:
            return False
        booking_id = candidates[args[1] % len(candidates)]
    try:
        async with town.database.writing() as db:
            if kind in ("add", "book"):
                await add_to_basket(
                    db,
                    actor=family.actor,
                    participant_id=town.children[args[0]][args[1]],
                    session_id=town.sessions[args[2]],
                    now=now,
                )
                if kind == "book":  # the parent confirms straight away
                    await confirm_basket(db, actor=family.actor, now=now)
            elif kind == "wait":
                await join_waitlist(
                    db,
                    actor=family.actor,
                    participant_id=town.children[args[0]][args[1]],
                    session_id=town.sessions[args[2]],
                    now=now,
                )
            elif kind == "remove":
                await remove_from_basket(db, actor=family.actor, booking_id=booking_id, now=now)
            elif kind == "confirm":
                await confirm_basket(db, actor=family.actor, now=now)
            elif kind == "cancel":
                await cancel_booking(db, actor=family.actor, booking_id=booking_id, now=now)
            elif kind == "pay":
                booking = await db.get(Booking, booking_id)
                if booking.held_until > now:  # the provider's page closes with the hold
                    await b.mark_paid(db, booking, now)
            elif kind == "top_up":
                await post_entry(
                    db,
                    household_id=family.household.id,
                    kind=args[1],
                    amount=args[2],
                    entry_kind=LedgerKind.TOP_UP,
                    at=now,
                )
    except Refused as refusal:
        if kind in ("add", "book") and refusal.code is Refusal.FULL and refusal.params["waitlist"]:
            # What a parent does when offered the waitlist.
            return await play(town, ("wait", *args))
        return False
    return True


async def check_invariants(town: SmallTown) -> None:
    database = town.database
    async with database.reading() as db:
        sessions = (await db.scalars(select(Session))).all()
        bookings = (await db.scalars(select(Booking).order_by(Booking.id))).all()
        events = (await db.scalars(select(BookingEvent).order_by(BookingEvent.id))).all()
        for occurrence in sessions:
            mine = [booking for booking in bookings if booking.session_id == occurrence.id]
            taken = sum(booking.state in PLACE_TAKING for booking in mine)
            assert taken <= occurrence.capacity, f"session {occurrence.id} overbooked"
            waiting = [booking for booking in mine if booking.state is BookingState.WAITLISTED]
            positions = [await waitlist_position(db, booking) for booking in waiting]
            assert sorted(positions) == list(range(1, len(waiting) + 1))

    assert await b.ledger_mismatches(database) == []

    by_booking: dict[int, list[BookingEvent]] = {}
    for event in events:
        if event.booking_id is not None:
            by_booking.setdefault(event.booking_id, []).append(event)
    for booking in bookings:
        journal = by_booking.get(booking.id, [])
        assert journal, f"booking {booking.id} has no movement"
        changed = town.states.get(booking.id) is not booking.state
        if changed:
            assert len(journal) > town.event_counts[booking.id], (
                f"booking {booking.id} went {town.states.get(booking.id)} → {booking.state} "
                "without a movement"
            )
        last = journal[-1]
        after = (
            BookingState(last.data["state"])
            if last.kind is EventKind.WAITLIST_PROMOTED
            else STATE_AFTER[last.kind]
        )
        assert after is booking.state, f"booking {booking.id}: last movement {last.kind}"
        town.states[booking.id] = booking.state
        town.event_counts[booking.id] = len(journal)


async def journey(template: bytes, steps: list[tuple]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ribambelle-prop-"))
    try:
        path = folder / "town.db"
        path.write_bytes(template)
        database = Database.from_url(f"sqlite+aiosqlite:///{path}")
        try:
            town = await small_town(database, FrozenClock(PINNED_NOW))
            for step in steps:
                if await play(town, step):  # a refusal rolled everything back
                    await check_invariants(town)
        finally:
            await database.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(operations, min_size=8, max_size=24))
def test_random_journeys_never_overbook_lose_a_movement_or_unbalance_a_wallet(
    sqlite_template: bytes, steps: list[tuple]
):
    asyncio.run(journey(sqlite_template, steps))

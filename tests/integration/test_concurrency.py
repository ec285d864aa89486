"""Capacity under concurrency: a hundred parents at once, double taps, and why the lock exists."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select

import booking.services.basket as basket_module
from booking.clock import FrozenClock
from booking.db import Database
from booking.models import (
    PLACE_TAKING,
    Booking,
    BookingEvent,
    BookingState,
    EventKind,
    LedgerKind,
    PaymentMode,
    WalletKind,
)
from booking.refusals import Refusal, Refused
from booking.services.basket import add_to_basket, confirm_basket, join_waitlist
from booking.services.cancellation import cancel_booking
from booking.services.common import load_session
from tests import builders as b
from tests.builders import Family, postgres_scratch  # noqa: F401

PARENTS = 100
PLACES = 10


@pytest.fixture
async def postgres_url(postgres_scratch: str) -> str:  # noqa: F811
    return await b.emptied_postgres_url(postgres_scratch)


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(postgres_url)
    yield database
    await database.dispose()


async def rush_town(
    database: Database, *, waitlist: bool, mode: PaymentMode = PaymentMode.INVOICE
) -> tuple[object, list[Family]]:
    """One session of ten places and a hundred households of one child each."""
    async with database.writing() as db:
        town = await b.structure(db)
        activity = await b.activity(db, town, mode=mode, waitlist=waitlist)
        session = await b.session(db, activity, capacity=PLACES)
        families = []
        for index in range(PARENTS):
            home = await b.household(db, town, name=f"FAMILLE{index}")
            child = await b.participant(db, home)
            families.append(Family(home, None, child, b.parent(home)))
    return session, families


async def try_to_book(database: Database, family: Family, session_id: int, now: datetime):  # noqa: ANN201
    """One parent's unit of work: a place, else (when offered) a place in line."""
    try:
        async with database.writing() as db:
            booking = await add_to_basket(
                db,
                actor=family.actor,
                participant_id=family.child.id,
                session_id=session_id,
                now=now,
            )
        return "held", booking.id, None
    except Refused as refusal:
        if refusal.code is not Refusal.FULL or not refusal.params["waitlist"]:
            return refusal, None, None
    async with database.writing() as db:
        booking, position = await join_waitlist(
            db, actor=family.actor, participant_id=family.child.id, session_id=session_id, now=now
        )
    return "waitlisted", booking.id, position


async def states_of(database: Database, session_id: int) -> dict[BookingState, int]:
    counts: dict[BookingState, int] = {}
    for booking in await b.bookings_of(database, session_id):
        counts[booking.state] = counts.get(booking.state, 0) + 1
    return counts


async def test_a_hundred_parents_racing_for_ten_places_hold_exactly_ten(database, clock):
    session, families = await rush_town(database, waitlist=False)

    outcomes = await asyncio.gather(
        *(try_to_book(database, family, session.id, clock.now()) for family in families)
    )

    held = [outcome for outcome in outcomes if outcome[0] == "held"]
    refused = [outcome[0] for outcome in outcomes if isinstance(outcome[0], Refused)]
    assert len(held) == PLACES
    assert len(refused) == PARENTS - PLACES
    assert {(refusal.code, refusal.params["waitlist"]) for refusal in refused} == {
        (Refusal.FULL, False)
    }
    assert await states_of(database, session.id) == {BookingState.HELD: PLACES}


async def test_with_a_waitlist_the_others_queue_in_the_order_they_got_in(database, clock):
    session, families = await rush_town(database, waitlist=True)

    outcomes = await asyncio.gather(
        *(try_to_book(database, family, session.id, clock.now()) for family in families)
    )

    assert sum(outcome[0] == "held" for outcome in outcomes) == PLACES
    waiting = sorted(
        (booking_id, position) for kind, booking_id, position in outcomes if kind == "waitlisted"
    )
    # Ids are drawn under the session's lock, so their order is the order of the transactions.
    assert [position for _, position in waiting] == list(range(1, PARENTS - PLACES + 1))
    assert await states_of(database, session.id) == {
        BookingState.HELD: PLACES,
        BookingState.WAITLISTED: PARENTS - PLACES,
    }
    async with database.reading() as db:
        events = (
            await db.scalars(select(BookingEvent).where(BookingEvent.kind == EventKind.WAITLISTED))
        ).all()
    assert sorted(event.data["position"] for event in events) == list(
        range(1, PARENTS - PLACES + 1)
    )


async def wallet_bookings(database: Database, clock: FrozenClock, count: int):  # noqa: ANN201
    """`count` households, each with one wallet-paid item held in an open basket."""
    async with database.writing() as db:
        town = await b.structure(db)
        activity = await b.activity(
            db, town, mode=PaymentMode.WALLET, cancellation_days=1, waitlist=True
        )
        session = await b.session(db, activity, capacity=count, price_cents=1200)
        families = []
        for index in range(count):
            family = await b.family(db, town, name=f"FAMILLE{index}")
            await b.credit(db, family.household, 10_000)
            families.append(family)
    held = []
    for family in families:
        async with database.writing() as db:
            held.append(
                await add_to_basket(
                    db,
                    actor=family.actor,
                    participant_id=family.child.id,
                    session_id=session.id,
                    now=clock.now(),
                )
            )
    return session, families, held


async def confirm(database: Database, family: Family, now: datetime):  # noqa: ANN201
    try:
        async with database.writing() as db:
            return await confirm_basket(db, actor=family.actor, now=now)
    except Refused as refusal:
        return refusal


async def test_two_taps_on_confirm_confirm_the_basket_once(database, clock):
    # Five households double-tap at the same moment: ten confirmations racing.
    session, families, held = await wallet_bookings(database, clock, 5)

    outcomes = await asyncio.gather(
        *(confirm(database, family, clock.now()) for family in families for _ in range(2))
    )

    checkouts = [outcome for outcome in outcomes if not isinstance(outcome, Refused)]
    refusals = [outcome for outcome in outcomes if isinstance(outcome, Refused)]
    assert sorted(booking.id for c in checkouts for booking in c.confirmed) == sorted(
        booking.id for booking in held
    )
    assert len(checkouts) == 5
    assert {refusal.code for refusal in refusals} == {Refusal.BASKET_EMPTY}
    for family in families:
        ledger = await b.ledger_of(database, family.household.id, WalletKind.EUROS)
        assert [entry.kind for entry in ledger] == [LedgerKind.TOP_UP, LedgerKind.DEBIT]
        assert await b.balance_of(database, family.household.id, WalletKind.EUROS) == 8_800
    for booking in held:
        kinds = [event.kind for event in await b.events_of(database, booking.id)]
        assert kinds == [EventKind.HELD, EventKind.CONFIRMED]
    assert await b.ledger_mismatches(database) == []


async def test_two_taps_on_cancel_cancel_and_refund_once(database, clock):
    session, families, held = await wallet_bookings(database, clock, 5)
    for family in families:
        assert not isinstance(await confirm(database, family, clock.now()), Refused)

    async def cancel(family: Family, booking_id: int):  # noqa: ANN202
        try:
            async with database.writing() as db:
                return await cancel_booking(
                    db, actor=family.actor, booking_id=booking_id, now=clock.now()
                )
        except Refused as refusal:
            return refusal

    outcomes = await asyncio.gather(
        *(
            cancel(family, booking.id)
            for family, booking in zip(families, held, strict=True)
            for _ in range(2)
        )
    )

    refusals = [outcome for outcome in outcomes if isinstance(outcome, Refused)]
    assert sum(not isinstance(outcome, Refused) for outcome in outcomes) == 5
    assert {(r.code, r.params["state"]) for r in refusals} == {
        (Refusal.NOT_CANCELLABLE, "cancelled")
    }
    for family, booking in zip(families, held, strict=True):
        ledger = await b.ledger_of(database, family.household.id, WalletKind.EUROS)
        assert [entry.kind for entry in ledger] == [
            LedgerKind.TOP_UP,
            LedgerKind.DEBIT,
            LedgerKind.REFUND,
        ]
        assert await b.balance_of(database, family.household.id, WalletKind.EUROS) == 10_000
        kinds = [event.kind for event in await b.events_of(database, booking.id)]
        assert kinds == [EventKind.HELD, EventKind.CONFIRMED, EventKind.CANCELLED]
    async with database.reading() as db:
        freed = (
            await db.scalars(select(BookingEvent).where(BookingEvent.kind == EventKind.PLACE_FREED))
        ).all()
    assert len(freed) == 5
    assert await b.ledger_mismatches(database) == []


@pytest.mark.postgres
async def test_demonstration_without_the_capacity_lock_the_session_is_overbooked(
    postgres_database, clock, monkeypatch
):
    """Not a rule: proof that the lock is what keeps the rule under concurrency.

    With `lock_session` replaced by a plain read, concurrent parents count the places taken
    before one another commit, and more than ten hold a place.
    """
    monkeypatch.setattr(basket_module, "lock_session", load_session)
    session, families = await rush_town(postgres_database, waitlist=False)

    await asyncio.gather(
        *(try_to_book(postgres_database, family, session.id, clock.now()) for family in families)
    )

    async with postgres_database.reading() as db:
        taken = (
            await db.scalars(
                select(Booking).where(
                    Booking.session_id == session.id, Booking.state.in_(PLACE_TAKING)
                )
            )
        ).all()
    assert len(taken) > PLACES

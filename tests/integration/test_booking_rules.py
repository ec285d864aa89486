"""Every booking rule the services enforce, on SQLite and PostgreSQL, with a pinned clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.models import (
    Basket,
    BasketState,
    Booking,
    BookingEvent,
    BookingState,
    Channel,
    EnrolmentStatus,
    EventKind,
    LedgerEntry,
    LedgerKind,
    NoticeKind,
    OutboxMessage,
    Payment,
    PaymentMode,
    Session,
    WalletKind,
)
from booking.providers import ProviderState, ProviderStatus
from booking.refusals import Refusal, Refused
from booking.services.basket import (
    Checkout,
    add_to_basket,
    confirm_basket,
    join_waitlist,
    remove_from_basket,
)
from booking.services.cancellation import Cancellation, cancel_booking, cancel_session
from booking.services.common import Actor
from booking.services.holds import sweep_expired_holds, waitlist_position
from booking.services.payments import apply_status
from tests import builders as b
from tests.builders import ADULT_BIRTH, STAFF, WEDNESDAY, Family, postgres_scratch  # noqa: F401


@pytest.fixture
async def postgres_url(postgres_scratch: str) -> str:  # noqa: F811
    return await b.emptied_postgres_url(postgres_scratch)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@dataclass
class Town:
    """One structure, one activity with one session, one family; more are added by tests."""

    database: Database
    clock: FrozenClock
    structure: object
    activity: object
    session: object
    family: Family

    async def another_family(self, **options) -> Family:
        async with self.database.writing() as db:
            return await b.family(db, self.structure, **options)

    async def another_session(self, **options) -> Session:
        async with self.database.writing() as db:
            return await b.session(db, self.activity, **options)


async def build_town(
    database: Database,
    clock: FrozenClock,
    *,
    structure: dict | None = None,
    activity: dict | None = None,
    session: dict | None = None,
    family: dict | None = None,
) -> Town:
    async with database.writing() as db:
        town = await b.structure(db, **(structure or {}))
        kind = await b.activity(db, town, **(activity or {}))
        occurrence = await b.session(db, kind, **(session or {}))
        home = await b.family(db, town, **(family or {}))
    return Town(database, clock, town, kind, occurrence, home)


# Units of work, one per service call, as the dialogs will use them --------------------------


async def add(
    database: Database, family: Family, session: Session, now: datetime, *, child=None, **options
) -> Booking:
    async with database.writing() as db:
        return await add_to_basket(
            db,
            actor=family.actor,
            participant_id=(child or family.child).id,
            session_id=session.id,
            now=now,
            **options,
        )


async def confirm(database: Database, family: Family, now: datetime) -> Checkout:
    async with database.writing() as db:
        return await confirm_basket(db, actor=family.actor, now=now)


async def book(database: Database, family: Family, session: Session, now: datetime, **options):
    """Add to the basket and confirm it: the parent's whole journey."""
    booking = await add(database, family, session, now, **options)
    checkout = await confirm(database, family, now)
    assert [item.id for item in checkout.confirmed + checkout.pending_payment] == [booking.id]
    return await b.reload(database, Booking, booking.id)


async def wait(database: Database, family: Family, session: Session, now: datetime, *, child=None):
    async with database.writing() as db:
        return await join_waitlist(
            db,
            actor=family.actor,
            participant_id=(child or family.child).id,
            session_id=session.id,
            now=now,
        )


async def cancel(database: Database, actor: Actor, booking_id: int, now: datetime) -> Cancellation:
    async with database.writing() as db:
        return await cancel_booking(db, actor=actor, booking_id=booking_id, now=now)


async def sweep(database: Database, now: datetime) -> int:
    async with database.writing() as db:
        return await sweep_expired_holds(db, now)


async def refused(call) -> Refused:  # noqa: ANN001
    with pytest.raises(Refused) as caught:
        await call
    return caught.value


async def places_taken(database: Database, session: Session) -> int:
    return sum(
        booking.state in (BookingState.HELD, BookingState.PENDING_PAYMENT, BookingState.CONFIRMED)
        for booking in await b.bookings_of(database, session.id)
    )


async def count(database: Database, model: type) -> int:
    async with database.reading() as db:
        return await db.scalar(select(func.count()).select_from(model))


# Who may book: the participant, the age, the dossier, the enrolment, debts -----------------


async def test_a_child_of_another_household_is_unknown_and_their_data_is_untouched(database, clock):
    town = await build_town(database, clock)
    other = await town.another_family(name="MARTIN")
    theirs = await book(database, other, town.session, clock.now())
    events_before = await b.all_events(database)

    refusal = await refused(
        add_to_basket_as(database, town.family.actor, other.child.id, town.session.id, clock.now())
    )
    assert refusal.code is Refusal.UNKNOWN_PARTICIPANT
    assert refusal.params == {"participant_id": other.child.id}

    refusal = await refused(cancel(database, town.family.actor, theirs.id, clock.now()))
    assert refusal.code is Refusal.UNKNOWN_BOOKING

    assert (await b.reload(database, Booking, theirs.id)).state is BookingState.CONFIRMED
    assert [event.id for event in await b.all_events(database)] == [e.id for e in events_before]
    async with database.reading() as db:
        baskets = (await db.scalars(select(Basket))).all()
    assert [basket.household_id for basket in baskets] == [other.household.id]


async def add_to_basket_as(database, actor, participant_id, session_id, now):  # noqa: ANN001, ANN201
    async with database.writing() as db:
        return await add_to_basket(
            db, actor=actor, participant_id=participant_id, session_id=session_id, now=now
        )


async def test_a_participant_id_that_does_not_exist_is_refused_the_same_way(database, clock):
    town = await build_town(database, clock)
    refusal = await refused(
        add_to_basket_as(database, town.family.actor, 999_999, town.session.id, clock.now())
    )
    assert refusal.code is Refusal.UNKNOWN_PARTICIPANT


async def test_an_actor_without_a_household_cannot_book_for_anyone(database, clock):
    town = await build_town(database, clock)
    refusal = await refused(
        add_to_basket_as(
            database, Actor.system(), town.family.child.id, town.session.id, clock.now()
        )
    )
    assert refusal.code is Refusal.UNKNOWN_PARTICIPANT


async def test_an_unknown_session_is_refused(database, clock):
    town = await build_town(database, clock)
    refusal = await refused(
        add_to_basket_as(database, town.family.actor, town.family.child.id, 999_999, clock.now())
    )
    assert refusal.code is Refusal.UNKNOWN_SESSION


async def test_a_child_turning_six_on_the_session_day_may_book_the_six_to_twelve_group(
    database, clock
):
    town = await build_town(
        database, clock, activity={"min_age": 6, "max_age": 12}, family={"born": date(2021, 3, 10)}
    )
    booking = await add(database, town.family, town.session, clock.now())
    assert booking.state is BookingState.HELD


async def test_a_child_turning_six_the_day_after_the_session_is_too_young(database, clock):
    town = await build_town(
        database, clock, activity={"min_age": 6, "max_age": 12}, family={"born": date(2021, 3, 11)}
    )
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.TOO_YOUNG
    assert refusal.params == {"min_age": 6, "max_age": 12}


async def test_a_child_turning_twelve_on_the_session_day_is_too_old(database, clock):
    town = await build_town(
        database, clock, activity={"min_age": 6, "max_age": 12}, family={"born": date(2015, 3, 10)}
    )
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.TOO_OLD
    assert refusal.params == {"min_age": 6, "max_age": 12}


async def test_an_incomplete_dossier_refuses_and_names_the_missing_items(database, clock):
    missing = ["vaccinations", "attestation d'assurance"]
    town = await build_town(database, clock, family={"missing": missing})
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.DOSSIER_INCOMPLETE
    assert refusal.params == {"missing": missing}


async def test_a_dossier_not_yet_validated_by_staff_is_incomplete(database, clock):
    town = await build_town(database, clock)
    async with database.writing() as db:
        child = await b.participant(db, town.family.household, validated=False)
    refusal = await refused(add(database, town.family, town.session, clock.now(), child=child))
    assert refusal.code is Refusal.DOSSIER_INCOMPLETE
    assert refusal.params == {"missing": []}


async def test_a_child_without_a_dossier_is_incomplete(database, clock):
    town = await build_town(database, clock)
    async with database.writing() as db:
        child = await b.participant(db, town.family.household, dossier=False)
    refusal = await refused(add(database, town.family, town.session, clock.now(), child=child))
    assert refusal.code is Refusal.DOSSIER_INCOMPLETE


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (None, Refusal.ENROLMENT_REQUIRED),
        (EnrolmentStatus.PENDING, Refusal.ENROLMENT_PENDING),
        (EnrolmentStatus.REFUSED, Refusal.ENROLMENT_REFUSED),
    ],
)
async def test_an_activity_needing_enrolment_refuses_without_an_approved_one(
    database, clock, status, code
):
    town = await build_town(
        database, clock, activity={"enrolment_required": True, "name": "École des sports"}
    )
    if status is not None:
        async with database.writing() as db:
            await b.enrolment(db, town.family.child, town.activity, status)
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is code
    assert refusal.params == {"activity": "École des sports"}


async def test_an_approved_enrolment_lets_the_child_book(database, clock):
    town = await build_town(database, clock, activity={"enrolment_required": True})
    async with database.writing() as db:
        await b.enrolment(db, town.family.child, town.activity, EnrolmentStatus.APPROVED)
    assert (await add(database, town.family, town.session, clock.now())).state is BookingState.HELD


async def test_a_household_in_debt_is_refused_where_the_town_blocks_debtors(database, clock):
    town = await build_town(database, clock, structure={"blocks_debtors": True})
    async with database.writing() as db:
        await b.credit(
            db, town.family.household, -2500, kind=WalletKind.ACCOUNT, entry_kind=LedgerKind.INVOICE
        )
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.IN_DEBT
    assert refusal.params == {"owed_cents": 2500}


async def test_a_household_in_debt_may_book_where_the_town_does_not_block_debtors(database, clock):
    town = await build_town(database, clock, structure={"blocks_debtors": False})
    async with database.writing() as db:
        await b.credit(
            db, town.family.household, -2500, kind=WalletKind.ACCOUNT, entry_kind=LedgerKind.INVOICE
        )
    assert (await add(database, town.family, town.session, clock.now())).state is BookingState.HELD


async def test_a_settled_invoice_account_does_not_block(database, clock):
    town = await build_town(database, clock, structure={"blocks_debtors": True})
    async with database.writing() as db:
        home = town.family.household
        await b.credit(db, home, -2500, kind=WalletKind.ACCOUNT, entry_kind=LedgerKind.INVOICE)
        await b.credit(db, home, 2500, kind=WalletKind.ACCOUNT, entry_kind=LedgerKind.PAYMENT)
    assert (await add(database, town.family, town.session, clock.now())).state is BookingState.HELD


# When: opening waves, the deadline minute, cancelled sessions ------------------------------


async def test_booking_opens_a_week_later_for_households_of_another_group(database, clock):
    now = clock.now()
    opens_for_others = now + timedelta(days=7)
    town = await build_town(
        database,
        clock,
        activity={"waves": {"resident": now - timedelta(days=1), "external": opens_for_others}},
        session={"starts_at": paris(2027, 3, 17, 9, 0)},
    )
    outsider = await town.another_family(group="external", name="BERNARD")

    assert (await add(database, town.family, town.session, now)).state is BookingState.HELD
    refusal = await refused(add(database, outsider, town.session, now))
    assert refusal.code is Refusal.NOT_OPEN_YET
    assert refusal.params == {"opens_at": opens_for_others}

    clock.set(opens_for_others - timedelta(minutes=1))
    assert (await refused(add(database, outsider, town.session, clock.now()))).code is (
        Refusal.NOT_OPEN_YET
    )
    clock.set(opens_for_others)
    assert (await add(database, outsider, town.session, clock.now())).state is BookingState.HELD


async def test_booking_not_open_yet_for_everyone_before_the_activity_opens(database, clock):
    opens = clock.now() + timedelta(hours=3)
    town = await build_town(database, clock, activity={"opens_at": opens})
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.NOT_OPEN_YET
    assert refusal.params == {"opens_at": opens}


async def test_booking_closes_at_the_deadline_minute(database, clock):
    town = await build_town(database, clock, activity={"booking_days": 1, "booking_time": time(15)})
    late = await town.another_family(name="LEGRAND")

    clock.set(paris(2027, 3, 9, 14, 59))
    assert (await add(database, town.family, town.session, clock.now())).state is BookingState.HELD
    clock.set(paris(2027, 3, 9, 15, 0))
    refusal = await refused(add(database, late, town.session, clock.now()))
    assert refusal.code is Refusal.PAST_DEADLINE
    assert refusal.params == {"deadline": paris(2027, 3, 9, 15, 0)}


async def test_an_item_held_before_the_deadline_cannot_be_confirmed_after_it(database, clock):
    town = await build_town(database, clock, activity={"booking_days": 1, "booking_time": time(15)})
    clock.set(paris(2027, 3, 9, 14, 59))
    booking = await add(database, town.family, town.session, clock.now())
    clock.set(paris(2027, 3, 9, 15, 0))

    checkout = await confirm(database, town.family, clock.now())

    assert checkout.confirmed == []
    [(released, refusal)] = checkout.unavailable
    assert released.id == booking.id
    assert refusal.code is Refusal.PAST_DEADLINE
    assert (await b.reload(database, Booking, booking.id)).state is BookingState.EXPIRED


async def test_a_working_day_deadline_skips_easter_monday(database, clock):
    # Tuesday 30 March 2027, one working day before: Friday 26 (Monday 29 is Easter Monday).
    town = await build_town(
        database,
        clock,
        activity={"booking_days": 1, "booking_working_days": True, "booking_time": time(12)},
        session={"starts_at": paris(2027, 3, 30, 8, 30), "hours": 2},
    )
    clock.set(paris(2027, 3, 26, 12, 0))
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.PAST_DEADLINE
    assert refusal.params == {"deadline": paris(2027, 3, 26, 12, 0)}


async def test_a_cancelled_session_cannot_be_booked(database, clock):
    town = await build_town(database, clock)
    async with database.writing() as db:
        await cancel_session(db, actor=STAFF, session_id=town.session.id, now=clock.now())
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.SESSION_CANCELLED


# Capacity, waitlist, double booking, overlap ----------------------------------------------


@pytest.mark.parametrize("waitlist", [False, True])
async def test_a_full_session_is_refused_and_says_whether_the_waitlist_is_open(
    database, clock, waitlist
):
    town = await build_town(
        database, clock, activity={"waitlist": waitlist}, session={"capacity": 1}
    )
    latecomer = await town.another_family(name="PETIT")
    await add(database, town.family, town.session, clock.now())
    refusal = await refused(add(database, latecomer, town.session, clock.now()))
    assert refusal.code is Refusal.FULL
    assert refusal.params == {"waitlist": waitlist}


async def test_the_waitlist_gives_positions_one_two_three_in_order_of_arrival(database, clock):
    town = await build_town(database, clock, activity={"waitlist": True}, session={"capacity": 1})
    await book(database, town.family, town.session, clock.now())
    waiting = [await town.another_family(name=f"ATTENTE{i}") for i in range(3)]

    positions = []
    for family in waiting:
        clock.advance(minutes=1)
        booking, position = await wait(database, family, town.session, clock.now())
        assert booking.state is BookingState.WAITLISTED
        positions.append(position)
    assert positions == [1, 2, 3]

    async with database.reading() as db:
        bookings = [
            booking
            for booking in await b.bookings_of(database, town.session.id)
            if booking.state is BookingState.WAITLISTED
        ]
        assert [await waitlist_position(db, booking) for booking in bookings] == [1, 2, 3]
    events = [e for e in await b.all_events(database) if e.kind is EventKind.WAITLISTED]
    assert [event.data["position"] for event in events] == [1, 2, 3]


async def test_leaving_the_waitlist_moves_those_behind_up(database, clock):
    town = await build_town(database, clock, activity={"waitlist": True}, session={"capacity": 1})
    await book(database, town.family, town.session, clock.now())
    waiting = [await town.another_family(name=f"ATTENTE{i}") for i in range(3)]
    bookings = [(await wait(database, f, town.session, clock.now()))[0] for f in waiting]

    await cancel(database, waiting[0].actor, bookings[0].id, clock.now())

    async with database.reading() as db:
        rest = [await db.get(Booking, booking.id) for booking in bookings[1:]]
        assert [await waitlist_position(db, booking) for booking in rest] == [1, 2]


async def test_the_waitlist_is_refused_while_places_are_left(database, clock):
    town = await build_town(database, clock, activity={"waitlist": True}, session={"capacity": 2})
    await add(database, town.family, town.session, clock.now())
    other = await town.another_family(name="PETIT")
    refusal = await refused(wait(database, other, town.session, clock.now()))
    assert refusal.code is Refusal.NOT_FULL


async def test_an_activity_without_a_waitlist_refuses_to_queue(database, clock):
    town = await build_town(database, clock, activity={"waitlist": False}, session={"capacity": 1})
    await add(database, town.family, town.session, clock.now())
    other = await town.another_family(name="PETIT")
    refusal = await refused(wait(database, other, town.session, clock.now()))
    assert refusal.code is Refusal.WAITLIST_UNAVAILABLE


async def test_a_child_already_on_the_session_cannot_be_booked_twice(database, clock):
    town = await build_town(database, clock)
    first = await add(database, town.family, town.session, clock.now())
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.ALREADY_BOOKED
    assert refusal.params == {"state": "held", "booking_id": first.id}


async def test_a_child_on_the_waitlist_cannot_also_take_a_place(database, clock):
    town = await build_town(database, clock, activity={"waitlist": True}, session={"capacity": 1})
    other = await town.another_family(name="PETIT")
    await add(database, other, town.session, clock.now())
    waiting, _ = await wait(database, town.family, town.session, clock.now())
    refusal = await refused(wait(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.ALREADY_BOOKED
    assert refusal.params == {"state": "waitlisted", "booking_id": waiting.id}


async def test_a_hold_that_ran_out_does_not_stop_the_child_from_booking_again(database, clock):
    town = await build_town(database, clock)
    first = await add(database, town.family, town.session, clock.now())
    clock.advance(minutes=60)  # no sweep has run yet
    again = await add(database, town.family, town.session, clock.now())
    assert again.state is BookingState.HELD
    assert (await b.reload(database, Booking, first.id)).state is BookingState.EXPIRED


async def test_a_cancelled_booking_does_not_stop_the_child_from_booking_again(database, clock):
    town = await build_town(database, clock)
    first = await book(database, town.family, town.session, clock.now())
    await cancel(database, town.family.actor, first.id, clock.now())
    assert (await add(database, town.family, town.session, clock.now())).state is BookingState.HELD


async def test_a_child_cannot_be_in_two_overlapping_sessions(database, clock):
    town = await build_town(database, clock)
    await add(database, town.family, town.session, clock.now())
    async with database.writing() as db:
        swimming = await b.activity(db, town.structure, name="Piscine", category="ems")
        lesson = await b.session(db, swimming, starts_at=WEDNESDAY + timedelta(hours=3), hours=1)
    refusal = await refused(add(database, town.family, lesson, clock.now()))
    assert refusal.code is Refusal.OVERLAP
    assert refusal.params["session_id"] == town.session.id
    assert refusal.params["activity"] == town.activity.name


async def test_a_session_starting_when_another_ends_does_not_overlap(database, clock):
    town = await build_town(database, clock)
    await add(database, town.family, town.session, clock.now())
    evening = await town.another_session(starts_at=WEDNESDAY + timedelta(hours=8), hours=2)
    assert (await add(database, town.family, evening, clock.now())).state is BookingState.HELD


async def test_a_hold_that_ran_out_does_not_count_as_an_overlap(database, clock):
    town = await build_town(database, clock)
    await add(database, town.family, town.session, clock.now())
    clock.advance(minutes=60)
    overlapping = await town.another_session(starts_at=WEDNESDAY + timedelta(hours=1), hours=2)
    assert (await add(database, town.family, overlapping, clock.now())).state is BookingState.HELD


# Family sessions: children per adult ------------------------------------------------------


async def climbing_family(database: Database, clock: FrozenClock):  # noqa: ANN201
    town = await build_town(
        database,
        clock,
        activity={
            "name": "Escalade en famille",
            "category": "sport",
            "mode": PaymentMode.COUPONS,
            "min_age": 6,
            "max_age": None,
            "children_per_adult": 2,
        },
        session={"coupons": 1},
    )
    async with database.writing() as db:
        home = town.family.household
        adult = await b.participant(db, home, born=ADULT_BIRTH, first_name="Jean-Paul")
        second = await b.participant(db, home, born=date(2017, 1, 1), first_name="Paolo")
        third = await b.participant(db, home, born=date(2016, 1, 1), first_name="Amalia")
        await b.credit(db, home, 10, kind=WalletKind.COUPONS)
    return town, adult, [town.family.child, second, third]


async def test_a_child_alone_in_a_family_session_needs_an_adult(database, clock):
    town, _, children = await climbing_family(database, clock)
    refusal = await refused(add(database, town.family, town.session, clock.now()))
    assert refusal.code is Refusal.ADULT_REQUIRED
    assert refusal.params == {"children_per_adult": 2}


async def test_an_adult_brings_at_most_two_children(database, clock):
    town, adult, children = await climbing_family(database, clock)
    now = clock.now()
    await add(database, town.family, town.session, now, child=adult)
    await add(database, town.family, town.session, now, child=children[0])
    await add(database, town.family, town.session, now, child=children[1])
    refusal = await refused(add(database, town.family, town.session, now, child=children[2]))
    assert refusal.code is Refusal.ADULT_REQUIRED
    assert refusal.params == {"children_per_adult": 2}


async def test_the_adult_cannot_cancel_while_their_children_still_need_them(database, clock):
    town, adult, children = await climbing_family(database, clock)
    now = clock.now()
    grown_up = await add(database, town.family, town.session, now, child=adult)
    kids = [await add(database, town.family, town.session, now, child=c) for c in children[:2]]
    checkout = await confirm(database, town.family, now)
    assert len(checkout.confirmed) == 3

    refusal = await refused(cancel(database, town.family.actor, grown_up.id, now))
    assert refusal.code is Refusal.ADULT_STILL_NEEDED
    assert refusal.params == {"children_per_adult": 2}
    assert (await b.reload(database, Booking, grown_up.id)).state is BookingState.CONFIRMED

    for kid in kids:
        await cancel(database, town.family.actor, kid.id, now)
    await cancel(database, town.family.actor, grown_up.id, now)
    assert (await b.reload(database, Booking, grown_up.id)).state is BookingState.CANCELLED


async def test_the_adult_cannot_leave_the_basket_while_their_children_stay_in_it(database, clock):
    town, adult, children = await climbing_family(database, clock)
    now = clock.now()
    grown_up = await add(database, town.family, town.session, now, child=adult)
    await add(database, town.family, town.session, now, child=children[0])

    refusal = await refused(cancel(database, town.family.actor, grown_up.id, now))
    assert refusal.code is Refusal.ADULT_STILL_NEEDED
    assert (await b.reload(database, Booking, grown_up.id)).state is BookingState.HELD


# Confirming the basket: by payment mode, balances, expired holds ---------------------------


async def test_an_invoiced_basket_is_confirmed_at_once(database, clock):
    town = await build_town(database, clock, activity={"mode": PaymentMode.INVOICE})
    booking = await add(database, town.family, town.session, clock.now())
    checkout = await confirm(database, town.family, clock.now())

    assert [item.id for item in checkout.confirmed] == [booking.id]
    assert checkout.pending_payment == [] and checkout.unavailable == []
    stored = await b.reload(database, Booking, booking.id)
    assert stored.state is BookingState.CONFIRMED
    assert stored.confirmed_at == clock.now()
    assert stored.held_until is None
    assert await count(database, LedgerEntry) == 0
    async with database.reading() as db:
        assert (await db.get(Basket, booking.basket_id)).state is BasketState.CHECKED_OUT


async def test_a_wallet_basket_debits_the_ledger(database, clock):
    town = await build_town(
        database, clock, activity={"mode": PaymentMode.WALLET}, session={"price_cents": 1200}
    )
    async with database.writing() as db:
        await b.credit(db, town.family.household, 5000)
    booking = await add(database, town.family, town.session, clock.now())
    checkout = await confirm(database, town.family, clock.now())

    assert [item.id for item in checkout.confirmed] == [booking.id]
    assert checkout.debited_cents == 1200
    debit = (await b.ledger_of(database, town.family.household.id, WalletKind.EUROS))[-1]
    assert (debit.kind, debit.amount, debit.booking_id) == (LedgerKind.DEBIT, -1200, booking.id)
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 3800
    assert await b.ledger_mismatches(database) == []


async def test_a_coupon_basket_debits_coupons(database, clock):
    town = await build_town(
        database, clock, activity={"mode": PaymentMode.COUPONS}, session={"coupons": 2}
    )
    async with database.writing() as db:
        await b.credit(db, town.family.household, 5, kind=WalletKind.COUPONS)
    booking = await add(database, town.family, town.session, clock.now())
    assert (booking.price_cents, booking.coupons) == (0, 2)
    checkout = await confirm(database, town.family, clock.now())

    assert checkout.debited_coupons == 2
    debit = (await b.ledger_of(database, town.family.household.id, WalletKind.COUPONS))[-1]
    assert (debit.kind, debit.amount, debit.booking_id) == (LedgerKind.DEBIT, -2, booking.id)
    assert await b.balance_of(database, town.family.household.id, WalletKind.COUPONS) == 3
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 0
    assert await b.ledger_mismatches(database) == []


async def test_an_immediate_payment_basket_waits_for_the_payment(database, clock):
    town = await build_town(
        database, clock, activity={"mode": PaymentMode.IMMEDIATE}, session={"price_cents": 1500}
    )
    booking = await add(database, town.family, town.session, clock.now())
    checkout = await confirm(database, town.family, clock.now())

    assert checkout.confirmed == []
    assert [item.id for item in checkout.pending_payment] == [booking.id]
    assert checkout.amount_due_cents == 1500
    assert (await b.reload(database, Booking, booking.id)).state is BookingState.PENDING_PAYMENT
    assert await count(database, LedgerEntry) == 0
    kinds = [event.kind for event in await b.events_of(database, booking.id)]
    assert kinds == [EventKind.HELD, EventKind.PENDING_PAYMENT]


@pytest.mark.parametrize(
    ("mode", "wallet", "credit", "session_options", "needed"),
    [
        (PaymentMode.WALLET, WalletKind.EUROS, 500, {"price_cents": 1200}, 1200),
        (PaymentMode.COUPONS, WalletKind.COUPONS, 1, {"coupons": 2}, 2),
    ],
)
async def test_a_short_balance_refuses_the_whole_basket_and_says_how_much(
    database, clock, mode, wallet, credit, session_options, needed
):
    town = await build_town(database, clock, activity={"mode": mode}, session=session_options)
    async with database.writing() as db:
        await b.credit(db, town.family.household, credit, kind=wallet)
    booking = await add(database, town.family, town.session, clock.now())

    refusal = await refused(confirm(database, town.family, clock.now()))

    assert refusal.code is Refusal.INSUFFICIENT_BALANCE
    assert refusal.params == {"wallet": wallet.value, "balance": credit, "needed": needed}
    assert (await b.reload(database, Booking, booking.id)).state is BookingState.HELD
    assert await b.balance_of(database, town.family.household.id, wallet) == credit
    assert len(await b.ledger_of(database, town.family.household.id, wallet)) == 1


async def test_confirming_without_anything_in_the_basket_is_refused(database, clock):
    town = await build_town(database, clock)
    assert (await refused(confirm(database, town.family, clock.now()))).code is Refusal.BASKET_EMPTY
    await book(database, town.family, town.session, clock.now())
    assert (await refused(confirm(database, town.family, clock.now()))).code is Refusal.BASKET_EMPTY


async def test_a_hold_that_ran_out_is_named_unavailable_at_confirmation(database, clock):
    town = await build_town(database, clock)
    afternoon = await town.another_session(starts_at=paris(2027, 3, 17, 9, 0))
    early = await add(database, town.family, town.session, clock.now())
    clock.advance(minutes=30)
    later = await add(database, town.family, afternoon, clock.now())
    clock.advance(minutes=30)  # the first hold ends exactly now

    checkout = await confirm(database, town.family, clock.now())

    assert [item.id for item in checkout.confirmed] == [later.id]
    [(released, refusal)] = checkout.unavailable
    assert released.id == early.id
    assert refusal.code is Refusal.HOLD_EXPIRED
    assert refusal.params == {"held_until": paris(2027, 3, 1, 10, 0)}
    assert (await b.reload(database, Booking, early.id)).state is BookingState.EXPIRED


async def test_two_holds_that_ran_out_in_one_session_are_both_unavailable(database, clock):
    town = await build_town(database, clock, session={"capacity": 2})
    async with database.writing() as db:
        brother = await b.participant(db, town.family.household, first_name="Paolo")
    first = await add(database, town.family, town.session, clock.now())
    second = await add(database, town.family, town.session, clock.now(), child=brother)
    clock.advance(minutes=61)

    checkout = await confirm(database, town.family, clock.now())

    assert checkout.confirmed == []
    assert sorted(booking.id for booking, _ in checkout.unavailable) == [first.id, second.id]
    assert {refusal.code for _, refusal in checkout.unavailable} == {Refusal.HOLD_EXPIRED}
    assert await places_taken(database, town.session) == 0


async def test_removing_an_item_frees_its_place(database, clock):
    town = await build_town(database, clock, session={"capacity": 1})
    booking = await add(database, town.family, town.session, clock.now())
    async with database.writing() as db:
        await remove_from_basket(
            db, actor=town.family.actor, booking_id=booking.id, now=clock.now()
        )
    other = await town.another_family(name="PETIT")
    assert (await add(database, other, town.session, clock.now())).state is BookingState.HELD
    kinds = [event.kind for event in await b.events_of(database, booking.id)]
    assert kinds == [EventKind.HELD, EventKind.REMOVED]


async def test_only_a_held_item_can_be_removed_from_the_basket(database, clock):
    town = await build_town(database, clock)
    booking = await book(database, town.family, town.session, clock.now())
    async with database.writing() as db:
        with pytest.raises(Refused) as caught:
            await remove_from_basket(
                db, actor=town.family.actor, booking_id=booking.id, now=clock.now()
            )
    assert caught.value.code is Refusal.NOT_CANCELLABLE
    assert caught.value.params == {"state": "confirmed"}


# Prices: tariff bands, supplements, bus stops ---------------------------------------------


async def test_the_price_is_fixed_at_booking_from_the_quotient_band_and_supplements(
    database, clock
):
    town = await build_town(
        database,
        clock,
        activity={
            "tariffs": [
                {"min_quotient": 0, "max_quotient": 700, "price_cents": 600},
                {"min_quotient": 701, "max_quotient": 1200, "price_cents": 900},
            ],
            "supplements": {"piscine": 300, "sortie": 500},
            "bus_stops": ["Mairie", "Gare"],
        },
        session={"price_cents": 1500},
        family={"quotient": 650},
    )
    async with database.reading() as db:
        from booking.models import BusStop

        stop = await db.scalar(select(BusStop).where(BusStop.name == "Gare"))
    booking = await add(
        database,
        town.family,
        town.session,
        clock.now(),
        supplement_codes=["piscine"],
        bus_stop_id=stop.id,
    )
    assert booking.price_cents == 900
    assert booking.supplement_codes == ["piscine"]
    assert booking.bus_stop_id == stop.id

    rich = await town.another_family(quotient=5000, name="RICHE")
    assert (await add(database, rich, town.session, clock.now())).price_cents == 1500


async def test_an_unknown_supplement_is_refused(database, clock):
    town = await build_town(database, clock, activity={"supplements": {"piscine": 300}})
    refusal = await refused(
        add(database, town.family, town.session, clock.now(), supplement_codes=["poney"])
    )
    assert refusal.code is Refusal.UNKNOWN_SUPPLEMENT
    assert refusal.params == {"code": "poney"}
    assert await count(database, Booking) == 0


async def test_a_bus_stop_of_another_activity_is_refused(database, clock):
    town = await build_town(database, clock)
    async with database.writing() as db:
        elsewhere = await b.activity(db, town.structure, bus_stops=["Église"])
        from booking.models import BusStop

        stop = await db.scalar(select(BusStop).where(BusStop.name == "Église"))
        assert elsewhere.id != town.activity.id
    refusal = await refused(
        add(database, town.family, town.session, clock.now(), bus_stop_id=stop.id)
    )
    assert refusal.code is Refusal.UNKNOWN_BUS_STOP


# Cancelling: deadlines and refunds --------------------------------------------------------

CANCELLABLE_UNTIL_MONDAY_NIGHT = {"cancellation_days": 2}  # session on Wednesday 10 March


@pytest.mark.parametrize("mode", [PaymentMode.INVOICE, PaymentMode.WALLET])
async def test_a_confirmed_booking_cannot_be_cancelled_after_the_deadline(database, clock, mode):
    town = await build_town(
        database, clock, activity={"mode": mode, **CANCELLABLE_UNTIL_MONDAY_NIGHT}
    )
    async with database.writing() as db:
        await b.credit(db, town.family.household, 5000)
    booking = await book(database, town.family, town.session, clock.now())

    clock.set(paris(2027, 3, 9, 0, 0))
    refusal = await refused(cancel(database, town.family.actor, booking.id, clock.now()))

    assert refusal.code is Refusal.CANCELLATION_PAST_DEADLINE
    assert refusal.params == {"deadline": paris(2027, 3, 9, 0, 0)}
    assert (await b.reload(database, Booking, booking.id)).state is BookingState.CONFIRMED


async def test_coupons_cancelled_after_the_deadline_are_not_refunded(database, clock):
    town = await build_town(
        database,
        clock,
        activity={"mode": PaymentMode.COUPONS, **CANCELLABLE_UNTIL_MONDAY_NIGHT},
        session={"coupons": 2},
    )
    async with database.writing() as db:
        await b.credit(db, town.family.household, 4, kind=WalletKind.COUPONS)
    booking = await book(database, town.family, town.session, clock.now())

    clock.set(paris(2027, 3, 9, 10, 0))
    cancellation = await cancel(database, town.family.actor, booking.id, clock.now())

    assert (cancellation.refund_cents, cancellation.refund_coupons) == (0, 0)
    assert (await b.reload(database, Booking, booking.id)).state is BookingState.CANCELLED
    assert await b.balance_of(database, town.family.household.id, WalletKind.COUPONS) == 2
    [event] = [e for e in await b.events_of(database, booking.id) if e.kind is EventKind.CANCELLED]
    assert event.data == {"refund_cents": 0, "refund_coupons": 0}


async def test_coupons_cannot_be_cancelled_once_the_session_has_started(database, clock):
    town = await build_town(
        database, clock, activity={"mode": PaymentMode.COUPONS}, session={"coupons": 1}
    )
    async with database.writing() as db:
        await b.credit(db, town.family.household, 1, kind=WalletKind.COUPONS)
    booking = await book(database, town.family, town.session, clock.now())
    clock.set(WEDNESDAY)
    refusal = await refused(cancel(database, town.family.actor, booking.id, clock.now()))
    assert refusal.code is Refusal.CANCELLATION_PAST_DEADLINE
    assert refusal.params == {"deadline": WEDNESDAY}


@pytest.mark.parametrize(
    ("mode", "wallet", "refund"),
    [
        (PaymentMode.WALLET, WalletKind.EUROS, 1200),
        (PaymentMode.COUPONS, WalletKind.COUPONS, 2),
        (PaymentMode.IMMEDIATE, WalletKind.EUROS, 1200),
    ],
)
async def test_cancelling_inside_the_deadline_refunds_the_right_wallet(
    database, clock, mode, wallet, refund
):
    town = await build_town(
        database,
        clock,
        activity={"mode": mode, **CANCELLABLE_UNTIL_MONDAY_NIGHT},
        session={"price_cents": 1200, "coupons": 2},
    )
    home = town.family.household
    async with database.writing() as db:
        await b.credit(db, home, 3000)
        await b.credit(db, home, 5, kind=WalletKind.COUPONS)
    booking = await book(database, town.family, town.session, clock.now())
    if mode is PaymentMode.IMMEDIATE:
        async with database.writing() as db:
            await b.mark_paid(db, await db.get(Booking, booking.id), clock.now())
    before = {kind: await b.balance_of(database, home.id, kind) for kind in WalletKind}

    clock.set(paris(2027, 3, 8, 23, 59))
    cancellation = await cancel(database, town.family.actor, booking.id, clock.now())

    after = {kind: await b.balance_of(database, home.id, kind) for kind in WalletKind}
    assert after[wallet] == before[wallet] + refund
    assert all(after[kind] == before[kind] for kind in WalletKind if kind is not wallet)
    assert (cancellation.refund_cents, cancellation.refund_coupons) == (
        (refund, 0) if wallet is WalletKind.EUROS else (0, refund)
    )
    entry = (await b.ledger_of(database, home.id, wallet))[-1]
    assert (entry.kind, entry.amount, entry.booking_id) == (LedgerKind.REFUND, refund, booking.id)
    assert await b.ledger_mismatches(database) == []


async def test_cancelling_an_invoiced_booking_inside_the_deadline_moves_no_money(database, clock):
    town = await build_town(database, clock, activity=CANCELLABLE_UNTIL_MONDAY_NIGHT)
    booking = await book(database, town.family, town.session, clock.now())
    cancellation = await cancel(database, town.family.actor, booking.id, clock.now())
    assert (cancellation.refund_cents, cancellation.refund_coupons) == (0, 0)
    assert await count(database, LedgerEntry) == 0


async def test_a_cancelled_booking_cannot_be_cancelled_again(database, clock):
    town = await build_town(database, clock)
    booking = await book(database, town.family, town.session, clock.now())
    await cancel(database, town.family.actor, booking.id, clock.now())
    refusal = await refused(cancel(database, town.family.actor, booking.id, clock.now()))
    assert refusal.code is Refusal.NOT_CANCELLABLE
    assert refusal.params == {"state": "cancelled"}


async def test_the_town_cancelling_a_session_cancels_and_refunds_everyone(database, clock):
    town = await build_town(
        database,
        clock,
        activity={"mode": PaymentMode.WALLET, "waitlist": True},
        session={"capacity": 2, "price_cents": 1200},
    )
    paid, holding, waiting = (
        town.family,
        *[await town.another_family(name=name) for name in ("PETIT", "GRAND")],
    )
    async with database.writing() as db:
        await b.credit(db, paid.household, 2000)
    confirmed = await book(database, paid, town.session, clock.now())
    held = await add(database, holding, town.session, clock.now())
    queued, _ = await wait(database, waiting, town.session, clock.now())

    async with database.writing() as db:
        done = await cancel_session(
            db, actor=STAFF, session_id=town.session.id, now=clock.now(), reason="grève"
        )

    assert {c.booking.id: c.refund_cents for c in done} == {
        confirmed.id: 1200,
        held.id: 0,
        queued.id: 0,
    }
    assert await b.balance_of(database, paid.household.id, WalletKind.EUROS) == 2000
    for booking_id in (confirmed.id, held.id, queued.id):
        assert (await b.reload(database, Booking, booking_id)).state is BookingState.CANCELLED
        last = (await b.events_of(database, booking_id))[-1]
        assert last.kind is EventKind.CANCELLED_BY_TOWN
        assert (last.actor, last.channel) == ("staff:mairie", Channel.STAFF)
        assert last.data["reason"] == "grève"
    assert (await b.reload(database, Session, town.session.id)).cancelled_at == clock.now()
    assert await b.ledger_mismatches(database) == []


@pytest.mark.parametrize(
    ("mode", "wallet", "refund"),
    [(PaymentMode.COUPONS, WalletKind.COUPONS, 2), (PaymentMode.IMMEDIATE, WalletKind.EUROS, 1200)],
)
async def test_the_town_cancelling_a_session_refunds_coupons_and_payments_even_late(
    database, clock, mode, wallet, refund
):
    town = await build_town(
        database,
        clock,
        activity={"mode": mode, "cancellation_days": 5},
        session={"price_cents": 1200, "coupons": 2},
    )
    async with database.writing() as db:
        await b.credit(db, town.family.household, 2, kind=WalletKind.COUPONS)
    booking = await book(database, town.family, town.session, clock.now())
    if mode is PaymentMode.IMMEDIATE:
        async with database.writing() as db:
            await b.mark_paid(db, await db.get(Booking, booking.id), clock.now())
    before = await b.balance_of(database, town.family.household.id, wallet)
    clock.set(paris(2027, 3, 9, 18, 0))  # past the parents' cancellation deadline

    async with database.writing() as db:
        await cancel_session(db, actor=STAFF, session_id=town.session.id, now=clock.now())

    assert await b.balance_of(database, town.family.household.id, wallet) == before + refund
    assert await b.ledger_mismatches(database) == []


# Holds running out, the sweep and the waitlist --------------------------------------------


async def test_the_sweep_expires_holds_whose_time_is_up_to_the_minute(database, clock):
    town = await build_town(database, clock, structure={"hold_minutes": 60})
    booking = await add(database, town.family, town.session, clock.now())

    clock.advance(minutes=59, seconds=59)
    assert await sweep(database, clock.now()) == 0
    assert (await b.reload(database, Booking, booking.id)).state is BookingState.HELD

    clock.advance(seconds=1)  # held_until == now
    assert await sweep(database, clock.now()) == 1
    stored = await b.reload(database, Booking, booking.id)
    assert stored.state is BookingState.EXPIRED
    assert stored.ended_at == clock.now()
    expired = (await b.events_of(database, booking.id))[-1]
    assert (expired.kind, expired.actor, expired.channel) == (
        EventKind.EXPIRED,
        "system",
        Channel.SYSTEM,
    )
    assert await sweep(database, clock.now()) == 0  # idempotent


async def test_an_unpaid_booking_expires_with_its_hold(database, clock):
    town = await build_town(database, clock, activity={"mode": PaymentMode.IMMEDIATE})
    booking = await add(database, town.family, town.session, clock.now())
    await confirm(database, town.family, clock.now())
    clock.advance(minutes=60)
    assert await sweep(database, clock.now()) == 1
    assert (await b.reload(database, Booking, booking.id)).state is BookingState.EXPIRED


async def test_a_freed_place_goes_to_the_first_in_line_confirmed_when_invoiced(database, clock):
    town = await build_town(database, clock, activity={"waitlist": True}, session={"capacity": 1})
    first, second = [await town.another_family(name=n) for n in ("PREMIER", "SECOND")]
    held = await add(database, town.family, town.session, clock.now())
    ahead, _ = await wait(database, first, town.session, clock.now())
    clock.advance(minutes=1)
    behind, _ = await wait(database, second, town.session, clock.now())

    clock.set(held.held_until)
    assert await sweep(database, clock.now()) == 1

    promoted = await b.reload(database, Booking, ahead.id)
    assert promoted.state is BookingState.CONFIRMED
    assert promoted.confirmed_at == clock.now()
    event = (await b.events_of(database, ahead.id))[-1]
    assert event.kind is EventKind.WAITLIST_PROMOTED
    assert event.data["state"] == "confirmed"
    async with database.reading() as db:
        still_waiting = await db.get(Booking, behind.id)
        assert still_waiting.state is BookingState.WAITLISTED
        assert await waitlist_position(db, still_waiting) == 1
    assert await places_taken(database, town.session) == 1


async def test_a_freed_place_paid_online_is_offered_with_its_own_payment_link(database, clock):
    town = await build_town(
        database,
        clock,
        structure={"waitlist_hold_minutes": 24 * 60},
        activity={"waitlist": True, "mode": PaymentMode.IMMEDIATE},
        session={"capacity": 1},
    )
    first = await town.another_family(name="PREMIER")
    held = await add(database, town.family, town.session, clock.now())
    ahead, _ = await wait(database, first, town.session, clock.now())

    clock.set(held.held_until)
    await sweep(database, clock.now())

    promoted = await b.reload(database, Booking, ahead.id)
    assert promoted.state is BookingState.PENDING_PAYMENT
    assert promoted.held_until == clock.now() + timedelta(hours=24)
    event = (await b.events_of(database, ahead.id))[-1]
    assert (event.kind, event.data["state"]) == (EventKind.WAITLIST_PROMOTED, "pending_payment")
    async with database.reading() as db:
        payment = await db.scalar(select(Payment).where(Payment.household_id == first.household.id))
        offer = await db.scalar(
            select(OutboxMessage).where(
                OutboxMessage.household_id == first.household.id,
                OutboxMessage.kind == NoticeKind.WAITLIST_OFFER,
            )
        )
    assert payment.details["booking_ids"] == [ahead.id]
    assert payment.expires_at == promoted.held_until
    assert payment.amount_cents == promoted.price_cents
    assert offer is None or offer.data["pay_token"] == payment.token

    async with database.writing() as db:
        status = ProviderStatus(ProviderState.PAID, payment.amount_cents, "EUR")
        await apply_status(db, payment.id, status, now=clock.now(), source="test")
    assert (await b.reload(database, Booking, ahead.id)).state is BookingState.CONFIRMED


async def test_a_cancellation_gives_the_place_to_the_first_in_line(database, clock):
    town = await build_town(database, clock, activity={"waitlist": True}, session={"capacity": 1})
    first = await town.another_family(name="PREMIER")
    booking = await book(database, town.family, town.session, clock.now())
    ahead, _ = await wait(database, first, town.session, clock.now())

    await cancel(database, town.family.actor, booking.id, clock.now())

    assert (await b.reload(database, Booking, ahead.id)).state is BookingState.CONFIRMED
    kinds = [event.kind for event in await b.all_events(database)]
    assert kinds[-3:] == [EventKind.CANCELLED, EventKind.PLACE_FREED, EventKind.WAITLIST_PROMOTED]


# The journal, the ledger, append-only rows ------------------------------------------------


async def test_every_change_writes_an_event_with_its_actor_and_channel(database, clock):
    town = await build_town(database, clock, activity={"mode": PaymentMode.WALLET})
    async with database.writing() as db:
        await b.credit(db, town.family.household, 5000)
    telegram = Actor(
        channel=Channel.TELEGRAM,
        household_id=town.family.household.id,
        guardian_id=town.family.guardian.id,
    )
    guardian = f"guardian:{town.family.guardian.id}"
    evening = await town.another_session(starts_at=paris(2027, 3, 17, 9, 0))

    booking = await add(database, town.family, town.session, clock.now())
    async with database.writing() as db:
        await confirm_basket(db, actor=telegram, now=clock.now())
    await cancel(database, town.family.actor, booking.id, clock.now())
    dropped = await add(database, town.family, evening, clock.now())
    async with database.writing() as db:
        await remove_from_basket(db, actor=telegram, booking_id=dropped.id, now=clock.now())

    journal = [
        (event.kind, event.booking_id, event.actor, event.channel)
        for event in await b.all_events(database)
    ]
    assert journal == [
        (EventKind.HELD, booking.id, guardian, Channel.WEB),
        (EventKind.CONFIRMED, booking.id, guardian, Channel.TELEGRAM),
        (EventKind.CANCELLED, booking.id, guardian, Channel.WEB),
        (EventKind.PLACE_FREED, None, guardian, Channel.WEB),
        (EventKind.HELD, dropped.id, guardian, Channel.WEB),
        (EventKind.REMOVED, dropped.id, guardian, Channel.TELEGRAM),
        (EventKind.PLACE_FREED, None, guardian, Channel.TELEGRAM),
    ]
    for event in await b.all_events(database):
        assert event.at == clock.now()
        assert event.session_id in (town.session.id, evening.id)
        # A freed place is the session's news, not one household's.
        expected = None if event.kind is EventKind.PLACE_FREED else town.family.household.id
        assert event.household_id == expected


async def test_the_ledger_always_sums_to_each_wallets_balance(database, clock):
    town = await build_town(
        database,
        clock,
        activity={"mode": PaymentMode.WALLET, "cancellation_days": 1},
        session={"price_cents": 700},
    )
    async with database.writing() as db:
        coupons_activity = await b.activity(db, town.structure, mode=PaymentMode.COUPONS)
        coupon_session = await b.session(
            db, coupons_activity, starts_at=paris(2027, 3, 17, 9), coupons=3
        )
        await b.credit(db, town.family.household, 2000)
        await b.credit(db, town.family.household, 5, kind=WalletKind.COUPONS)
    first = await book(database, town.family, town.session, clock.now())
    second = await book(database, town.family, coupon_session, clock.now())
    await cancel(database, town.family.actor, first.id, clock.now())
    await cancel(database, town.family.actor, second.id, clock.now())
    await book(database, town.family, town.session, clock.now())

    assert await b.ledger_mismatches(database) == []
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 1300
    assert await b.balance_of(database, town.family.household.id, WalletKind.COUPONS) == 5


async def test_a_booking_event_cannot_be_updated_or_deleted_through_the_orm(database, clock):
    town = await build_town(database, clock)
    booking = await add(database, town.family, town.session, clock.now())
    [event] = await b.events_of(database, booking.id)

    with pytest.raises(ValueError, match="append-only"):
        async with database.writing() as db:
            (await db.get(BookingEvent, event.id)).actor = "someone-else"
            await db.flush()
    with pytest.raises(ValueError, match="append-only"):
        async with database.writing() as db:
            await db.delete(await db.get(BookingEvent, event.id))
            await db.flush()

    [unchanged] = await b.events_of(database, booking.id)
    assert (unchanged.actor, unchanged.kind) == (event.actor, event.kind)


async def test_a_ledger_entry_cannot_be_updated_or_deleted_through_the_orm(database, clock):
    town = await build_town(database, clock)
    async with database.writing() as db:
        entry = await b.credit(db, town.family.household, 1000)

    with pytest.raises(ValueError, match="append-only"):
        async with database.writing() as db:
            (await db.get(LedgerEntry, entry.id)).amount = 1_000_000
            await db.flush()
    with pytest.raises(ValueError, match="append-only"):
        async with database.writing() as db:
            await db.delete(await db.get(LedgerEntry, entry.id))
            await db.flush()

    [unchanged] = await b.ledger_of(database, town.family.household.id, WalletKind.EUROS)
    assert unchanged.amount == 1000


# This file covers every refusal the services can raise ------------------------------------


def test_every_refusal_the_services_raise_is_exercised_here():
    services = Path(__file__).parents[2] / "booking" / "services"
    raised = {
        name
        for module in (
            "basket",
            "cancellation",
            "common",
            "eligibility",
            "holds",
            "pricing",
            "wallets",
        )
        for name in re.findall(r"Refusal\.([A-Z_]+)", (services / f"{module}.py").read_text())
    }
    rules = Path(__file__).parents[2] / "booking" / "rules.py"
    raised |= set(re.findall(r"Refusal\.([A-Z_]+)", rules.read_text()))
    here = set(re.findall(r"Refusal\.([A-Z_]+)", Path(__file__).read_text()))
    assert raised - here == set()


async def test_a_town_naming_no_payment_provider_refuses_a_day_paid_online_before_holding_it(
    database, clock
):
    town = await build_town(database, clock)
    async with database.writing() as db:
        structure = await db.get(type(town.structure), town.structure.id)
        structure.payment_settings = {}  # no `payment:` in its catalogue: no money online
        paid = await b.activity(db, structure, mode=PaymentMode.IMMEDIATE)
        day = await b.session(db, paid)
    refusal = await refused(
        add_to_basket_as(database, town.family.actor, town.family.child.id, day.id, clock.now())
    )
    assert refusal.code is Refusal.PAYMENT_NOT_OPEN
    async with database.reading() as db:
        held = (await db.scalars(select(Booking).where(Booking.session_id == day.id))).all()
    assert held == []

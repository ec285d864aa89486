"""The town's sessions in the back office: capacity (a raise feeds the waitlist, a cut below
the places taken is refused, even racing a booking), editing, cancelling a session or a day
with refunds and the families told, booking waves; the pages, and who may reach them."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from booking.clock import PARIS
from booking.models import (
    PLACE_TAKING,
    BookingState,
    EventKind,
    LedgerKind,
    NoticeKind,
    OpeningWave,
    OutboxMessage,
    PaymentMode,
    Session,
    StaffAudit,
    StaffRole,
    WalletKind,
)
from booking.refusals import Refusal, Refused
from booking.services import staff_sessions as service
from booking.services.basket import add_to_basket, confirm_basket, join_waitlist
from booking.services.staff_accounts import StaffContext
from booking.services.staff_sessions import SessionRefusal, SessionRefused
from tests import builders as b
from tests.staff_support import StaffBrowser, make_staff

WEDNESDAY = b.WEDNESDAY.date()


async def staff_of(database, structure_id, clock, login="gestion", role=StaffRole.MANAGER):
    member = await make_staff(database, structure_id, login, role, now=clock.now())
    return StaffContext.of(member)


async def a_town(database, *, mode=PaymentMode.INVOICE, waitlist=True, capacity=2, families=3):
    """A structure, an activity with one Wednesday session and a few families of one child."""
    async with database.writing() as db:
        town = await b.structure(db)
        activity = await b.activity(db, town, mode=mode, waitlist=waitlist)
        session = await b.session(db, activity, capacity=capacity)
        homes = []
        for index in range(families):
            family = await b.family(db, town, name=f"FAMILLE{index}")
            family.household.emails = f"famille{index}@example.org"
            homes.append(family)
    return town, activity, session, homes


async def book(database, family, session_id, now):
    """A parent books (held, then confirmed for invoice and wallet activities)."""
    async with database.writing() as db:
        booking = await add_to_basket(
            db, actor=family.actor, participant_id=family.child.id, session_id=session_id, now=now
        )
    async with database.writing() as db:
        await confirm_basket(db, actor=family.actor, now=now)
    return booking.id


async def wait_in_line(database, family, session_id, now):
    async with database.writing() as db:
        booking, _ = await join_waitlist(
            db, actor=family.actor, participant_id=family.child.id, session_id=session_id, now=now
        )
    return booking.id


async def audit_rows(database, action):
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(StaffAudit).where(StaffAudit.action == action).order_by(StaffAudit.id)
            )
        )


async def outbox_rows(database, kind):
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


# Capacity ---------------------------------------------------------------------------------


async def test_a_capacity_raise_gives_the_place_to_the_first_family_in_line(database, clock):
    town, _, session, (first, second, third) = await a_town(database)
    staff = await staff_of(database, town.id, clock)
    now = clock.now()
    await book(database, first, session.id, now)
    await book(database, second, session.id, now)
    in_line = await wait_in_line(database, third, session.id, now)

    async with database.writing() as db:
        await service.set_capacity(db, staff, session.id, 3, now=now)

    bookings = {row.id: row for row in await b.bookings_of(database, session.id)}
    assert bookings[in_line].state is BookingState.CONFIRMED  # invoiced: confirmed at once
    assert (await b.reload(database, Session, session.id)).capacity == 3
    (offer,) = await outbox_rows(database, NoticeKind.WAITLIST_OFFER)
    assert offer.household_id == third.household.id and offer.data["state"] == "confirmed"
    events = await b.events_of(database, in_line)
    assert events[-1].kind is EventKind.WAITLIST_PROMOTED and events[-1].actor == "staff:gestion"
    (audit,) = await audit_rows(database, "capacity_changed")
    assert audit.data == {"before": 2, "after": 3} and audit.target == f"session:{session.id}"


async def test_a_cut_below_the_places_taken_is_refused_and_changes_nothing(database, clock):
    town, _, session, (first, second, _) = await a_town(database, capacity=3)
    staff = await staff_of(database, town.id, clock)
    await book(database, first, session.id, clock.now())
    await book(database, second, session.id, clock.now())

    with pytest.raises(SessionRefused) as refused:
        async with database.writing() as db:
            await service.set_capacity(db, staff, session.id, 1, now=clock.now())

    assert refused.value.code is SessionRefusal.CAPACITY_BELOW_TAKEN
    assert refused.value.params == {"taken": 2}
    assert (await b.reload(database, Session, session.id)).capacity == 3
    assert [row.state for row in await b.bookings_of(database, session.id)] == [
        BookingState.CONFIRMED,
        BookingState.CONFIRMED,
    ]
    assert await audit_rows(database, "capacity_changed") == []

    async with database.writing() as db:  # down to the places taken is fine
        await service.set_capacity(db, staff, session.id, 2, now=clock.now())
    assert (await b.reload(database, Session, session.id)).capacity == 2


async def test_a_cut_racing_a_booking_never_overbooks(database, clock):
    """Each round, a cut to one place and a second booking race: exactly one wins."""
    town, activity, _, families = await a_town(database, families=2)
    staff = await staff_of(database, town.id, clock)
    now = clock.now()
    for round_ in range(6):
        async with database.writing() as db:
            session = await b.session(
                db, activity, capacity=2, starts_at=b.WEDNESDAY + timedelta(days=7 * round_)
            )
        await book(database, families[0], session.id, now)

        async def cut(session_id=session.id):
            async with database.writing() as db:
                await service.set_capacity(db, staff, session_id, 1, now=now)

        async def second_booking(session_id=session.id):
            async with database.writing() as db:
                await add_to_basket(
                    db,
                    actor=families[1].actor,
                    participant_id=families[1].child.id,
                    session_id=session_id,
                    now=now,
                )

        outcomes = await asyncio.gather(cut(), second_booking(), return_exceptions=True)
        taken = [
            row for row in await b.bookings_of(database, session.id) if row.state in PLACE_TAKING
        ]
        capacity = (await b.reload(database, Session, session.id)).capacity
        assert len(taken) <= capacity
        failures = [item for item in outcomes if isinstance(item, Exception)]
        assert len(failures) == 1, outcomes
        assert isinstance(failures[0], SessionRefused | Refused)
        if isinstance(failures[0], Refused):
            assert failures[0].code is Refusal.FULL


# Creating and editing ---------------------------------------------------------------------


async def test_a_session_is_created_in_the_towns_time_and_its_price_locks_once_booked(
    database, clock
):
    town, activity, _, (first, *_) = await a_town(database)
    staff = await staff_of(database, town.id, clock)
    async with database.writing() as db:
        created = await service.create_session(
            db,
            staff,
            activity_id=activity.id,
            day=date(2027, 3, 17),
            start=time(11, 30),
            end=time(13, 30),
            capacity=40,
            price_cents=380,
            place="Réfectoire",
            label="Repas",
            now=clock.now(),
        )
    saved = await b.reload(database, Session, created.id)
    assert saved.starts_at == datetime(2027, 3, 17, 11, 30, tzinfo=PARIS)
    assert (saved.capacity, saved.price_cents, saved.place) == (40, 380, "Réfectoire")
    assert (await audit_rows(database, "session_created"))[0].target == f"session:{created.id}"

    async with database.writing() as db:
        await service.edit_session(
            db,
            staff,
            created.id,
            start=time(12, 0),
            end=time(14, 0),
            place="Gymnase",
            label="",
            price_cents=400,
            now=clock.now(),
        )
    await book(database, first, created.id, clock.now())
    with pytest.raises(SessionRefused) as refused:
        async with database.writing() as db:
            await service.edit_session(
                db,
                staff,
                created.id,
                start=time(12, 0),
                end=time(14, 0),
                place="Gymnase",
                label="",
                price_cents=500,
                now=clock.now(),
            )
    assert refused.value.code is SessionRefusal.PRICE_LOCKED
    saved = await b.reload(database, Session, created.id)
    assert saved.starts_at == datetime(2027, 3, 17, 12, 0, tzinfo=PARIS)
    assert (saved.place, saved.price_cents) == ("Gymnase", 400)
    (edit,) = await audit_rows(database, "session_edited")
    assert edit.data["place"] == ["Réfectoire", "Gymnase"]

    with pytest.raises(SessionRefused) as refused:
        async with database.writing() as db:
            await service.create_session(
                db,
                staff,
                activity_id=activity.id,
                day=date(2027, 3, 17),
                start=time(14, 0),
                end=time(13, 0),
                capacity=4,
                price_cents=0,
                now=clock.now(),
            )
    assert refused.value.code is SessionRefusal.ENDS_BEFORE_START


async def test_the_list_counts_places_taken_and_the_waitlist(database, clock):
    town, _, session, (first, second, third) = await a_town(database)
    now = clock.now()
    await book(database, first, session.id, now)
    await book(database, second, session.id, now)
    await wait_in_line(database, third, session.id, now)
    async with database.reading() as db:
        (row,) = await service.list_sessions(
            db, town.id, start=WEDNESDAY, end=WEDNESDAY + timedelta(days=1)
        )
        assert (
            await service.list_sessions(
                db, town.id, start=WEDNESDAY + timedelta(days=1), end=WEDNESDAY + timedelta(days=9)
            )
            == []
        )
    assert (row.session.id, row.taken, row.waiting, row.free) == (session.id, 2, 1, 0)


# Cancelling -------------------------------------------------------------------------------


async def test_cancelling_a_session_refunds_and_tells_every_family_naming_the_staff(
    database, clock
):
    town, _, session, (first, second, third) = await a_town(database, mode=PaymentMode.WALLET)
    staff = await staff_of(database, town.id, clock)
    now = clock.now()
    for family in (first, second):
        async with database.writing() as db:
            await b.credit(db, family.household, 5000)
    booked = [await book(database, family, session.id, now) for family in (first, second)]
    in_line = await wait_in_line(database, third, session.id, now)

    async with database.writing() as db:
        done = await service.cancel_one_session(
            db, staff, session.id, reason="Fuite d'eau au centre", now=now
        )

    assert len(done) == 3
    assert all(
        row.state is BookingState.CANCELLED for row in await b.bookings_of(database, session.id)
    )
    for booking_id in (*booked, in_line):
        event = (await b.events_of(database, booking_id))[-1]
        assert event.kind is EventKind.CANCELLED_BY_TOWN and event.actor == "staff:gestion"
        assert event.data["reason"] == "Fuite d'eau au centre"
    for family in (first, second):
        refund = (await b.ledger_of(database, family.household.id, WalletKind.EUROS))[-1]
        assert (refund.kind, refund.amount) == (LedgerKind.REFUND, 1200)
    notices = await outbox_rows(database, NoticeKind.SESSION_CANCELLED)
    assert {row.household_id for row in notices} == {
        first.household.id,
        second.household.id,
        third.household.id,
    }
    (audit,) = await audit_rows(database, "session_cancelled")
    assert audit.data["bookings"] == 3 and audit.data["households"] == 3
    assert (await b.reload(database, Session, session.id)).cancelled_at == now

    with pytest.raises(SessionRefused) as refused:  # once is enough
        async with database.writing() as db:
            await service.cancel_one_session(db, staff, session.id, reason="encore", now=now)
    assert refused.value.code is SessionRefusal.CANCELLED


async def test_a_cancellation_needs_a_reason(database, clock):
    town, _, session, _ = await a_town(database)
    staff = await staff_of(database, town.id, clock)
    with pytest.raises(SessionRefused) as refused:
        async with database.writing() as db:
            await service.cancel_one_session(db, staff, session.id, reason="  ", now=clock.now())
    assert refused.value.code is SessionRefusal.REASON_REQUIRED
    assert (await b.reload(database, Session, session.id)).cancelled_at is None


async def test_cancelling_a_day_cancels_the_chosen_activities_sessions_that_day_only(
    database, clock
):
    town, activity, session, (first, second, third) = await a_town(database)
    staff = await staff_of(database, town.id, clock)
    now = clock.now()
    async with database.writing() as db:
        canteen = await b.activity(db, town, name="Cantine")
        lunch = await b.session(db, canteen, starts_at=b.WEDNESDAY.replace(hour=12), hours=1)
        next_week = await b.session(db, canteen, starts_at=b.WEDNESDAY + timedelta(days=7))
        other_town = await b.structure(db)
        elsewhere = await b.session(db, await b.activity(db, other_town), capacity=3)
    await book(database, first, session.id, now)
    await book(database, second, lunch.id, now)
    await book(database, third, lunch.id, now)
    await book(database, first, next_week.id, now)

    async with database.reading() as db:
        impact = await service.day_impact(db, town.id, WEDNESDAY, [canteen.id])
        everything = await service.day_impact(db, town.id, WEDNESDAY)
    assert [item.id for item in impact.sessions] == [lunch.id]
    assert (impact.bookings, impact.households) == (2, 2)
    assert [item.id for item in everything.sessions] == [session.id, lunch.id]
    assert (everything.bookings, everything.households) == (3, 3)

    async with database.writing() as db:
        done = await service.cancel_day(
            db, staff, WEDNESDAY, reason="Grève", activity_ids=[canteen.id], now=now
        )
    assert len(done) == 2
    assert (await b.reload(database, Session, lunch.id)).cancelled_at == now
    assert (await b.reload(database, Session, session.id)).cancelled_at is None
    assert (await b.reload(database, Session, next_week.id)).cancelled_at is None
    assert (await b.reload(database, Session, elsewhere.id)).cancelled_at is None

    async with database.writing() as db:
        done = await service.cancel_day(db, staff, WEDNESDAY, reason="Grève", now=now)
    assert len(done) == 1 and (await b.reload(database, Session, session.id)).cancelled_at == now
    audits = await audit_rows(database, "day_cancelled")
    assert [audit.data["sessions"] for audit in audits] == [[lunch.id], [session.id]]
    assert len(await outbox_rows(database, NoticeKind.SESSION_CANCELLED)) >= 3

    with pytest.raises(LookupError):  # another structure's activity
        async with database.writing() as db:
            await service.cancel_day(
                db, staff, WEDNESDAY, reason="x", activity_ids=[elsewhere.activity_id], now=now
            )


# Waves ------------------------------------------------------------------------------------


async def test_the_opening_and_the_waves_are_set_changed_and_removed(database, clock):
    town, activity, session, (first, *_) = await a_town(database)
    staff = await staff_of(database, town.id, clock)
    now = clock.now()
    everyone = datetime(2027, 3, 8, 8, 0, tzinfo=PARIS)
    residents = datetime(2027, 3, 1, 8, 0, tzinfo=PARIS)
    async with database.writing() as db:
        await service.set_opening(db, staff, activity.id, everyone, now=now)
        await service.set_wave(db, staff, activity.id, "resident", residents, now=now)
        await service.set_wave(db, staff, activity.id, "exterieur", everyone, now=now)
    async with database.writing() as db:
        await service.set_wave(
            db, staff, activity.id, "resident", residents + timedelta(hours=1), now=now
        )
        await service.set_wave(db, staff, activity.id, "exterieur", None, now=now)
    async with database.reading() as db:
        waves = list(
            await db.scalars(select(OpeningWave).where(OpeningWave.activity_id == activity.id))
        )
        assert await service.household_groups(db, town.id) == ["resident"]
    assert [(wave.household_group, wave.opens_at) for wave in waves] == [
        ("resident", residents + timedelta(hours=1))
    ]
    # The booking rules read them: a resident can book from 09:00, not at 08:59.
    clock.advance(timedelta(minutes=-1))
    with pytest.raises(Refused) as refused:
        await book(database, first, session.id, clock.now())
    assert refused.value.code is Refusal.NOT_OPEN_YET
    clock.advance(timedelta(minutes=1))
    await book(database, first, session.id, clock.now())

    assert len(await audit_rows(database, "wave_set")) == 4
    (opening,) = await audit_rows(database, "opening_set")
    assert opening.data["after"] == everyone.isoformat()
    with pytest.raises(SessionRefused):
        async with database.writing() as db:
            await service.set_wave(db, staff, activity.id, " ", residents, now=now)


async def test_another_structures_sessions_and_activities_are_out_of_reach(database, clock):
    town, activity, session, _ = await a_town(database)
    async with database.writing() as db:
        other = await b.structure(db)
    stranger = await staff_of(database, other.id, clock, login="ailleurs")
    now = clock.now()
    attempts = [
        lambda db: service.set_capacity(db, stranger, session.id, 9, now=now),
        lambda db: service.cancel_one_session(db, stranger, session.id, reason="x", now=now),
        lambda db: service.edit_session(
            db,
            stranger,
            session.id,
            start=time(9),
            end=time(10),
            place="",
            label="",
            price_cents=0,
            now=now,
        ),
        lambda db: service.set_opening(db, stranger, activity.id, None, now=now),
        lambda db: service.set_wave(db, stranger, activity.id, "resident", None, now=now),
        lambda db: service.create_session(
            db,
            stranger,
            activity_id=activity.id,
            day=WEDNESDAY,
            start=time(9),
            end=time(10),
            capacity=1,
            price_cents=0,
            now=now,
        ),
    ]
    for attempt in attempts:
        with pytest.raises(LookupError):
            async with database.writing() as db:
                await attempt(db)
    async with database.reading() as db:
        assert await service.list_sessions(db, other.id, start=WEDNESDAY, end=WEDNESDAY) == []
        assert (await service.day_impact(db, other.id, WEDNESDAY)).sessions == []
    saved = await b.reload(database, Session, session.id)
    assert (saved.capacity, saved.cancelled_at) == (2, None)


# The pages --------------------------------------------------------------------------------


async def logged_in(staff_client, login):
    browser = StaffBrowser(staff_client)
    await browser.log_in(login)
    return browser


async def test_a_manager_creates_a_session_changes_its_capacity_and_cancels_it_in_the_pages(
    database, clock, staff_client
):
    town, activity, session, (first, second, third) = await a_town(database)
    await make_staff(database, town.id, "gestion", StaffRole.MANAGER, now=clock.now())
    now = clock.now()
    await book(database, first, session.id, now)
    await book(database, second, session.id, now)
    await wait_in_line(database, third, session.id, now)
    browser = await logged_in(staff_client, "gestion")

    await browser.get("/staff/sessions?from=2027-03-08&to=2027-03-14")
    assert browser.status == 200
    assert "Mercredis loisirs" in browser.text and "2 / 2" in browser.text
    assert "Complète" in browser.text

    await browser.get("/staff/sessions/new")
    await browser.post(
        "/staff/sessions/new",
        {
            "activity": str(activity.id),
            "day": "2027-03-17",
            "start": "09:00",
            "end": "17:00",
            "capacity": "12",
            "price": "8,50",
            "place": "École Jaurès",
            "label": "",
        },
    )
    assert browser.status == 200 and "Séance créée." in browser.text
    assert "0 réservées sur 12 places" in browser.text and "8,50" in browser.text

    await browser.get(f"/staff/sessions/{session.id}")
    await browser.post(f"/staff/sessions/{session.id}/capacity", {"capacity": "1"})
    assert browser.status == 409
    assert "2 places sont réservées" in browser.text
    await browser.post(f"/staff/sessions/{session.id}/capacity", {"capacity": "3"})
    assert browser.status == 200 and "3 réservées sur 3 places" in browser.text

    await browser.post(f"/staff/sessions/{session.id}/cancel", {"reason": ""})
    assert browser.status == 409 and "Indiquez le motif" in browser.text
    await browser.post(f"/staff/sessions/{session.id}/cancel", {"reason": "Centre fermé"})
    assert browser.status == 200
    assert "Séance annulée : 3 réservations annulées" in browser.text
    notices = await outbox_rows(database, NoticeKind.SESSION_CANCELLED)
    assert {row.household_id for row in notices} == {
        first.household.id,
        second.household.id,
        third.household.id,
    }
    assert all(row.data["reason"] == "Centre fermé" for row in notices)

    await browser.post("/staff/sessions/new", {"activity": str(activity.id), "day": "demain"})
    assert browser.status == 400 and "mal rempli" in browser.text


async def test_a_day_is_cancelled_after_the_page_shows_what_it_touches(
    database, clock, staff_client
):
    town, _, session, (first, second, _) = await a_town(database)
    await make_staff(database, town.id, "gestion", StaffRole.MANAGER, now=clock.now())
    await book(database, first, session.id, clock.now())
    await book(database, second, session.id, clock.now())
    browser = await logged_in(staff_client, "gestion")

    await browser.get("/staff/sessions/day?day=2027-03-10")
    assert "1 séance" in browser.text and "2 réservations" in browser.text
    assert "2 familles prévenues" in browser.text
    assert (await b.reload(database, Session, session.id)).cancelled_at is None
    await browser.post("/staff/sessions/day", {"day": "2027-03-10", "reason": "Neige"})
    assert browser.status == 200
    assert "Journée annulée : 2 réservations annulées" in browser.text
    assert (await b.reload(database, Session, session.id)).cancelled_at is not None


async def test_the_waves_page_sets_an_opening_and_a_wave(database, clock, staff_client):
    town, activity, _, _ = await a_town(database)
    await make_staff(database, town.id, "gestion", StaffRole.MANAGER, now=clock.now())
    browser = await logged_in(staff_client, "gestion")

    await browser.get(f"/staff/sessions/waves?activity={activity.id}")
    assert "Ouverte à tous dès maintenant." in browser.text
    await browser.post(
        "/staff/sessions/waves",
        {"activity": str(activity.id), "what": "opening", "opens_at": "2027-03-08T08:00"},
    )
    await browser.post(
        "/staff/sessions/waves",
        {
            "activity": str(activity.id),
            "what": "wave",
            "group": "resident",
            "opens_at": "2027-03-02T08:00",
        },
    )
    assert browser.status == 200 and "Enregistré." in browser.text
    assert "lundi 8 mars, 08:00" in browser.text and "mardi 2 mars, 08:00" in browser.text
    async with database.reading() as db:
        (wave,) = await db.scalars(
            select(OpeningWave).where(OpeningWave.activity_id == activity.id)
        )
    assert wave.opens_at == datetime(2027, 3, 2, 8, 0, tzinfo=PARIS)


async def test_another_structures_manager_gets_404_and_an_agent_403_on_every_sessions_page(
    database, clock, staff_client
):
    town, activity, session, (first, *_) = await a_town(database)
    await book(database, first, session.id, clock.now())
    async with database.writing() as db:
        other = await b.structure(db)
        await b.activity(db, other, name="Piscine d'ailleurs")
    await make_staff(database, other.id, "ailleurs", StaffRole.ADMIN, now=clock.now())
    await make_staff(database, town.id, "agent", StaffRole.AGENT, now=clock.now())
    stranger = await logged_in(staff_client, "ailleurs")

    for path in (
        f"/staff/sessions/{session.id}",
        f"/staff/sessions/waves?activity={activity.id}",
        f"/staff/sessions/day?day=2027-03-10&activity={activity.id}",
    ):
        await stranger.get(path)
        assert stranger.status == 404, path
        assert "Mercredis loisirs" not in stranger.text
    await stranger.get("/staff/sessions?from=2027-03-10&to=2027-03-10")
    assert "Mercredis loisirs" not in stranger.text and "Aucune séance" in stranger.text
    await stranger.get("/staff/sessions/day?day=2027-03-10")
    assert "Aucune séance à annuler" in stranger.text
    for path, form in (
        (f"/staff/sessions/{session.id}/capacity", {"capacity": "0"}),
        (f"/staff/sessions/{session.id}/edit", {"start": "09:00", "end": "10:00", "price": "0"}),
        (f"/staff/sessions/{session.id}/cancel", {"reason": "x"}),
        ("/staff/sessions/waves", {"activity": str(activity.id), "opens_at": ""}),
        (
            "/staff/sessions/new",
            {
                "activity": str(activity.id),
                "day": "2027-03-17",
                "start": "09:00",
                "end": "10:00",
                "capacity": "1",
                "price": "0",
            },
        ),
        ("/staff/sessions/day", {"day": "2027-03-10", "activity": str(activity.id), "reason": "x"}),
    ):
        await stranger.post(path, form)
        assert stranger.status == 404, path
    await stranger.post("/staff/sessions/day", {"day": "2027-03-10", "reason": "x"})
    saved = await b.reload(database, Session, session.id)
    assert (saved.capacity, saved.cancelled_at) == (2, None)
    async with database.reading() as db:
        assert await service.list_sessions(db, town.id, start=WEDNESDAY, end=WEDNESDAY) != []

    agent = await logged_in(staff_client, "agent")
    for path in ("/staff/sessions", f"/staff/sessions/{session.id}", "/staff/sessions/waves"):
        await agent.get(path)
        assert agent.status == 403, path
    await agent.post(f"/staff/sessions/{session.id}/capacity", {"capacity": "0"})
    assert agent.status == 403

"""The demo town: loaded once, and each household shows the rule it was made for."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from booking.catalogue_file import parse_catalogue, planned_sessions
from booking.clock import PARIS
from booking.db import Database
from booking.demo import demo_catalogue, full_wednesday, load_demo
from booking.models import (
    Activity,
    Booking,
    BookingState,
    Channel,
    Guardian,
    Household,
    Participant,
    Session,
    Structure,
    WalletKind,
)
from booking.passwords import verify_password
from booking.refusals import Refusal, Refused
from booking.services.basket import add_to_basket, confirm_basket, join_waitlist
from booking.services.common import Actor, places_taken
from booking.services.wallets import balances


@pytest.fixture
async def demo(database, clock) -> Database:
    assert await load_demo(database, clock.now())
    return database


async def actor_of(db, login: str) -> Actor:
    guardian = await db.scalar(select(Guardian).where(Guardian.login == login))
    return Actor(channel=Channel.WEB, household_id=guardian.household_id, guardian_id=guardian.id)


async def child(db, household_id: int, first_name: str) -> Participant:
    return await db.scalar(
        select(Participant).where(
            Participant.household_id == household_id, Participant.first_name == first_name
        )
    )


async def session_on(db, code: str, day: date) -> Session:
    return await db.scalar(
        select(Session)
        .join(Activity, Activity.id == Session.activity_id)
        .where(Activity.code == code, Session.day == day)
    )


async def try_to_book(demo: Database, login: str, name: str, code: str, day: date, now) -> None:
    async with demo.writing() as db:
        actor = await actor_of(db, login)
        participant = await child(db, actor.household_id, name)
        session = await session_on(db, code, day)
        await add_to_basket(
            db, actor=actor, participant_id=participant.id, session_id=session.id, now=now
        )


NEXT_MONDAY = date(2027, 3, 8)  # the clock is pinned on Monday 1 March 2027


async def test_the_demo_loads_once_and_a_second_call_does_nothing(demo, clock):
    assert not await load_demo(demo, clock.now())

    async with demo.reading() as db:
        assert await db.scalar(select(func.count(Structure.id))) == 1
        logins = set(await db.scalars(select(Guardian.login)))
        dupont = await db.scalar(select(Guardian).where(Guardian.login == "dupont"))
        codes = set(await db.scalars(select(Activity.category)))
        money = await balances(db, dupont.household_id)
    assert {"dupont", "martin", "bernard"} <= logins
    assert verify_password(dupont.password_hash, "demo-dupont")
    assert not dupont.must_change_password and dupont.terms_accepted_at is not None
    assert len(codes) == 6  # every category
    assert money[WalletKind.EUROS] == 2500 and money[WalletKind.COUPONS] == 10


async def test_dupont_already_has_a_confirmed_cantine_day_next_week(demo):
    async with demo.reading() as db:
        booked = (
            await db.execute(
                select(Participant.first_name, Session.day, Booking.state)
                .join(Booking, Booking.participant_id == Participant.id)
                .join(Session, Session.id == Booking.session_id)
                .join(Household, Household.id == Booking.household_id)
                .where(Household.reference == "dupont")
            )
        ).all()
    assert sorted(booked) == [
        ("Léa", NEXT_MONDAY, BookingState.CONFIRMED),
        ("Paolo", NEXT_MONDAY, BookingState.CONFIRMED),
    ]


async def test_dupont_can_add_a_cantine_day_for_lea(demo, clock):
    await try_to_book(
        demo, "dupont", "Léa", "cantine", NEXT_MONDAY + timedelta(days=1), clock.now()
    )

    async with demo.writing() as db:
        checkout = await confirm_basket(db, actor=await actor_of(db, "dupont"), now=clock.now())
    assert [booking.price_cents for booking in checkout.confirmed] == [320]


async def test_martin_cannot_book_until_zoes_dossier_is_complete(demo, clock):
    with pytest.raises(Refused) as refused:
        await try_to_book(demo, "martin", "Zoé", "cantine", NEXT_MONDAY, clock.now())

    assert refused.value.code is Refusal.DOSSIER_INCOMPLETE
    assert refused.value.params["missing"] == ["attestation d'assurance", "fiche sanitaire"]


async def test_bernard_is_blocked_while_in_debt(demo, clock):
    with pytest.raises(Refused) as refused:
        await try_to_book(demo, "bernard", "Hugo", "cantine", NEXT_MONDAY, clock.now())

    assert refused.value.code is Refusal.IN_DEBT
    assert refused.value.params["owed_cents"] == 8540


async def test_the_full_wednesday_is_full_and_paolo_can_join_its_waitlist(demo, clock):
    wednesday = full_wednesday(clock.now().date())
    assert wednesday == date(2027, 3, 10)
    async with demo.reading() as db:
        session = await session_on(db, "mercredis-3-6", wednesday)
        taken = await places_taken(db, session.id)
        waiting = await db.scalar(
            select(func.count(Booking.id)).where(
                Booking.session_id == session.id, Booking.state == BookingState.WAITLISTED
            )
        )
    assert (taken, session.capacity, waiting) == (8, 8, 2)

    with pytest.raises(Refused) as refused:
        await try_to_book(demo, "dupont", "Paolo", "mercredis-3-6", wednesday, clock.now())
    assert refused.value.code is Refusal.FULL and refused.value.params["waitlist"] is True

    async with demo.writing() as db:
        actor = await actor_of(db, "dupont")
        paolo = await child(db, actor.household_id, "Paolo")
        _, position = await join_waitlist(
            db, actor=actor, participant_id=paolo.id, session_id=session.id, now=clock.now()
        )
    assert position == 3


async def test_the_sports_school_takes_lea_but_waits_for_amalias_enrolment(demo, clock):
    saturday = NEXT_MONDAY + timedelta(days=5)
    await try_to_book(demo, "dupont", "Léa", "ems-multisport", saturday, clock.now())

    with pytest.raises(Refused) as refused:
        await try_to_book(demo, "dupont", "Amalia", "ems-multisport", saturday, clock.now())
    assert refused.value.code is Refusal.ENROLMENT_PENDING


async def test_summer_weeks_open_to_non_residents_a_week_after_residents(demo, clock):
    first_week = date(2027, 7, 5)
    await try_to_book(demo, "petit", "Chloé", "ete-centre-loisirs", first_week, clock.now())

    with pytest.raises(Refused) as refused:
        await try_to_book(demo, "moreau", "Rose", "ete-centre-loisirs", first_week, clock.now())
    assert refused.value.code is Refusal.NOT_OPEN_YET

    clock.advance(days=7)
    await try_to_book(demo, "moreau", "Rose", "ete-centre-loisirs", first_week, clock.now())


async def test_a_father_can_climb_with_two_of_his_children_for_coupons(demo, clock):
    saturday = NEXT_MONDAY + timedelta(days=5)
    for name in ("Jean-Paul", "Léa", "Amalia"):
        await try_to_book(demo, "dupont", name, "escalade-en-famille", saturday, clock.now())

    async with demo.writing() as db:
        checkout = await confirm_basket(db, actor=await actor_of(db, "dupont"), now=clock.now())
    assert checkout.debited_coupons == 6


async def test_the_demo_town_is_in_zone_a_and_every_activity_has_the_names_parents_use(demo):
    async with demo.reading() as db:
        zone = await db.scalar(select(Structure.school_zone))
        aliases = dict((await db.execute(select(Activity.code, Activity.aliases))).all())
    assert zone == "A"
    assert all(aliases.values()), aliases
    assert "cantine" in aliases["cantine"]
    assert "ALSH" in aliases["mercredis-3-6"] and "ALSH" in aliases["mercredis-6-12"]
    assert {code for code, names in aliases.items() if "garderie" in names} == {
        "periscolaire-matin",
        "periscolaire-soir",
    }


# --- The whole school year from the day the demo is loaded (issue 17) -------------------------


def planned_days(now: datetime) -> dict[str, list[date]]:
    """The first day of each session of each activity, as the demo catalogue plans them."""
    spec = parse_catalogue(demo_catalogue(now))
    return {
        activity.code: [s.starts_at.date() for s in planned_sessions(spec, activity)]
        for activity in spec.activities
    }


def paris(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=PARIS)


SPRING_2027 = (date(2027, 4, 10), date(2027, 4, 25))  # zone A's "vacances de printemps"


async def test_school_days_run_to_the_summer_holidays_without_zone_a_holidays(demo, clock):
    async with demo.reading() as db:
        days = list(
            await db.scalars(
                select(Session.day)
                .join(Activity, Activity.id == Session.activity_id)
                .where(Activity.code == "cantine")
                .order_by(Session.day)
            )
        )
    # Before today: the canteen routine's days since the first of last month (booking.demo).
    past = [day for day in days if day < date(2027, 3, 1)]
    assert past and min(past) >= date(2027, 2, 1)
    days = [day for day in days if day >= date(2027, 3, 1)]
    assert days[0] == date(2027, 3, 1) and days[-1] == date(2027, 7, 2)  # school ends 3 July
    assert not [day for day in days if SPRING_2027[0] <= day <= SPRING_2027[1]]
    assert date(2027, 5, 7) not in days  # the Ascension bridge
    assert date(2027, 5, 17) not in days  # Whit Monday, a public holiday
    assert date(2027, 6, 3) in days and date(2027, 6, 28) in days
    assert {day.weekday() for day in days} == {0, 1, 3, 4}


def test_each_activity_covers_its_part_of_the_year():
    days = planned_days(paris(date(2027, 3, 1)))

    wednesdays = days["mercredis-3-6"]
    assert wednesdays[0] == date(2027, 3, 3) and wednesdays[-1] == date(2027, 6, 30)
    assert date(2027, 4, 14) not in wednesdays and date(2027, 4, 28) in wednesdays
    assert days["ete-centre-loisirs"][0] == date(2027, 7, 5)
    assert days["ete-centre-loisirs"][-1] == date(2027, 8, 23)
    assert days["sejour-mer"] == [date(2027, 7, 12)]
    sports = days["ems-multisport"]  # Saturdays of the school year, not in the holidays
    assert sports[-1] == date(2027, 6, 26) and date(2027, 4, 17) not in sports
    climbing = days["escalade-en-famille"]  # Saturdays all year round, the summer too
    assert date(2027, 4, 17) in climbing and climbing[-1] == date(2027, 8, 28)


def test_in_december_the_demo_skips_christmas_and_runs_to_july():
    days = planned_days(paris(date(2026, 12, 7)))

    canteen = days["cantine"]
    assert canteen[0] == date(2026, 12, 7) and canteen[-1] == date(2027, 7, 2)
    assert not [day for day in canteen if date(2026, 12, 19) <= day <= date(2027, 1, 3)]
    assert not [day for day in canteen if date(2027, 2, 13) <= day <= date(2027, 2, 28)]
    assert full_wednesday(date(2026, 12, 14)) == date(2027, 1, 6)  # not in the holidays


def test_with_less_than_four_weeks_of_school_left_the_demo_runs_to_the_next_summer():
    days = planned_days(paris(date(2027, 6, 14)))

    canteen = days["cantine"]
    assert date(2027, 7, 2) in canteen and date(2027, 9, 2) in canteen
    assert not [day for day in canteen if date(2027, 7, 3) <= day <= date(2027, 8, 31)]
    assert canteen[-1] == date(2028, 7, 3)  # the summer of 2028 starts on 4 July
    summers = {day.year for day in days["ete-centre-loisirs"]}
    assert summers == {2027, 2028} and len(days["sejour-mer"]) == 2


def test_on_any_day_the_demo_has_its_canteen_day_next_week_and_its_full_wednesday():
    day = date(2026, 6, 1)
    while day <= date(2027, 9, 30):
        days = planned_days(paris(day))
        assert any(d >= day + timedelta(days=7) for d in days["cantine"]), day
        assert full_wednesday(day) in days["mercredis-3-6"], day
        day += timedelta(days=5)  # every weekday in turn, through a year and its summers

"""The daily staff digest: tomorrow's counts, yesterday's bookings and cancellations,
waitlists and anomalies, e-mailed once a day per structure to its staff at the digest hour,
through a real local SMTP server. The clock: Monday 1 March 2027, 09:00."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from booking.clock import PARIS
from booking.models import (
    Activity,
    Booking,
    BookingState,
    Category,
    Channel,
    EventKind,
    NoticeKind,
    OutboxMessage,
    OutboxState,
    StaffAudit,
    StaffRole,
    Structure,
)
from booking.services.common import Actor, record_event
from booking.services.staff_digest import claim_digest, compose_digest
from bot.notify.email import Mailer, SmtpSettings
from bot.staff.digest import digest_email, send_digests_once
from dialogs.i18n import Translator
from tests import builders as b
from tests.smtp_server import SmtpServer, smtp_server
from tests.staff_support import make_staff

TODAY = date(2027, 3, 1)
YESTERDAY = datetime(2027, 2, 28, 10, 0, tzinfo=PARIS)


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with smtp_server() as server:
        yield server


async def _booking(db, session, state=BookingState.CONFIRMED, confirmed_at=None) -> Booking:
    family = await b.family(db, await _structure_of(db, session))
    booking = Booking(
        session_id=session.id,
        participant_id=family.child.id,
        household_id=family.household.id,
        state=state,
        price_cents=session.price_cents,
        created_at=confirmed_at or YESTERDAY - timedelta(days=5),
        confirmed_at=confirmed_at or YESTERDAY - timedelta(days=5),
    )
    db.add(booking)
    await db.flush()
    return booking


async def _structure_of(db, session):
    activity = await db.get(Activity, session.activity_id)
    return await db.get(Structure, activity.structure_id)


def _event(db, booking, kind, at=YESTERDAY) -> None:
    record_event(db, kind=kind, at=at, actor=Actor(channel=Channel.WEB), booking=booking)


async def _town(database):
    """Tomorrow's canteen 3/10; yesterday 4 bookings and 2 parents' cancellations (of 5) on
    Wednesday's leisure centre, which has 2 in line; a sports session full 20 minutes after
    opening yesterday; a dead notification."""
    async with database.writing() as db:
        town = await b.structure(db)
        cantine = await b.activity(db, town, name="Cantine", category=Category.RESTAURATION)
        tomorrow = await b.session(
            db, cantine, starts_at=datetime(2027, 3, 2, 11, 30, tzinfo=PARIS), capacity=10
        )
        for _ in range(3):
            await _booking(db, tomorrow)
        mercredis = await b.activity(db, town, name="Mercredis", waitlist=True)
        wednesday = await b.session(db, mercredis, capacity=5)
        kept = [await _booking(db, wednesday) for _ in range(3)]
        for booking in kept[:2]:
            _event(db, booking, EventKind.CONFIRMED)
        for _ in range(2):
            gone = await _booking(db, wednesday, state=BookingState.CANCELLED)
            _event(db, gone, EventKind.CANCELLED)
        for _ in range(2):
            await _booking(db, wednesday, state=BookingState.WAITLISTED)
        opening = datetime(2027, 2, 28, 10, 0, tzinfo=PARIS)
        escalade = await b.activity(db, town, name="Escalade", opens_at=opening)
        climbing = await b.session(db, escalade, capacity=2)
        for minutes in (5, 20):
            filled = await _booking(db, climbing, confirmed_at=opening + timedelta(minutes=minutes))
            _event(db, filled, EventKind.CONFIRMED, at=filled.confirmed_at)
        family = await b.family(db, town)
        db.add(
            OutboxMessage(
                household_id=family.household.id,
                kind=NoticeKind.REMINDER,
                channel="email",
                address="x@exemple.fr",
                data={},
                delivery_key="dead-1",
                state=OutboxState.DEAD,
                next_attempt_at=YESTERDAY,
                created_at=YESTERDAY,
            )
        )
        other = await b.structure(db)
        other_activity = await b.activity(db, other, name="Ailleurs")
        other_session = await b.session(
            db, other_activity, starts_at=datetime(2027, 3, 2, 9, 0, tzinfo=PARIS)
        )
        _event(db, await _booking(db, other_session), EventKind.CONFIRMED)
        return town.id, other.id


async def test_the_digest_counts_tomorrow_yesterday_waitlists_and_anomalies(database, clock):
    town_id, _ = await _town(database)
    async with database.reading() as db:
        digest = await compose_digest(db, town_id, TODAY)

    assert [(c.activity, c.booked, c.capacity) for c in digest.tomorrow] == [("Cantine", 3, 10)]
    assert (digest.bookings, digest.cancellations) == (4, 2)
    assert [(n.activity, n.day, n.count) for n in digest.waitlists] == [
        ("Mercredis", date(2027, 3, 10), 2)
    ]
    assert [(n.activity, n.minutes) for n in digest.fast_fills] == [("Escalade", 20)]
    assert [(n.activity, n.count, n.out_of) for n in digest.cancellation_spikes] == [
        ("Mercredis", 2, 5)
    ]
    assert digest.dead_notifications == 1

    subject, text = digest_email(digest, Translator("fr"))
    assert subject == "Compte rendu du lundi 1er mars — Ville de Test"
    for line in (
        "• Cantine : 3 / 10 places",
        "• 4 réservations",
        "• 2 annulations",
        "• Mercredis — mer. 10 mars : 2 en attente",
        "• Escalade — mer. 10 mars : complet 20 min après l'ouverture",
        "• Mercredis — mer. 10 mars : 2 annulations sur 5 réservations hier",
        "• 1 message aux familles non distribué (voir l'exploitant)",
    ):
        assert line in text.splitlines(), (line, text)


async def test_the_digest_goes_once_a_day_to_the_staff_with_an_email(database, clock, smtp):
    town_id, other_id = await _town(database)
    for login, email in (("gestion", "gestion@mairie.fr"), ("cantine", "cantine@mairie.fr")):
        await make_staff(database, town_id, login, StaffRole.AGENT, now=clock.now(), email=email)
    await make_staff(database, town_id, "sans-adresse", now=clock.now())
    mailer = Mailer(SmtpSettings.from_url(smtp.url), clock=clock)

    clock.advance(timedelta(hours=-3))  # 06:00: before the digest hour (07:00)
    assert await send_digests_once(database, clock, mailer) == 0
    clock.advance(timedelta(hours=3))

    assert await send_digests_once(database, clock, mailer) == 1
    assert await send_digests_once(database, clock, mailer) == 0  # once a day

    messages = smtp.messages
    assert sorted(m["To"] for m in messages) == ["cantine@mairie.fr", "gestion@mairie.fr"]
    assert messages[0]["Subject"] == "Compte rendu du lundi 1er mars — Ville de Test"
    assert "• Cantine : 3 / 10 places" in messages[0].get_content()
    async with database.reading() as db:
        claims = (
            await db.scalars(select(StaffAudit).where(StaffAudit.action == "digest_sent"))
        ).all()
    assert [(c.structure_id, c.target) for c in claims] == [(town_id, "2027-03-01")]

    clock.advance(timedelta(days=1))
    assert await send_digests_once(database, clock, mailer) == 1
    assert len(smtp.messages) == 4


async def test_two_processes_claim_the_days_digest_once(database, clock):
    town_id, _ = await _town(database)

    async def claim() -> bool:
        async with database.writing() as db:
            return await claim_digest(db, town_id, TODAY, clock.now())

    results = await asyncio.gather(claim(), claim(), claim())
    assert sorted(results) == [False, False, True]


async def test_without_a_mailer_no_digest_is_claimed(database, clock):
    town_id, _ = await _town(database)
    await make_staff(database, town_id, "gestion", now=clock.now(), email="g@mairie.fr")
    assert await send_digests_once(database, clock, None) == 0
    async with database.reading() as db:
        assert (
            await db.scalar(select(StaffAudit.id).where(StaffAudit.action == "digest_sent"))
        ) is None

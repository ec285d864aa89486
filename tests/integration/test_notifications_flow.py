"""Notifications through the real app: the chat API, the outbox worker and the web inbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.models import Booking, BookingState, Category, Payment, PaymentMode, Session
from booking.services.basket import add_to_basket, confirm_basket, join_waitlist
from booking.services.cancellation import cancel_booking, cancel_session
from booking.services.payments import start_basket_payment
from booking.services.reminders import run_notice_jobs
from bot import scheduler
from bot.app import build_app
from bot.settings import Settings
from bot.web.chat_api import COOKIE
from bot.web.keys import OUTBOX
from tests import builders
from tests.builders import STAFF, Family
from tests.integration.test_chat_api import (
    PASSWORD,
    Chat,
    Message,
    open_socket,
    password_hash,
)

PUBLIC = "https://ribambelle.example"


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


# The town ---------------------------------------------------------------------------------


@dataclass
class Town:
    dupont: Family  # Léa
    martin: Family  # Paolo
    bernard: Family  # Zoé
    canteen: dict[int, Session]  # by day of March
    pony: Session  # paid online, one place, with a waitlist


async def _parent(db, structure, *, name: str, child: str) -> Family:  # noqa: ANN001
    family = await builders.family(db, structure, name=name)
    family.guardian.password_hash = password_hash()
    family.guardian.terms_accepted_at = paris(2027, 1, 2, 10, 0)
    family.child.first_name = child
    await db.flush()
    return family


@pytest.fixture
async def town(sqlite_database: Database) -> Town:
    async with sqlite_database.writing() as db:
        structure = await builders.structure(db)
        families = [
            await _parent(db, structure, name=name, child=child)
            for name, child in (("DUPONT", "Léa"), ("MARTIN", "Paolo"), ("BERNARD", "Zoé"))
        ]
        cantine = await builders.activity(
            db, structure, name="Cantine", category=Category.RESTAURATION
        )
        canteen = {
            day: await builders.session(
                db, cantine, starts_at=paris(2027, 3, day, 12, 0), hours=1.5, price_cents=335
            )
            for day in (2, 8, 9)
        }
        stage = await builders.activity(
            db, structure, name="Stage poney", mode=PaymentMode.IMMEDIATE, waitlist=True
        )
        pony = await builders.session(db, stage, capacity=1, price_cents=1200)
    return Town(*families, canteen, pony)


@pytest.fixture
async def client(sqlite_database: Database, clock: FrozenClock) -> AsyncIterator[TestClient]:
    """The real app (no scheduler: the test runs the jobs and the outbox worker)."""
    settings = Settings(database_url="sqlite://unused", public_url=PUBLIC, chat_burst=100)
    app = build_app(settings, database=sqlite_database, clock=clock, run_scheduler=False)
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    yield client
    await client.close()


async def logged_in(client: TestClient, family: Family) -> Chat:
    chat = Chat(client)
    await chat.start()
    await chat.press("Se connecter")
    await chat.say(family.guardian.login)
    await chat.say(PASSWORD)
    assert "Bonjour Jean" in chat.text
    return chat


async def inbox(client: TestClient, chat: Chat) -> list[Message]:
    response = await client.get("/api/chat/inbox", cookies={COOKIE: chat.token})
    assert response.status == 200
    return (await response.json())["messages"]


async def deliver(client: TestClient) -> int:
    """What the scheduler's outbox task does: deliver everything due."""
    delivered = 0
    while claimed := await client.app[OUTBOX].run_once():
        delivered += claimed
    return delivered


async def press_starting(chat: Chat, prefix: str) -> list[Message]:
    (payload,) = [
        button["payload"]
        for message in chat.last
        for row in message["buttons"]
        for button in row
        if button["label"].startswith(prefix)
    ]
    return await chat.send(button=payload)


async def book(database: Database, family: Family, session: Session, now: datetime) -> Booking:
    async with database.writing() as db:
        booking = await add_to_basket(
            db, actor=family.actor, participant_id=family.child.id, session_id=session.id, now=now
        )
    async with database.writing() as db:
        await confirm_basket(db, actor=family.actor, now=now)
    return booking


# The flows --------------------------------------------------------------------------------


async def test_a_cancellation_is_pushed_to_the_households_other_conversation_not_this_one(
    client: TestClient, town: Town, sqlite_database: Database
) -> None:
    here = await logged_in(client, town.dupont)
    there = await logged_in(client, town.dupont)
    await here.press("Réserver")
    await here.press("Cantine")
    await here.tap(town.canteen[8].day)
    await here.press("Récapitulatif et confirmation")
    await here.press("Confirmer")
    assert "✓ Léa — Cantine — lundi 8 mars : confirmé" in here.text

    await here.press("Mes réservations")
    await press_starting(here, "Annuler Léa")  # billed later: cancelled at once
    assert "✓ Léa — Cantine — lundi 8 mars : annulé" in here.text
    assert await deliver(client) == 2  # the confirmation and the cancellation, to `there`

    assert await inbox(client, here) == []  # told in the answers, not pushed again
    assert [message["text"] for message in await inbox(client, there)] == [
        "Réservation confirmée :\n✓ Léa — Cantine — lundi 8 mars — 3,35\xa0€\n"
        "Cantine : facturé fin mars sur votre compte famille (3,35\xa0€)",
        "Réservation annulée :\n✕ Léa — Cantine — lundi 8 mars",
    ]


async def test_a_session_cancelled_by_the_town_reaches_the_households_inbox_and_socket(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    chat = await logged_in(client, town.dupont)
    await book(sqlite_database, town.dupont, town.canteen[9], clock.now())
    assert await deliver(client) == 1  # the confirmation (booked elsewhere)
    socket = await open_socket(client, chat.token)
    try:
        async with sqlite_database.writing() as db:
            await cancel_session(
                db, actor=STAFF, session_id=town.canteen[9].id, now=clock.now(), reason="grève"
            )
        assert await deliver(client) == 1
        frame = await socket.receive_json(timeout=5)
    finally:
        await socket.close()

    pushed = await inbox(client, chat)
    assert pushed[-1] == frame
    assert frame["text"] == (
        "La mairie a annulé Cantine du mardi 9 mars.\nEnfants concernés : Léa\nMotif : grève"
    )
    async with sqlite_database.reading() as db:
        states = set(
            await db.scalars(select(Booking.state).where(Booking.session_id == town.canteen[9].id))
        )
    assert states == {BookingState.CANCELLED}


async def test_a_freed_waitlist_place_is_pushed_to_the_first_in_line_with_its_pay_link(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    first = await logged_in(client, town.dupont)
    second = await logged_in(client, town.bernard)
    taken = await book(sqlite_database, town.martin, town.pony, clock.now())
    async with sqlite_database.writing() as db:
        paid = await db.get(Booking, taken.id)
        await builders.mark_paid(db, paid, clock.now())
        for family in (town.dupont, town.bernard):
            await join_waitlist(
                db,
                actor=family.actor,
                participant_id=family.child.id,
                session_id=town.pony.id,
                now=clock.now(),
            )
    async with sqlite_database.writing() as db:
        await cancel_booking(db, actor=town.martin.actor, booking_id=taken.id, now=clock.now())
    await deliver(client)

    (offer,) = await inbox(client, first)
    async with sqlite_database.reading() as db:
        payment = await db.scalar(
            select(Payment).where(Payment.household_id == town.dupont.household.id)
        )
    assert offer["text"] == (
        "Une place s'est libérée : Léa — Stage poney — mercredi 10 mars — 12,00\xa0€. "
        "Elle vous est gardée jusqu'au mardi 2 mars à 09:00 : payez pour la confirmer, "
        "sinon elle ira à la famille suivante."
    )
    assert offer["link"] == {"label": "Payer 12,00\xa0€", "url": f"{PUBLIC}/pay/{payment.token}"}
    page = await client.get(f"/pay/{payment.token}")
    assert page.status == 200
    assert await inbox(client, second) == []  # second in line: still waiting


async def test_the_reminders_cancel_button_opens_the_cancellation_in_the_chat(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    chat = await logged_in(client, town.dupont)
    booking = await book(sqlite_database, town.dupont, town.canteen[2], clock.now())
    await deliver(client)
    clock.set(paris(2027, 3, 1, 18, 0))
    async with sqlite_database.writing() as db:
        assert await run_notice_jobs(db, clock.now()) == 1
    assert await deliver(client) == 1

    reminder = (await inbox(client, chat))[-1]
    assert reminder["text"] == "Rappel pour demain, mardi 2 mars :\n• 12:00 Léa — Cantine"
    assert reminder["buttons"] == [
        [{"label": "Annuler : Léa, Cantine", "payload": f"x.cancel.{booking.id}"}]
    ]
    await chat.send(button=reminder["buttons"][0][0]["payload"])  # billed later: at once
    assert "✓ Léa — Cantine — mardi 2 mars : annulé (ne sera pas facturé)" in chat.text
    assert "Rétablir" in [b["label"] for m in chat.last for row in m["buttons"] for b in row]
    assert (await builders.reload(sqlite_database, Booking, booking.id)).state is (
        BookingState.CANCELLED
    )


async def test_a_parent_chooses_the_channels_and_the_language_of_e_mails(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    async with sqlite_database.writing() as db:
        household = await db.get(type(town.dupont.household), town.dupont.household.id)
        household.emails = "jp@example.org; lea.parent@example.org"
    chat = await logged_in(client, town.dupont)
    await chat.say("mes notifications")
    assert "✓ E-mail (jp@example.org, lea.parent@example.org)" in chat.text
    assert "Langue des e-mails : français" in chat.text

    await chat.press("Arrêter : E-mail")
    assert "✕ E-mail" in chat.text
    await chat.press("E-mails en anglais")
    assert "Langue des e-mails : anglais" in chat.text

    async with sqlite_database.reading() as db:
        household = await db.get(type(town.dupont.household), town.dupont.household.id)
    assert (household.notify_channels, household.language) == (["web", "telegram"], "en")
    other = await logged_in(client, town.dupont)
    await book(sqlite_database, town.dupont, town.canteen[8], clock.now())
    assert await deliver(client) == 2  # both web conversations; no e-mail any more
    assert len(await inbox(client, other)) == 1


async def test_an_unpaid_link_is_recalled_once_with_the_link_again(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    chat = await logged_in(client, town.dupont)
    await book(sqlite_database, town.dupont, town.pony, clock.now())  # pending payment
    async with sqlite_database.writing() as db:
        booking = await db.scalar(select(Booking).where(Booking.session_id == town.pony.id))
        loaded = await db.scalar(
            select(Booking)
            .where(Booking.id == booking.id)
            .options(
                joinedload(Booking.session).joinedload(Session.activity),
                joinedload(Booking.participant),
            )
        )
        payment = await start_basket_payment(
            db, actor=town.dupont.actor, bookings=[loaded], now=clock.now()
        )
    await deliver(client)

    for minutes in (10, 16, 30):
        clock.set(payment.created_at + timedelta(minutes=minutes))
        async with sqlite_database.writing() as db:
            await run_notice_jobs(db, clock.now())
        await deliver(client)

    recalls = [m for m in await inbox(client, chat) if "vous attend" in m["text"]]
    assert len(recalls) == 1
    assert recalls[0]["link"]["url"] == f"{PUBLIC}/pay/{payment.token}"
    assert recalls[0]["link"]["label"] == "Payer 12,00\xa0€"


async def test_the_scheduler_writes_an_evenings_reminders_in_small_transactions(
    client: TestClient,
    town: Town,
    sqlite_database: Database,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chats = [await logged_in(client, family) for family in (town.dupont, town.martin)]
    for family in (town.dupont, town.martin, town.bernard):
        await book(sqlite_database, family, town.canteen[9], clock.now())
    await deliver(client)
    monkeypatch.setattr(scheduler, "NOTICE_CHUNK", 1)
    clock.set(paris(2027, 3, 8, 18, 0))

    assert await scheduler.notice_jobs_once(sqlite_database, clock) == 2  # bernard: no channel
    assert await scheduler.notice_jobs_once(sqlite_database, clock) == 0  # written once
    await deliver(client)
    for chat in chats:
        pushed = [m["text"] for m in await inbox(client, chat)]
        assert pushed[0].startswith("Réservation confirmée"), pushed  # booked elsewhere, earlier
        assert [text for text in pushed if text.startswith("Rappel")] == [
            "Rappel pour demain, mardi 9 mars :\n• 12:00 "
            + ("Léa" if chat is chats[0] else "Paolo")
            + " — Cantine"
        ]

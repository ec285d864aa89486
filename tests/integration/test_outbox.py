"""The notification outbox: what the services and jobs write, and how the worker delivers it.

E-mail goes through the real Mailer to a local aiosmtpd server; web pushes through a recording
channel, or the real web inbox where duplicates matter. The clock is pinned and stepped.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from uuid import uuid4

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.models import (
    Activity,
    Booking,
    Conversation,
    Household,
    NoticeKind,
    OutboxMessage,
    OutboxState,
    Payment,
    PaymentMode,
    Session,
    Structure,
)
from booking.providers import ProviderState, ProviderStatus
from booking.services.basket import add_to_basket, confirm_basket
from booking.services.cancellation import cancel_session
from booking.services.conversations import pushed_after
from booking.services.outbox import notify, quiet_until
from booking.services.payments import apply_status, start_basket_payment
from booking.services.reminders import (
    run_notice_jobs,
    send_daily_reports,
    send_reminders,
    warn_expiring_baskets,
)
from bot.delivery import Deliveries, Delivery, Recipient
from bot.notify.email import Mailer, SmtpSettings
from bot.notify.worker import LEASE, MAX_ATTEMPTS, OutboxWorker, outbox_counts, retry_dead
from bot.web.delivery import WebDelivery
from bot.web.push import WebPushHub
from dialogs.i18n import Translator
from dialogs.notices import render
from dialogs.replies import Button, Reply
from tests import builders as b
from tests.builders import STAFF, Family, postgres_scratch  # noqa: F401
from tests.smtp_server import SmtpServer, smtp_server

PUBLIC = "https://ribambelle.example"
BOTH = "a@x.fr; b@y.fr"


@pytest.fixture
async def postgres_url(postgres_scratch: str) -> str:  # noqa: F811
    return await b.emptied_postgres_url(postgres_scratch)


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with smtp_server() as server:
        yield server


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


MONDAY_9 = paris(2027, 3, 1, 9, 0)  # the pinned clock
TUESDAY = date(2027, 3, 2)


# The town ---------------------------------------------------------------------------------


@dataclass
class Town:
    database: Database
    structure: Structure
    activity: Activity
    session: Session
    family: Family
    conversation_id: int | None  # the family's logged-in web chat

    @property
    def household_id(self) -> int:
        return self.family.household.id


async def web_conversation(db: AsyncSession, household: Household, now: datetime) -> int:
    """A web chat where a guardian of `household` is logged in."""
    row = Conversation(
        channel="web",
        key=uuid4().hex,
        household_id=household.id,
        state={"locale": household.language},
        created_at=now,
        updated_at=now,
    )
    db.add(row)
    await db.flush()
    return row.id


async def a_family(
    db: AsyncSession,
    structure: Structure,
    now: datetime,
    *,
    emails: str = "",
    language: str = "fr",
    web: bool = True,
    name: str = "DUPONT",
) -> tuple[Family, int | None]:
    family = await b.family(db, structure, name=name)
    family.household.emails = emails
    family.household.language = language
    await db.flush()
    return family, (await web_conversation(db, family.household, now) if web else None)


async def build_town(
    database: Database,
    clock: FrozenClock,
    *,
    emails: str = "",
    language: str = "fr",
    web: bool = True,
    structure: dict | None = None,
    activity: dict | None = None,
    session: dict | None = None,
) -> Town:
    async with database.writing() as db:
        town = await b.structure(db, **(structure or {}))
        kind = await b.activity(db, town, **(activity or {}))
        occurrence = await b.session(db, kind, **(session or {}))
        family, conversation_id = await a_family(
            db, town, clock.now(), emails=emails, language=language, web=web
        )
    return Town(database, town, kind, occurrence, family, conversation_id)


async def hold(town: Town, now: datetime, session: Session | None = None) -> Booking:
    async with town.database.writing() as db:
        return await add_to_basket(
            db,
            actor=town.family.actor,
            participant_id=town.family.child.id,
            session_id=(session or town.session).id,
            now=now,
        )


async def book(town: Town, now: datetime, session: Session | None = None) -> Booking:
    """Hold a place and confirm the basket: an invoiced booking is confirmed at once."""
    booking = await hold(town, now, session)
    async with town.database.writing() as db:
        await confirm_basket(db, actor=town.family.actor, now=now)
    return booking


async def book_and_pay(town: Town, now: datetime) -> Payment:
    """Book an activity paid online and have the provider say it is paid."""
    await hold(town, now)
    async with town.database.writing() as db:
        checkout = await confirm_basket(db, actor=town.family.actor, now=now)
        payment = await start_basket_payment(
            db, actor=town.family.actor, bookings=checkout.pending_payment, now=now
        )
    async with town.database.writing() as db:
        status = ProviderStatus(ProviderState.PAID, payment.amount_cents, "EUR")
        await apply_status(db, payment.id, status, now=now, source="test")
    return await b.reload(town.database, Payment, payment.id)


async def outbox(database: Database, kind: NoticeKind | None = None) -> list[OutboxMessage]:
    async with database.reading() as db:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list(await db.scalars(query))


async def the_row(database: Database) -> OutboxMessage:
    (row,) = await outbox(database)
    return row


def rendered_text(row: OutboxMessage) -> str:
    return render(row.kind, row.data, Translator(row.locale), PARIS, PUBLIC).text


# Deliveries and workers -------------------------------------------------------------------


class RecordingDelivery:
    """A web channel that records what it is given."""

    channel = "web"

    def __init__(self) -> None:
        self.sent: list[tuple[int, Reply, str | None]] = []

    async def send(self, recipient: Recipient, reply: Reply, key: str | None = None) -> None:
        await asyncio.sleep(0)  # a real channel awaits the network: let other tasks run
        self.sent.append((recipient.conversation_id, reply, key))

    @property
    def keys(self) -> list[str | None]:
        return [key for _, _, key in self.sent]

    @property
    def texts(self) -> list[str]:
        return [reply.text for _, reply, _ in self.sent]


class DownDelivery:
    channel = "web"

    async def send(self, recipient: Recipient, reply: Reply, key: str | None = None) -> None:
        raise ConnectionError("the chat server is down")


def worker(
    database: Database,
    clock: FrozenClock,
    *channels: Delivery,
    mailer: Mailer | None = None,
    name: str = "worker-1",
    batch: int = 50,
) -> OutboxWorker:
    deliveries = Deliveries(database, clock)
    for channel in channels:
        deliveries.register(channel)
    return OutboxWorker(
        database, clock, deliveries, public_url=PUBLIC, mailer=mailer, name=name, batch=batch
    )


def mailer_for(smtp: SmtpServer, clock: FrozenClock) -> Mailer:
    return Mailer(SmtpSettings.from_url(smtp.url), clock=clock)


async def drain(outbox_worker: OutboxWorker) -> int:
    """Run the worker until nothing is due; returns how many rows it claimed."""
    claimed = 0
    while found := await outbox_worker.run_once():
        claimed += found
    return claimed


def part(message: EmailMessage, content_type: str) -> str:
    (found,) = [p for p in message.walk() if p.get_content_type() == content_type]
    return found.get_content().replace("\r\n", "\n")


# 1. E-mail through a real SMTP server -----------------------------------------------------


async def test_a_booking_confirmation_is_mailed_to_both_addresses_with_text_and_html(
    database: Database, clock: FrozenClock, smtp: SmtpServer
) -> None:
    town = await build_town(database, clock, emails=BOTH, web=False)
    await book(town, clock.now())

    assert await drain(worker(database, clock, mailer=mailer_for(smtp, clock))) == 1

    (received,) = smtp.received
    assert received.rcpt_tos == ["a@x.fr", "b@y.fr"]
    message = received.message
    assert message["To"].addresses[0].addr_spec == "a@x.fr"
    assert [a.addr_spec for a in message["To"].addresses] == ["a@x.fr", "b@y.fr"]
    assert message["Subject"] == "Réservation confirmée"
    assert message["Content-Language"] == "fr"
    text, html = part(message, "text/plain"), part(message, "text/html")
    line = "Léa — Mercredis loisirs — mercredi 10 mars — 12,00\xa0€"
    assert f"Réservation confirmée :\n✓ {line}" in text
    assert "✓ " + line in html
    assert '<html lang="fr">' in html
    row = await the_row(database)
    assert (row.channel, row.state, row.attempts) == ("email", OutboxState.SENT, 1)


@pytest.mark.parametrize(
    ("language", "subject", "lines"),
    [
        (
            "fr",
            "Paiement reçu — reçu n° {receipt}",
            ["Paiement reçu, merci !", "Reçu n° {receipt}", "Total payé : 12,00\xa0€"],
        ),
        (
            "en",
            "Payment received — receipt no. {receipt}",
            ["Payment received, thank you!", "Receipt no. {receipt}", "Total paid: €12.00"],
        ),
    ],
)
async def test_a_payment_receipt_is_mailed_in_the_households_language(
    database: Database,
    clock: FrozenClock,
    smtp: SmtpServer,
    language: str,
    subject: str,
    lines: list[str],
) -> None:
    town = await build_town(
        database,
        clock,
        emails=BOTH,
        language=language,
        web=False,
        activity={"name": "Stage poney", "mode": PaymentMode.IMMEDIATE},
    )
    payment = await book_and_pay(town, clock.now())
    receipt = payment.receipt_number
    assert receipt

    assert await drain(worker(database, clock, mailer=mailer_for(smtp, clock))) == 1

    (received,) = smtp.received
    assert received.rcpt_tos == ["a@x.fr", "b@y.fr"]
    message = received.message
    assert message["Subject"] == subject.format(receipt=receipt)
    assert message["Content-Language"] == language
    text, html = part(message, "text/plain"), part(message, "text/html")
    for line in lines:
        assert line.format(receipt=receipt) in text
        assert line.format(receipt=receipt) in html
    assert f'<html lang="{language}">' in html
    row = await the_row(database)
    assert (row.kind, row.urgent, row.state) == (
        NoticeKind.PAYMENT_RESULT,
        True,
        OutboxState.SENT,
    )


# 2. The jobs, with the clock stepping through the day -------------------------------------


async def test_the_reminder_is_written_at_the_reminder_hour_the_evening_before_and_only_once(
    database: Database, clock: FrozenClock
) -> None:
    town = await build_town(
        database,
        clock,
        emails="a@x.fr",
        session={"starts_at": paris(2027, 3, 2, 9, 0), "hours": 3},
        activity={"name": "Centre de loisirs"},
    )
    async with database.writing() as db:
        (await db.get(Structure, town.structure.id)).reminder_hour = 18
        # Cancellable until two days before: no longer tomorrow.
        pool = await b.activity(db, town.structure, name="Piscine", cancellation_days=2)
        swim = await b.session(db, pool, starts_at=paris(2027, 3, 2, 14, 0), hours=1)
    leisure = await book(town, clock.now())
    await book(town, clock.now(), swim)

    clock.set(paris(2027, 3, 1, 17, 59))
    async with database.writing() as db:
        assert await run_notice_jobs(db, clock.now()) == 0
    clock.set(paris(2027, 3, 1, 18, 0))
    async with database.writing() as db:
        assert await run_notice_jobs(db, clock.now()) == 2  # the web chat and the e-mail
    for later in (paris(2027, 3, 1, 18, 0), paris(2027, 3, 1, 19, 30)):
        clock.set(later)
        async with database.writing() as db:
            assert await send_reminders(db, clock.now()) == 0

    rows = await outbox(database, NoticeKind.REMINDER)
    assert sorted(row.channel for row in rows) == ["email", "web"]
    web = next(row for row in rows if row.channel == "web")
    assert web.next_attempt_at == paris(2027, 3, 1, 18, 0)
    recorder = RecordingDelivery()
    await drain(worker(database, clock, recorder))
    (reply,) = [reply for _, reply, key in recorder.sent if key == web.delivery_key]
    assert reply.text == (
        "Rappel pour demain, mardi 2 mars :\n• 09:00 Léa — Centre de loisirs\n• 14:00 Léa — Piscine"
    )
    assert reply.buttons == [[Button("Annuler : Léa, Centre de loisirs", f"x.cancel.{leisure.id}")]]


async def test_a_push_written_in_the_quiet_hours_waits_until_half_past_seven(
    database: Database, clock: FrozenClock
) -> None:
    town = await build_town(database, clock)
    await book(town, clock.now())
    recorder = RecordingDelivery()
    courier = worker(database, clock, recorder)
    await drain(courier)  # the confirmation, by day
    assert recorder.texts[0].startswith("Réservation confirmée")

    clock.set(paris(2027, 3, 1, 21, 30))
    async with database.writing() as db:
        await cancel_session(db, actor=STAFF, session_id=town.session.id, now=clock.now())
    (row,) = await outbox(database, NoticeKind.SESSION_CANCELLED)
    assert row.next_attempt_at == paris(2027, 3, 2, 7, 30)

    for night in (paris(2027, 3, 1, 21, 30), paris(2027, 3, 2, 3, 0), paris(2027, 3, 2, 7, 29)):
        clock.set(night)
        assert await courier.run_once() == 0
    assert len(recorder.sent) == 1
    clock.set(paris(2027, 3, 2, 7, 30))
    assert await courier.run_once() == 1
    assert recorder.texts[1].startswith("La mairie a annulé Mercredis loisirs du mercredi 10 mars.")
    assert quiet_until(paris(2027, 3, 2, 6, 0), PARIS) == paris(2027, 3, 2, 7, 30)
    assert quiet_until(paris(2027, 3, 2, 20, 59), PARIS) is None


async def test_an_urgent_payment_result_is_pushed_at_once_even_at_night(
    database: Database, clock: FrozenClock
) -> None:
    town = await build_town(
        database, clock, activity={"name": "Stage poney", "mode": PaymentMode.IMMEDIATE}
    )
    clock.set(paris(2027, 3, 1, 21, 30))
    payment = await book_and_pay(town, clock.now())

    row = await the_row(database)
    assert (row.kind, row.urgent, row.next_attempt_at) == (
        NoticeKind.PAYMENT_RESULT,
        True,
        clock.now(),
    )
    recorder = RecordingDelivery()
    assert await worker(database, clock, recorder).run_once() == 1
    (text,) = recorder.texts
    assert text.startswith("Paiement reçu, merci !\nReçu n° " + payment.receipt_number)


async def test_the_basket_warning_is_written_ten_minutes_before_it_expires_and_once(
    database: Database, clock: FrozenClock
) -> None:
    town = await build_town(database, clock, emails=BOTH, structure={"hold_minutes": 60})
    held = await hold(town, clock.now())
    assert held.held_until == paris(2027, 3, 1, 10, 0)

    clock.set(paris(2027, 3, 1, 9, 49, 59))
    async with database.writing() as db:
        assert await warn_expiring_baskets(db, clock.now()) == 0
    for minute in (50, 55, 59):
        clock.set(paris(2027, 3, 1, 9, minute))
        async with database.writing() as db:
            assert await warn_expiring_baskets(db, clock.now()) == (minute == 50)

    (row,) = await outbox(database, NoticeKind.BASKET_EXPIRING)
    assert row.channel == "web"  # a push only: the e-mail would be read too late
    rendered = render(row.kind, row.data, Translator("fr"), PARIS, PUBLIC)
    assert rendered.text == (
        "Votre panier (1 séance) expire à 10:00. Confirmez-le pour garder la place."
    )
    assert rendered.buttons == [[Button("Récapitulatif et confirmation", "x.recap")]]


async def test_a_basket_is_not_warned_in_its_own_towns_quiet_hours(
    database: Database, clock: FrozenClock
) -> None:
    """Cayenne is four hours behind Paris: 09:50 in Paris is 05:50 there, still night."""
    town = await build_town(
        database, clock, structure={"hold_minutes": 60, "timezone": "America/Cayenne"}
    )
    await hold(town, clock.now())
    clock.set(paris(2027, 3, 1, 9, 50))
    async with database.writing() as db:
        assert await warn_expiring_baskets(db, clock.now()) == 0


async def test_the_daily_report_is_mailed_only_to_households_whose_bookings_moved_that_day(
    database: Database, clock: FrozenClock
) -> None:
    town = await build_town(database, clock, emails=BOTH)
    async with database.writing() as db:
        quiet, _ = await a_family(db, town.structure, clock.now(), emails="c@z.fr", name="MARTIN")
    await book(town, clock.now())

    clock.set(paris(2027, 3, 1, 19, 59))
    async with database.writing() as db:
        assert await send_daily_reports(db, clock.now()) == 0
    clock.set(paris(2027, 3, 1, 20, 0))
    async with database.writing() as db:
        assert await send_daily_reports(db, clock.now()) == 1
    clock.set(paris(2027, 3, 1, 22, 0))
    async with database.writing() as db:
        assert await send_daily_reports(db, clock.now()) == 0
    clock.set(paris(2027, 3, 2, 20, 0))  # nothing moved on Tuesday
    async with database.writing() as db:
        assert await send_daily_reports(db, clock.now()) == 0

    (report,) = await outbox(database, NoticeKind.DAILY_REPORT)
    assert (report.household_id, report.channel, report.address) == (
        town.household_id,
        "email",
        "a@x.fr;b@y.fr",
    )
    assert rendered_text(report) == (
        "Compte rendu du lundi 1er mars : les mouvements de la journée.\n"
        "\n"
        "Mercredis loisirs\n"
        "• Léa — mercredi 10 mars — réservé"
    )


# 3. Two workers on PostgreSQL -------------------------------------------------------------


@pytest.mark.postgres
async def test_two_workers_deliver_a_thousand_notifications_each_exactly_once(
    postgres_url: str, clock: FrozenClock
) -> None:
    databases = [Database.from_url(postgres_url) for _ in range(2)]  # two processes
    try:
        town = await build_town(databases[0], clock)
        now = clock.now()
        keys = [f"load:{n}" for n in range(1000)]
        async with databases[0].writing() as db:
            await db.execute(
                insert(OutboxMessage),
                [
                    {
                        "household_id": town.household_id,
                        "kind": NoticeKind.BASKET_EXPIRING,
                        "channel": "web",
                        "address": str(town.conversation_id),
                        "locale": "fr",
                        "data": {
                            "held_until": (now + timedelta(minutes=10)).isoformat(),
                            "count": 1,
                        },
                        "delivery_key": key,
                        "urgent": False,
                        "state": OutboxState.PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for key in keys
                ],
            )
        recorders = [RecordingDelivery(), RecordingDelivery()]
        # Small batches: many claims, so the two workers often claim at the same moment
        # (without FOR UPDATE SKIP LOCKED this test then sees duplicates).
        workers = [
            worker(database, clock, recorder, name=f"worker-{n}", batch=10)
            for n, (database, recorder) in enumerate(zip(databases, recorders, strict=True))
        ]

        claimed = await asyncio.gather(*(drain(w) for w in workers))

        delivered = Counter(key for recorder in recorders for key in recorder.keys)
        assert sorted(delivered) == sorted(keys)
        assert set(delivered.values()) == {1}
        assert all(count > 0 for count in claimed), claimed  # both took part
        rows = await outbox(databases[0])
        assert {row.state for row in rows} == {OutboxState.SENT}
        for name, recorder in zip(("worker-0", "worker-1"), recorders, strict=True):
            assert {row.delivery_key for row in rows if row.claimed_by == name} == set(
                recorder.keys
            )
    finally:
        for database in databases:
            await database.dispose()


# 4. Failures: retried with backoff, then dead-lettered ------------------------------------


async def write_notice(town: Town, now: datetime, channels: tuple[str, ...]) -> None:
    async with town.database.writing() as db:
        await notify(
            db,
            household_id=town.household_id,
            kind=NoticeKind.BASKET_EXPIRING,
            key="basket_expiring:test",
            data={"held_until": (now + timedelta(minutes=10)).isoformat(), "count": 1},
            now=now,
            channels=channels,
        )


async def test_a_failing_delivery_backs_off_then_is_dead_lettered(
    database: Database, clock: FrozenClock
) -> None:
    town = await build_town(database, clock)
    await write_notice(town, clock.now(), ("web",))
    courier = worker(database, clock, DownDelivery())
    waits = [30, 60, 120, 240, 480]
    assert len(waits) == MAX_ATTEMPTS - 1

    for attempts, wait in enumerate(waits, start=1):
        assert await courier.run_once() == 1
        row = await the_row(database)
        assert (row.state, row.attempts) == (OutboxState.PENDING, attempts)
        assert row.next_attempt_at == clock.now() + timedelta(seconds=wait)
        assert row.last_error == "ConnectionError: the chat server is down"
        clock.set(row.next_attempt_at - timedelta(seconds=1))
        assert await courier.run_once() == 0  # not before its time
        clock.advance(seconds=1)
    assert await courier.run_once() == 1

    row = await the_row(database)
    assert (row.state, row.attempts) == (OutboxState.DEAD, MAX_ATTEMPTS)
    assert row.last_error == "ConnectionError: the chat server is down"
    assert row.sent_at is None
    clock.advance(days=1)
    assert await courier.run_once() == 0


async def test_an_smtp_451_is_retried_and_then_sent(
    database: Database, clock: FrozenClock, smtp: SmtpServer
) -> None:
    town = await build_town(database, clock, emails=BOTH, web=False)
    await write_notice(town, clock.now(), ("email",))
    courier = worker(database, clock, mailer=mailer_for(smtp, clock))
    smtp.fail_next(1, 451)

    assert await courier.run_once() == 1
    row = await the_row(database)
    assert (row.state, row.attempts) == (OutboxState.PENDING, 1)
    assert "451" in row.last_error
    assert smtp.messages == []
    clock.advance(seconds=30)
    assert await courier.run_once() == 1

    row = await the_row(database)
    assert (row.state, row.attempts, row.sent_at) == (OutboxState.SENT, 2, clock.now())
    (message,) = smtp.messages
    assert message["Subject"] == "Votre panier expire bientôt"


async def test_an_smtp_550_is_dead_lettered_at_once(
    database: Database, clock: FrozenClock, smtp: SmtpServer
) -> None:
    town = await build_town(database, clock, emails=BOTH, web=False)
    await write_notice(town, clock.now(), ("email",))
    courier = worker(database, clock, mailer=mailer_for(smtp, clock))
    smtp.fail_next(1, 550)

    assert await courier.run_once() == 1
    row = await the_row(database)
    assert (row.state, row.attempts) == (OutboxState.DEAD, 1)
    assert "550" in row.last_error
    clock.advance(hours=1)
    assert await courier.run_once() == 0
    assert smtp.messages == []
    assert await outbox_counts(database) == {"dead": 1}

    # The operator fixed the address: `ribambelle outbox --retry-dead` puts it back in line.
    assert await retry_dead(database, clock) == 1
    assert await courier.run_once() == 1
    assert (await the_row(database)).state is OutboxState.SENT
    assert len(smtp.messages) == 1


# 5. A worker killed mid-delivery ----------------------------------------------------------


class KilledDelivery:
    """The real web channel, in a worker process that dies before or after sending."""

    channel = "web"

    def __init__(self, real: WebDelivery, *, sends: bool) -> None:
        self.real = real
        self.sends = sends
        self.reached = asyncio.Event()

    async def send(self, recipient: Recipient, reply: Reply, key: str | None = None) -> None:
        if self.sends:
            await self.real.send(recipient, reply, key)
        self.reached.set()
        await asyncio.Event().wait()  # killed here, before the row is marked


@pytest.mark.parametrize("sends", [True, False], ids=["after_the_send", "before_the_send"])
async def test_a_worker_killed_mid_delivery_is_taken_over_after_its_lease_without_a_duplicate(
    database: Database, clock: FrozenClock, sends: bool
) -> None:
    town = await build_town(database, clock)
    await write_notice(town, clock.now(), ("web",))
    hub = WebPushHub()
    web = WebDelivery(hub, database, clock)
    dying = KilledDelivery(web, sends=sends)
    first = worker(database, clock, dying, name="worker-1")

    task = asyncio.create_task(first.run_once())
    await asyncio.wait_for(dying.reached.wait(), timeout=5)
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task

    row = await the_row(database)
    assert (row.state, row.claimed_by) == (OutboxState.PENDING, "worker-1")
    assert row.claimed_until == clock.now() + LEASE
    second = worker(database, clock, web, name="worker-2")
    clock.advance(LEASE - timedelta(seconds=1))
    assert await second.run_once() == 0  # the first worker's lease still runs
    clock.advance(seconds=1)
    assert await second.run_once() == 1

    row = await the_row(database)
    assert (row.state, row.claimed_by, row.attempts) == (OutboxState.SENT, "worker-2", 1)
    async with database.reading() as db:
        inbox = await pushed_after(db, town.conversation_id, 0)
    assert len(inbox) == 1
    assert inbox[0].delivery_key == row.delivery_key
    assert inbox[0].body["text"].startswith("Votre panier (1 séance) expire à 09:10.")


async def test_a_batch_running_out_of_lease_hands_its_other_rows_back(
    database: Database, clock: FrozenClock
) -> None:
    town = await build_town(database, clock)
    for index in range(3):
        async with database.writing() as db:
            await notify(
                db,
                household_id=town.household_id,
                kind=NoticeKind.BASKET_EXPIRING,
                key=f"basket_expiring:slow:{index}",
                data={"held_until": clock.now().isoformat(), "count": 1},
                now=clock.now(),
                channels=("web",),
            )
    slow, other = RecordingDelivery(), RecordingDelivery()
    tired = worker(database, clock, slow, name="tired")
    tired.budget = 0  # as if the first send had taken the whole lease
    fresh = worker(database, clock, other, name="fresh")

    assert await tired.run_once() == 1  # one sent, the other two handed back at once
    assert await drain(fresh) == 2  # taken without waiting for the lease to run out

    assert sorted(slow.keys + other.keys) == sorted({*slow.keys, *other.keys})
    assert len(slow.keys) + len(other.keys) == 3
    assert {row.state for row in await outbox(database)} == {OutboxState.SENT}

"""Messages from the staff to the families of a session, an activity or a day: who receives
them, one outbox row per household channel, delivery counts read back from the outbox, the
page, and who may reach it."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import select, update

from booking.clock import PARIS
from booking.models import (
    Conversation,
    NoticeKind,
    OutboxMessage,
    OutboxState,
    StaffAudit,
    StaffMessage,
    StaffRole,
)
from booking.services import staff_messages as service
from booking.services.cancellation import cancel_session
from booking.services.staff_accounts import StaffContext
from booking.services.staff_messages import MessageRefusal, MessageRefused, Scope
from bot.delivery import Deliveries
from bot.notify.worker import OutboxWorker
from dialogs.i18n import Translator
from dialogs.notices import render
from tests import builders as b
from tests.integration.test_staff_sessions import a_town, book, logged_in, wait_in_line
from tests.staff_support import make_staff

WEDNESDAY = b.WEDNESDAY.date()


async def conversation(database, household_id, channel, locale, now):
    async with database.writing() as db:
        row = Conversation(
            channel=channel,
            key=uuid4().hex,
            household_id=household_id,
            state={"locale": locale},
            created_at=now,
            updated_at=now,
        )
        db.add(row)
        await db.flush()
        return row.id


async def messages_town(database, clock):
    """Three families: two booked on Wednesday (one of them also next week), one in line;
    a past session and a cancelled one; another structure with a family of its own."""
    town, activity, session, families = await a_town(database, capacity=2, families=4)
    first, second, third, fourth = families
    now = clock.now()
    async with database.writing() as db:
        later = await b.session(db, activity, starts_at=b.WEDNESDAY + timedelta(days=7))
        gone = await b.session(db, activity, starts_at=b.WEDNESDAY + timedelta(days=14))
        other_town = await b.structure(db)
        elsewhere = await b.session(db, await b.activity(db, other_town), capacity=3)
        stranger = await b.family(db, other_town, name="AILLEURS")
    await book(database, first, session.id, now)
    await book(database, second, session.id, now)
    await wait_in_line(database, third, session.id, now)
    await book(database, first, later.id, now)
    await book(database, fourth, gone.id, now)
    await book(database, stranger, elsewhere.id, now)
    async with database.writing() as db:
        await cancel_session(db, actor=b.STAFF, session_id=gone.id, now=now)
    staff = StaffContext.of(
        await make_staff(database, town.id, "cantine", StaffRole.AGENT, now=now)
    )
    return town, activity, session, later, elsewhere, families, staff


async def rows_of(database, message_id):
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.delivery_key.startswith(f"staff_message:{message_id}:"))
                .order_by(OutboxMessage.id)
            )
        )


async def test_each_scope_reaches_the_families_with_a_place(database, clock):
    town, activity, session, later, _, families, _ = await messages_town(database, clock)
    first, second, *_ = families
    now = clock.now()
    async with database.reading() as db:

        async def who(scope, key):
            target = await service.resolve_target(db, town.id, scope, key)
            return await service.recipients(db, town.id, target, now)

        # The family in line and the one of a cancelled session are not written to.
        assert await who("session", str(session.id)) == sorted(
            [first.household.id, second.household.id]
        )
        assert await who("session", str(later.id)) == [first.household.id]
        assert await who("activity", str(activity.id)) == sorted(
            [first.household.id, second.household.id]
        )
        assert await who("day", WEDNESDAY.isoformat()) == sorted(
            [first.household.id, second.household.id]
        )
        assert await who("day", (WEDNESDAY + timedelta(days=1)).isoformat()) == []

    # An activity's past sessions are not "upcoming": the day after, only `later` is left.
    clock.advance(timedelta(days=10))
    async with database.reading() as db:
        target = await service.resolve_target(db, town.id, "activity", str(activity.id))
        assert await service.recipients(db, town.id, target, clock.now()) == [first.household.id]


async def test_a_message_is_written_once_per_household_channel_in_its_language(database, clock):
    town, _, session, _, _, families, staff = await messages_town(database, clock)
    first, second, *_ = families
    now = clock.now()
    web = await conversation(database, first.household.id, "web", "en", now)
    telegram = await conversation(database, first.household.id, "telegram", "fr", now)
    async with database.writing() as db:
        message = await service.send_message(
            db,
            staff,
            scope="session",
            key=str(session.id),
            subject="Changement de salle",
            text="Rendez-vous au gymnase.",
            now=now,
        )

    rows = await rows_of(database, message.id)
    assert {(row.household_id, row.channel, row.address, row.locale) for row in rows} == {
        (first.household.id, "web", str(web), "en"),
        (first.household.id, "telegram", str(telegram), "fr"),
        (first.household.id, "email", first.household.emails, "fr"),
        (second.household.id, "email", second.household.emails, "fr"),
    }
    assert all(row.kind is NoticeKind.STAFF_MESSAGE and not row.urgent for row in rows)
    assert rows[0].data == {
        "subject": "Changement de salle",
        "text": "Rendez-vous au gymnase.",
        "town": "Ville de Test",
    }
    assert rows[0].delivery_key.startswith(f"staff_message:{message.id}:{first.household.id}:")
    saved = await b.reload(database, StaffMessage, message.id)
    assert (saved.scope, saved.target, saved.household_count) == ("session", str(session.id), 2)
    async with database.reading() as db:
        (audit,) = await db.scalars(select(StaffAudit).where(StaffAudit.action == "message_sent"))
    assert audit.staff_id == staff.id and audit.data["households"] == 2

    for locale, frame in (("fr", "Message de la mairie (Ville de Test)"), ("en", "Ville de Test")):
        text = render(rows[0].kind, rows[0].data, Translator(locale), PARIS, "http://x").text
        assert frame in text and "Rendez-vous au gymnase." in text


async def test_quiet_hours_hold_a_message_unless_it_is_urgent(database, clock):
    town, *_, families, staff = await messages_town(database, clock)
    first = families[0]
    clock.advance(timedelta(hours=13))  # 22:00
    now = clock.now()
    await conversation(database, first.household.id, "web", "fr", now)
    sent = []
    for urgent in (False, True):
        async with database.writing() as db:
            sent.append(
                await service.send_message(
                    db,
                    staff,
                    scope="day",
                    key=WEDNESDAY.isoformat(),
                    subject="",
                    text="École fermée",
                    now=now,
                    urgent=urgent,
                )
            )
    (quiet,) = [row for row in await rows_of(database, sent[0].id) if row.channel == "web"]
    (loud,) = [row for row in await rows_of(database, sent[1].id) if row.channel == "web"]
    assert quiet.next_attempt_at == datetime(2027, 3, 2, 7, 30, tzinfo=PARIS)
    assert loud.next_attempt_at == now and loud.urgent


class RecordingWeb:
    channel = "web"

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def send(self, recipient, reply, key=None) -> None:  # noqa: ANN001
        self.texts.append(reply.text)


async def test_sent_messages_count_their_deliveries_by_channel_and_state(database, clock):
    town, _, session, _, _, families, staff = await messages_town(database, clock)
    first, second, *_ = families
    now = clock.now()
    await conversation(database, first.household.id, "web", "fr", now)
    await conversation(database, second.household.id, "web", "fr", now)
    async with database.writing() as db:
        older = await service.send_message(
            db, staff, scope="session", key=str(session.id), subject="", text="Un", now=now
        )
        newer = await service.send_message(
            db, staff, scope="session", key=str(session.id), subject="Deux", text="Deux", now=now
        )
    web = RecordingWeb()
    deliveries = Deliveries(database, clock)
    deliveries.register(web)
    worker = OutboxWorker(database, clock, deliveries, public_url="http://x", mailer=None)
    while await worker.run_once():
        pass
    async with database.writing() as db:  # one e-mail of the newer message refused for good
        await db.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.delivery_key.startswith(
                    f"staff_message:{newer.id}:{first.household.id}:email"
                )
            )
            .values(state=OutboxState.DEAD)
        )

    async with database.reading() as db:
        listed = await service.sent_messages(db, town.id)
        assert await service.sent_messages(db, town.id + 1000) == []
    assert [item.message.id for item in listed] == [newer.id, older.id]
    # Web chats delivered; e-mails skipped (no SMTP server here), one marked dead.
    assert listed[1].counts == {"email": {"skipped": 2}, "web": {"sent": 2}}
    assert listed[0].counts == {"email": {"dead": 1, "skipped": 1}, "web": {"sent": 2}}
    assert listed[0].total("sent") == 2
    assert len(web.texts) == 4 and "Deux" in web.texts[-1]


async def test_a_message_needs_a_text_a_family_and_a_target_of_the_staffs_structure(
    database, clock
):
    town, _, session, _, elsewhere, _, staff = await messages_town(database, clock)
    now = clock.now()
    cases = [
        ({"scope": "session", "key": str(session.id), "text": " "}, MessageRefusal.TEXT_REQUIRED),
        ({"scope": "session", "key": str(session.id), "text": "x" * 3001}, MessageRefusal.TOO_LONG),
        ({"scope": "day", "key": "2027-03-11", "text": "Bonjour"}, MessageRefusal.NOBODY),
        ({"scope": "day", "key": "mercredi", "text": "Bonjour"}, MessageRefusal.BAD_TARGET),
        ({"scope": "town", "key": "1", "text": "Bonjour"}, MessageRefusal.BAD_TARGET),
    ]
    for params, code in cases:
        with pytest.raises(MessageRefused) as refused:
            async with database.writing() as db:
                await service.send_message(db, staff, subject="", now=now, **params)
        assert refused.value.code is code, params
    for scope, key in (("session", elsewhere.id), ("activity", elsewhere.activity_id)):
        with pytest.raises(LookupError):
            async with database.writing() as db:
                await service.send_message(
                    db, staff, scope=scope, key=str(key), subject="", text="Bonjour", now=now
                )
    async with database.reading() as db:
        assert list(await db.scalars(select(StaffMessage))) == []
        assert (
            list(
                await db.scalars(
                    select(OutboxMessage).where(OutboxMessage.kind == NoticeKind.STAFF_MESSAGE)
                )
            )
            == []
        )
    assert Scope("day") is Scope.DAY


# The page ---------------------------------------------------------------------------------


async def test_an_agent_counts_the_families_then_sends_and_sees_the_deliveries(
    database, clock, staff_client
):
    town, activity, session, *_ = await messages_town(database, clock)
    browser = await logged_in(staff_client, "cantine")

    await browser.get(f"/staff/messages?scope=session&target={session.id}")
    assert browser.status == 200
    assert "Envoyer à" not in browser.text  # the count comes first
    form = {
        "scope": "session",
        "session": str(session.id),
        "activity": "",
        "day": "",
        "subject": "Sortie au parc",
        "text": "Prévoir une casquette.",
    }
    await browser.post("/staff/messages", {**form, "action": "preview"})
    assert browser.status == 200
    assert "2 familles recevront ce message" in browser.text
    assert "Envoyer à 2 familles" in browser.text
    async with database.reading() as db:
        assert list(await db.scalars(select(StaffMessage))) == []

    await browser.post("/staff/messages", {**form, "action": "send"})
    assert browser.status == 200 and "Message envoyé" in browser.text
    assert "Sortie au parc" in browser.text and "2 en attente" in browser.text
    async with database.reading() as db:
        (message,) = await db.scalars(select(StaffMessage))
    assert message.household_count == 2 and message.text == "Prévoir une casquette."

    await browser.post(
        "/staff/messages", {**form, "scope": "day", "day": "2027-03-11", "action": "send"}
    )
    assert browser.status == 409 and "Aucune famille" in browser.text


async def test_another_structures_staff_cannot_write_to_this_structures_families(
    database, clock, staff_client
):
    town, activity, session, *_, staff = await messages_town(database, clock)
    async with database.writing() as db:
        other = await b.structure(db)
    await make_staff(database, other.id, "ailleurs", StaffRole.ADMIN, now=clock.now())
    async with database.writing() as db:
        await service.send_message(
            db,
            staff,
            scope="session",
            key=str(session.id),
            subject="Secret de la ville",
            text="Réservé à nos familles",
            now=clock.now(),
        )
    stranger = await logged_in(staff_client, "ailleurs")
    await stranger.get(f"/staff/messages?scope=session&target={session.id}")
    assert stranger.status == 200
    assert "Secret de la ville" not in stranger.text and "Mercredis loisirs" not in stranger.text
    for scope, field, key in (
        ("session", "session", str(session.id)),
        ("activity", "activity", str(activity.id)),
    ):
        for action in ("preview", "send"):
            await stranger.post(
                "/staff/messages",
                {"scope": scope, field: key, "text": "Bonjour", "action": action},
            )
            assert stranger.status == 404, (scope, action)
    await stranger.post(
        "/staff/messages",
        {"scope": "day", "day": WEDNESDAY.isoformat(), "text": "Bonjour", "action": "send"},
    )
    assert stranger.status == 409  # that day, no family of the stranger's structure
    async with database.reading() as db:
        assert len(list(await db.scalars(select(StaffMessage)))) == 1

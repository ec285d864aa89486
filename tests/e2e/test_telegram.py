"""The Telegram channel end to end: the real python-telegram-bot against the fake Bot API.

Each test builds the real application (`build_app`) on a real SQLite file, started by aiohttp's
AppRunner so that its cleanup_ctx starts the channel, and talks to it as Telegram would.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.models import Booking, BookingState, Category, Conversation, PaymentMode
from booking.passwords import hash_password
from booking.services.conversations import open_conversation
from booking.services.reminders import run_notice_jobs
from bot.app import build_app
from bot.settings import Settings
from bot.telegram.channel import SECRET_HEADER, TelegramStartupError
from bot.telegram.setup import TELEGRAM
from bot.web.keys import DELIVERIES, ENGINE, OUTBOX
from dialogs.engine import Incoming
from dialogs.i18n import Translator
from dialogs.replies import Reply
from tests import builders
from tests.fake_telegram import Call, FakeTelegram

PASSWORD = "Cantine2027ok"
USERNAME = "ribambelle_test_bot"
MARIE = 5001  # a private chat: its id is the user's id

# python-telegram-bot's own RetryAfter constructor warns about its int/timedelta migration.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@dataclass(frozen=True)
class Town:
    household_id: int
    login: str
    child_id: int
    activity_id: int


async def small_town(database: Database) -> Town:
    """A guardian (known password, terms accepted), Léa, and the canteen every school day."""
    async with database.writing() as db:
        town = await builders.structure(db)
        family = await builders.family(db, town)
        adult = family.guardian
        adult.password_hash = hash_password(PASSWORD)
        adult.must_change_password = False
        adult.terms_accepted_at = datetime(2027, 1, 5, 10, 0, tzinfo=PARIS)
        canteen = await builders.activity(
            db, town, name="Cantine", category=Category.RESTAURATION, mode=PaymentMode.INVOICE
        )
        for day in range(2, 32):
            if date(2027, 3, day).weekday() in (0, 1, 3, 4):
                start = datetime.combine(date(2027, 3, day), time(11, 45), tzinfo=PARIS)
                await builders.session(db, canteen, starts_at=start, hours=2, price_cents=350)
        return Town(family.household.id, adult.login, family.child.id, canteen.id)


@pytest.fixture
async def database(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(sqlite_url)
    yield database
    await database.dispose()


@pytest.fixture
async def town(database: Database) -> Town:
    return await small_town(database)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(username=USERNAME) as server:
        yield server


@pytest.fixture
def settings(sqlite_url: str, fake: FakeTelegram) -> Settings:
    return Settings(
        database_url=sqlite_url, telegram_token="123:ABC", telegram_api_url=fake.api_url
    )


@asynccontextmanager
async def running(
    settings: Settings, database: Database, clock: FrozenClock, sock: socket.socket | None = None
) -> AsyncIterator[web.Application]:
    """The app served by an AppRunner: its setup starts the Telegram channel."""
    app = build_app(settings, database=database, clock=clock, run_scheduler=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        if sock is not None:
            await web.SockSite(runner, sock).start()
        yield app
    finally:
        await runner.cleanup()


@pytest.fixture
async def app(
    settings: Settings, database: Database, clock: FrozenClock, town: Town
) -> AsyncIterator[web.Application]:
    async with running(settings, database, clock) as application:
        yield application


@dataclass
class Telegram:
    """A Telegram user's side of the running bot: each helper returns once the update is
    processed (the poller took it, the application's update queue is drained) and its replies
    are delivered (they go out in the background)."""

    fake: FakeTelegram
    app: web.Application

    async def _processed(self, chat_id: int, inject: Callable[[], dict]) -> list[Call]:
        since = len(self.fake.calls)
        update = inject()
        await self.fake.consumed(update)
        await self.app[TELEGRAM].application.update_queue.join()
        await self.app[TELEGRAM].idle()
        return self.fake.calls_about(chat_id, since)

    async def say(self, chat_id: int, text: str, **user: object) -> list[dict]:
        """Write in the chat; the messages the bot sent back."""
        calls = await self._processed(chat_id, lambda: self.fake.inject_text(chat_id, text, **user))
        return [c.result for c in calls if c.method == "sendMessage" and c.ok]

    async def press(self, chat_id: int, data: str, message: dict) -> list[Call]:
        """A callback query with this data from a message; the bot's calls about the chat."""
        return await self._processed(
            chat_id,
            lambda: self.fake.inject_callback(chat_id, data, message_id=message["message_id"]),
        )

    async def tap(self, chat_id: int, label: str, message: dict | None = None) -> list[Call]:
        """Tap the button of that label on a message (the last one by default)."""
        message = message or self.fake.last_message(chat_id)
        return await self.press(chat_id, self.fake.buttons(message)[label], message)

    async def log_in(self, chat_id: int, town: Town) -> list[dict]:
        await self.say(chat_id, "connexion")
        await self.say(chat_id, town.login)
        return await self.say(chat_id, PASSWORD)


@pytest.fixture
def telegram(app: web.Application, fake: FakeTelegram) -> Telegram:
    return Telegram(fake, app)


def texts(messages: list[dict]) -> str:
    return "\n---\n".join(m["text"] for m in messages)


async def bookings_of_child(database: Database, town: Town) -> list[Booking]:
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(Booking).where(Booking.participant_id == town.child_id).order_by(Booking.id)
            )
        )


async def conversation(database: Database, chat_id: int) -> Conversation | None:
    async with database.reading() as db:
        return await db.scalar(
            select(Conversation).where(
                Conversation.channel == "telegram", Conversation.key == str(chat_id)
            )
        )


# The journeys ----------------------------------------------------------------------------


async def test_a_parent_logs_in_and_books_the_canteen_by_text_and_the_password_is_erased(
    telegram: Telegram, fake: FakeTelegram, database: Database, town: Town
) -> None:
    welcome = await telegram.say(MARIE, "/start")
    assert "Ribambelle" in texts(welcome)
    assert "Se connecter" in fake.buttons(welcome[-1])

    assert "identifiant" in texts(await telegram.say(MARIE, "connexion"))
    assert "mot de passe" in texts(await telegram.say(MARIE, town.login))
    since = len(fake.calls)
    greeted = await telegram.say(MARIE, PASSWORD)
    assert "Bonjour Jean" in texts(greeted)
    password_message = fake.messages[(MARIE, greeted[0]["message_id"] - 1)]
    assert password_message["text"] == PASSWORD
    deletions = [c for c in fake.calls[since:] if c.method == "deleteMessage"]
    assert [(c.params["chat_id"], c.params["message_id"], c.ok) for c in deletions] == [
        (MARIE, password_message["message_id"], True)
    ]
    login_message = fake.messages[(MARIE, password_message["message_id"] - 2)]
    assert login_message["text"] == town.login and not login_message.get("deleted")

    recap = await telegram.say(MARIE, "inscris Léa à la cantine le 4 mars")  # straight to it
    assert "Récapitulatif" in texts(recap) and "Léa — Cantine — jeudi 4 mars" in texts(recap)
    assert "Confirmer" in fake.buttons(recap[-1])

    done = await telegram.say(MARIE, "confirmer")
    assert "Léa — Cantine — jeudi 4 mars : confirmé" in texts(done)
    [booking] = await bookings_of_child(database, town)
    assert booking.state is BookingState.CONFIRMED
    conversation_row = await conversation(database, MARIE)
    assert conversation_row.household_id == town.household_id


async def test_a_parent_books_with_commands_and_inline_buttons_and_the_calendar_is_edited(
    telegram: Telegram, fake: FakeTelegram, database: Database, town: Town
) -> None:
    await telegram.log_in(MARIE, town)
    activities = await telegram.say(MARIE, "/reserver")
    assert "Quelle activité pour Léa" in texts(activities)

    calls = await telegram.tap(MARIE, "Cantine")
    assert [c.method for c in calls if c.method == "answerCallbackQuery"] == ["answerCallbackQuery"]
    calendar = fake.last_message(MARIE)
    assert "Léa — Cantine" in calendar["text"]
    # The activity list lost its buttons: only the newest message is live.
    assert "reply_markup" not in fake.sent_to(MARIE)[-2]
    days = fake.buttons(calendar)
    assert {"4", "5", "8"} <= set(days) and "3" not in days  # no canteen on Wednesdays
    assert all(len(data.encode()) <= 64 for data in days.values())

    calls = await telegram.tap(MARIE, "4", calendar)
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
    answer, edit = calls
    assert answer.ok and not answer.params.get("text")  # answered before the turn ran
    assert edit.ok and edit.params["message_id"] == calendar["message_id"]
    edited = fake.messages[(MARIE, calendar["message_id"])]
    assert "🛒4" in fake.buttons(edited) and "Panier : 1 séance" in edited["text"]
    # The outcome of the tap stands on top of the live calendar, not in a passing toast.
    assert edited["text"].startswith("jeudi 4 mars ajouté au panier.")

    calls = await telegram.tap(MARIE, "8", edited)  # a second day, same message edited again
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]

    await telegram.tap(MARIE, "Récapitulatif et confirmation")
    recap = fake.last_message(MARIE)
    assert "jeudi 4 mars" in recap["text"] and "lundi 8 mars" in recap["text"]
    calls = await telegram.tap(MARIE, "Confirmer", recap)
    assert "answerCallbackQuery" in [c.method for c in calls]
    assert "confirmé" in texts([c.result for c in calls if c.method == "sendMessage"])
    states = [b.state for b in await bookings_of_child(database, town)]
    assert states == [BookingState.CONFIRMED, BookingState.CONFIRMED]
    unanswered = [q for q in fake.callback_queries.values() if q["answered"] is None]
    assert unanswered == []


async def test_a_calendar_too_old_to_edit_is_sent_again(
    telegram: Telegram, fake: FakeTelegram, town: Town
) -> None:
    await telegram.log_in(MARIE, town)
    await telegram.say(MARIE, "/reserver")
    await telegram.tap(MARIE, "Cantine")
    calendar = fake.last_message(MARIE)
    fake.uneditable.add((MARIE, calendar["message_id"]))
    calls = await telegram.tap(MARIE, "4", calendar)
    assert [(c.method, c.status) for c in calls] == [
        ("answerCallbackQuery", 200),
        ("editMessageText", 400),
        ("sendMessage", 200),
    ]
    assert "🛒4" in fake.buttons(fake.last_message(MARIE))


async def test_a_parent_cancels_a_booking_with_the_command_or_in_words(
    telegram: Telegram, fake: FakeTelegram, database: Database, town: Town
) -> None:
    await telegram.log_in(MARIE, town)
    await telegram.say(MARIE, "inscris Léa à la cantine le 4 mars et le 5 mars")
    await telegram.say(MARIE, "confirmer")
    assert len(await bookings_of_child(database, town)) == 2

    picked = await telegram.say(MARIE, "/annuler")
    assert "lesquelles annuler" in texts(picked)

    recap = await telegram.say(MARIE, "annule la cantine de Léa le 5 mars")
    assert "Annulations" in texts(recap) and "vendredi 5 mars" in texts(recap)
    done = await telegram.say(MARIE, "confirmer")
    assert "vendredi 5 mars : annulé" in texts(done)
    states = [b.state for b in await bookings_of_child(database, town)]
    assert states == [BookingState.CONFIRMED, BookingState.CANCELLED]


async def test_a_web_chat_session_links_telegram_with_a_one_time_code(
    telegram: Telegram, fake: FakeTelegram, database: Database, town: Town
) -> None:
    engine = telegram.app[ENGINE]
    assert engine.telegram_username == USERNAME
    for text in ("connexion", town.login, PASSWORD):
        result = await engine.handle("web", "web-session", Incoming(text=text))
    menu = result.replies[-1]
    [link_button] = [b for row in menu.buttons for b in row if b.label == "Continuer dans Telegram"]
    result = await engine.handle("web", "web-session", Incoming(button=link_button.payload))
    link = result.replies[-1].link
    assert link is not None
    code = re.fullmatch(rf"https://t\.me/{USERNAME}\?start=([\w-]+)", link.url).group(1)

    linked = await telegram.say(MARIE, f"/start {code}")
    assert "maintenant lié" in texts(linked) and "Bonjour Jean" in texts(linked)
    row = await conversation(database, MARIE)
    assert row.household_id == town.household_id
    assert "Réserver" in fake.buttons(linked[-1])

    refused = await telegram.say(MARIE + 1, f"/start {code}")
    assert "n'est plus valable" in texts(refused)
    assert (await conversation(database, MARIE + 1)).household_id is None

    assert "déconnecté" in texts(await telegram.say(MARIE, "/logout"))
    assert (await conversation(database, MARIE)).household_id is None


async def test_a_forged_callback_gets_a_clear_message_and_is_answered(
    telegram: Telegram, fake: FakeTelegram, town: Town
) -> None:
    await telegram.log_in(MARIE, town)
    calls = await telegram.press(MARIE, "Zz9x.ff; DROP TABLE", fake.last_message(MARIE))
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    assert len(answers) == 1 and answers[0].ok
    sent = texts([c.result for c in calls if c.method == "sendMessage"])
    assert "Ce bouton n'est plus valable" in sent and "Que voulez-vous faire" in sent
    assert "Un problème technique" not in sent


async def test_an_unknown_command_gets_the_help_and_a_group_chat_gets_nothing(
    telegram: Telegram, fake: FakeTelegram
) -> None:
    assert "Je comprends les boutons" in texts(await telegram.say(MARIE, "/inconnue"))
    group = -100_42
    fake.inject_text(group, "/start", user_id=MARIE)
    fake.inject_text(group, "connexion", user_id=MARIE)
    assert "Ribambelle" in texts(await telegram.say(MARIE, "/start"))  # processed after them
    assert fake.sent_to(group) == []


async def test_the_language_follows_telegram_until_the_parent_chooses_one(
    telegram: Telegram,
) -> None:
    welcome = await telegram.say(MARIE, "/start", language_code="en-GB")
    assert "booking assistant" in texts(welcome) and "Log in" in telegram.fake.buttons(welcome[-1])
    assert "Bonjour" in texts(await telegram.say(MARIE, "/langue", language_code="en-GB"))
    assert "Bonjour" in texts(await telegram.say(MARIE, "/start", language_code="en-GB"))


async def test_commands_are_registered_in_french_and_english(
    app: web.Application, fake: FakeTelegram
) -> None:
    expected = [
        "start",
        "reserver",
        "annuler",
        "mesreservations",
        "solde",
        "aide",
        "langue",
        "logout",
    ]
    assert [c["command"] for c in fake.commands["fr"]] == expected
    assert [c["command"] for c in fake.commands["en"]] == expected
    assert fake.commands["en"][1]["description"] == "Book an activity"
    assert fake.commands["fr"][1]["description"] == "Réserver une activité"
    assert fake.commands[None] == fake.commands["fr"]  # users in other languages get French
    assert fake.calls_to("deleteWebhook") and fake.webhook is None


# Modes and start-up -----------------------------------------------------------------------


async def test_webhook_mode_processes_updates_only_with_the_secret_header(
    settings: Settings, database: Database, clock: FrozenClock, fake: FakeTelegram, town: Town
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/telegram/webhook"
    settings = replace(settings, telegram_webhook_url=url)
    async with running(settings, database, clock, sock), aiohttp.ClientSession() as http:
        assert fake.webhook["url"] == url
        secret = fake.webhook["secret_token"]
        assert secret and fake.webhook["allowed_updates"] == ["message", "callback_query"]
        assert not fake.calls_to("getUpdates", ok=None)

        update = fake.inject_text(MARIE, "/start", queue=False)
        for headers in ({}, {SECRET_HEADER: "not-the-secret"}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 403
        assert fake.sent_to(MARIE) == []

        async with http.post(url, json=update, headers={SECRET_HEADER: secret}) as response:
            assert response.status == 200
        await fake.wait_for(lambda: fake.sent_to(MARIE))  # the reply follows the 200
        assert "Ribambelle" in fake.last_message(MARIE)["text"]

        for body in (b"{not json", b"[1, 2]"):
            async with http.post(url, data=body, headers={SECRET_HEADER: secret}) as response:
                assert response.status == 400


async def test_a_second_poller_stops_at_start_up_on_the_database_lease(
    settings: Settings, database: Database, clock: FrozenClock, fake: FakeTelegram, town: Town
) -> None:
    async with running(settings, database, clock) as app:
        with pytest.raises(TelegramStartupError, match="already polling"):
            async with running(settings, database, clock):
                pass
        assert "Ribambelle" in texts(await Telegram(fake, app).say(MARIE, "/start"))
        assert fake.calls_to("getUpdates", ok=False) == []  # the first poller was undisturbed
    # The lease is released on stop: the next process polls at once.
    async with running(settings, database, clock) as app:
        assert "Ribambelle" in texts(await Telegram(fake, app).say(MARIE, "/start"))


async def test_a_wrong_token_stops_the_start_up_with_a_clear_error(
    settings: Settings, database: Database, clock: FrozenClock, fake: FakeTelegram
) -> None:
    settings = replace(settings, telegram_token="999:WRONG")
    with pytest.raises(TelegramStartupError, match="RIBAMBELLE_TELEGRAM_TOKEN"):
        async with running(settings, database, clock):
            pass
    assert [c.status for c in fake.calls] == [401]


async def test_without_a_token_the_server_starts_without_telegram(
    sqlite_url: str,
    database: Database,
    clock: FrozenClock,
    fake: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram.setup")
    settings = Settings(database_url=sqlite_url, telegram_api_url=fake.api_url)
    async with running(settings, database, clock) as app:
        assert TELEGRAM not in app
        assert app[ENGINE].telegram_username is None
    assert fake.calls == []
    assert "Telegram is off" in caplog.text


# Pushes ------------------------------------------------------------------------------------


async def linked_chats(database: Database, clock: FrozenClock, count: int) -> dict[int, list[int]]:
    """`count` Telegram chats logged in, spread over ten households: household → chat ids."""
    chats: dict[int, list[int]] = {}
    async with database.writing() as db:
        town = await builders.structure(db)
        families = [await builders.family(db, town) for _ in range(10)]
        for index in range(count):
            family = families[index % len(families)]
            chat_id = 700_000 + index
            row = await open_conversation(db, "telegram", str(chat_id), clock.now())
            row.state = {
                "step": "menu",
                "household_id": family.household.id,
                "guardian_id": family.guardian.id,
                "locale": "fr",
            }
            row.household_id = family.household.id
            row.guardian_id = family.guardian.id
            chats.setdefault(family.household.id, []).append(chat_id)
    return chats


async def test_a_push_to_300_chats_survives_429s_delivers_each_message_once_and_marks_blocked_users(
    settings: Settings, database: Database, clock: FrozenClock, fake: FakeTelegram
) -> None:
    chats = await linked_chats(database, clock, 300)
    every_chat = [chat for household in chats.values() for chat in household]
    blocked = {every_chat[7], every_chat[123]}
    for chat_id in blocked:
        fake.block(chat_id)
    fake.rate_limit(4, retry_after=0.2, after=40)
    fake.rate_limit(3, retry_after=0.2, after=180)
    settings = replace(settings, telegram_max_rate=2000, telegram_chat_rate=10)

    def reminder(t: Translator) -> list[Reply]:
        return [Reply(text=t._("Rappel : la cantine reprend lundi."), locale=t.locale)]

    async with running(settings, database, clock) as app:
        deliveries = app[DELIVERIES]
        delivered = await asyncio.gather(
            *(deliveries.push_to_household(household, reminder) for household in chats)
        )
        assert sum(delivered) == 298
        assert len(fake.calls_to("sendMessage", ok=False)) == 4 + 3 + 2

        sent = Counter(c.params["chat_id"] for c in fake.calls_to("sendMessage"))
        assert {chat: sent[chat] for chat in every_chat if chat not in blocked} == {
            chat: 1 for chat in every_chat if chat not in blocked
        }
        assert all(sent[chat] == 0 for chat in blocked)
        async with database.reading() as db:
            marked = await db.scalars(
                select(Conversation.key).where(Conversation.blocked_at.is_not(None))
            )
            assert set(marked) == {str(chat_id) for chat_id in blocked}

        # The next push skips the users who blocked the bot: they are not retried forever.
        again = await asyncio.gather(
            *(deliveries.push_to_household(household, reminder) for household in chats)
        )
        assert sum(again) == 298
        refused = Counter(c.params["chat_id"] for c in fake.calls_to("sendMessage", ok=False))
        assert all(refused[chat] == 1 for chat in blocked)

        # Five 429s in a row outlast the rate limiter's own retries: still delivered once.
        household, chat_ids = next(iter(chats.items()))
        [recipient] = [
            r for r in await deliveries.recipients(household) if r.key == str(chat_ids[0])
        ]
        fake.rate_limit(5, retry_after=0.1)
        assert await deliveries.push(recipient, Reply(text="Paiement reçu."))
        received = [c for c in fake.calls_to("sendMessage", ok=None) if c.chat_id == chat_ids[0]]
        assert [c.status for c in received][-6:] == [429] * 5 + [200]

        # Several pushes to one chat keep to its rate (10 a second here).
        replies = [Reply(text=f"Rappel {n}") for n in range(3)]
        await asyncio.gather(*(deliveries.push(recipient, reply) for reply in replies))
        sends = [c for c in fake.calls_to("sendMessage") if c.chat_id == chat_ids[0]][-3:]
        assert [c.params["text"] for c in sends] == ["Rappel 0", "Rappel 1", "Rappel 2"]
        assert all(b.at - a.at >= 0.07 for a, b in zip(sends, sends[1:], strict=False))

        # Writing to the bot again unblocks the chat.
        chat_id = next(iter(blocked))
        fake.blocked.discard(chat_id)
        await Telegram(fake, app).say(chat_id, "menu")
        assert (await conversation(database, chat_id)).blocked_at is None


# Notifications through the outbox -------------------------------------------------------------


async def test_the_evening_reminder_reaches_telegram_and_its_cancel_button_works(
    telegram: Telegram,
    fake: FakeTelegram,
    app: web.Application,
    database: Database,
    town: Town,
    clock: FrozenClock,
) -> None:
    await telegram.log_in(MARIE, town)
    await telegram.say(MARIE, "inscris Léa à la cantine le 4 mars")
    await telegram.say(MARIE, "récapitulatif")
    await telegram.say(MARIE, "confirmer")
    [booking] = await bookings_of_child(database, town)
    assert booking.state is BookingState.CONFIRMED
    clock.set(datetime(2027, 3, 3, 18, 0, tzinfo=PARIS))  # the evening before, 18:00

    async with database.writing() as db:
        assert await run_notice_jobs(db, clock.now()) >= 1
    since = len(fake.calls)
    while await app[OUTBOX].run_once():
        pass

    [reminder] = [
        c.result for c in fake.calls_about(MARIE, since) if c.method == "sendMessage" and c.ok
    ]
    assert "Rappel pour demain, jeudi 4 mars" in reminder["text"]
    label = "Annuler : Léa, Cantine"
    assert fake.buttons(reminder)[label] == f"x.cancel.{booking.id}"
    calls = await telegram.tap(MARIE, label, reminder)
    shown = [
        c.params.get("text", "") for c in calls if c.method in ("sendMessage", "editMessageText")
    ]
    # a meal billed later: the tap cancels it at once, "Rétablir" puts it back
    assert any("jeudi 4 mars : annulé (ne sera pas facturé)" in text for text in shown)

"""Telegram's limits, kept by the channel: the real python-telegram-bot against the fake Bot API,
which refuses what Telegram refuses (a text over 4,096 characters, a keyboard over 100
buttons, a button answered after its deadline) and can answer 429 for a while."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import aiohttp
import pytest
from sqlalchemy import select

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.models import (
    Booking,
    BookingState,
    Category,
    Conversation,
    Household,
    Structure,
)
from booking.services.basket import add_to_basket
from bot.settings import Settings
from bot.telegram.channel import SECRET_HEADER
from bot.telegram.render import PAGE, reply_markup, reply_text, split_text, text_length
from bot.web.keys import DELIVERIES, ENGINE, TURN_LIMITER
from dialogs.engine import TurnResult
from dialogs.replies import Button, Reply
from tests import builders
from tests.e2e import test_telegram as harness
from tests.e2e.test_telegram import MARIE, Telegram, Town, running, texts
from tests.fake_telegram import MAX_BUTTONS, MAX_TEXT, FakeTelegram

# The running bot and its town (fixtures shared with the other Telegram tests).
database = harness.database
town = harness.town
fake = harness.fake
settings = harness.settings
app = harness.app
telegram = harness.telegram

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

SORRY = "Un problème technique"
PHONE_ROWS = 20  # rows of buttons a phone shows without scrolling past the message


def record_turns(app: aiohttp.web.Application, monkeypatch: pytest.MonkeyPatch) -> list:
    """The engine's results from now on, in order."""
    engine = app[ENGINE]
    handle = engine.handle
    results: list[TurnResult] = []

    async def recorded(*args: object) -> TurnResult:
        result = await handle(*args)
        results.append(result)
        return result

    monkeypatch.setattr(engine, "handle", recorded)
    return results


def school_days(first: date, last: date) -> list[date]:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [day for day in days if day.weekday() in (0, 1, 3, 4)]


async def fill_basket_with_160_days(database: Database, town: Town, now: datetime) -> None:
    """Léa and Paolo, morning care, meals and evening care, March to May: 160 days held."""
    async with database.writing() as db:
        household = await db.get(Household, town.household_id)
        structure = await db.get(Structure, household.structure_id)
        paolo = await builders.participant(db, household, first_name="Paolo", born=date(2021, 2, 3))
        lea_id = town.child_id
        slots = []
        for name, category, start in (
            ("Accueil du matin", Category.PERISCOLAIRE, time(7, 30)),
            ("Restaurant scolaire", Category.RESTAURATION, time(11, 45)),
            ("Accueil du soir", Category.PERISCOLAIRE, time(16, 30)),
        ):
            activity = await builders.activity(db, structure, name=name, category=category)
            for day in school_days(date(2027, 3, 2), date(2027, 5, 31)):
                session = await builders.session(
                    db,
                    activity,
                    starts_at=datetime.combine(day, start, tzinfo=PARIS),
                    hours=1.5,
                    capacity=30,
                    price_cents=275,
                )
                slots += [(child, session) for child in (lea_id, paolo.id)]
        slots.sort(key=lambda slot: slot[1].starts_at)
        actor = builders.parent(household)
        for index in range(160):  # spread over the three months
            child_id, session = slots[index * len(slots) // 160]
            await add_to_basket(
                db, actor=actor, participant_id=child_id, session_id=session.id, now=now
            )


async def test_a_160_day_recap_is_split_between_lines_with_its_total_and_confirm_last(
    telegram: Telegram,
    fake: FakeTelegram,
    app: aiohttp.web.Application,
    database: Database,
    town: Town,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await fill_basket_with_160_days(database, town, clock.now())
    await telegram.log_in(MARIE, town)
    turns = record_turns(app, monkeypatch)
    since = len(fake.calls)

    parts = await telegram.say(MARIE, "récapitulatif")

    sends = [c for c in fake.calls[since:] if c.method == "sendMessage"]
    assert sends and all(c.ok for c in sends)
    assert all(len(part["text"]) <= MAX_TEXT for part in parts)
    # Cut between lines only, nothing dropped: the messages put together are the replies.
    [turn] = turns
    wanted = "\n".join(reply_text(reply) for reply in turn.replies)
    assert _lines("\n".join(part["text"] for part in parts)) == _lines(wanted)
    assert "Total" in turn.replies[-1].text and "Total" in texts(parts)
    assert "Confirmer" in fake.buttons(parts[-1])
    assert all("reply_markup" not in part for part in parts[:-1])

    done = await telegram.tap(MARIE, "Confirmer", parts[-1])
    sent = [c for c in done if c.method == "sendMessage"]
    assert sent and all(c.ok and len(c.params["text"]) <= MAX_TEXT for c in sent)
    assert SORRY not in texts([c.result for c in sent])
    async with database.reading() as db:
        states = list(await db.scalars(select(Booking.state)))
    assert states.count(BookingState.CONFIRMED) == 160


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


async def test_a_message_longer_than_telegram_takes_is_sent_in_parts_buttons_on_the_last(
    telegram: Telegram, fake: FakeTelegram, app: aiohttp.web.Application, town: Town
) -> None:
    await telegram.log_in(MARIE, town)
    [recipient] = await app[DELIVERIES].recipients(town.household_id)
    lines = [
        f"• Léa — Cantine — jour {n} : annulé, remboursé sur le porte-monnaie" for n in range(200)
    ]
    notice = Reply(
        text="\n".join(["Annulations :", *lines, "Total remboursé : 700,00 €"]),
        buttons=[[Button("Mes réservations", "x.menu")]],
    )
    since = len(fake.calls)

    assert await app[DELIVERIES].push(recipient, notice)

    parts = [c.result for c in fake.calls[since:] if c.method == "sendMessage" and c.ok]
    assert len(parts) > 1 and all(len(part["text"]) <= MAX_TEXT for part in parts)
    assert "\n".join(part["text"] for part in parts) == notice.text  # cut between lines
    assert parts[-1]["text"].endswith("Total remboursé : 700,00 €")
    assert "reply_markup" in parts[-1]
    assert all("reply_markup" not in part for part in parts[:-1])


async def test_a_tap_is_answered_before_a_slow_turn_and_the_confirmation_still_comes(
    telegram: Telegram,
    fake: FakeTelegram,
    app: aiohttp.web.Application,
    database: Database,
    town: Town,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await telegram.log_in(MARIE, town)
    await telegram.say(MARIE, "inscris Léa à la cantine le 4 mars")
    recap = fake.last_message(MARIE)
    engine = app[ENGINE]
    handle = engine.handle
    turn_started_at: list[int] = []

    async def slow(*args: object) -> TurnResult:
        """An opening morning: the turn outlasts Telegram's window for answering the tap."""
        turn_started_at.append(len(fake.calls))
        fake.advance(fake.callback_deadline + 20)
        return await handle(*args)

    monkeypatch.setattr(engine, "handle", slow)
    calls = await telegram.tap(MARIE, "Confirmer", recap)

    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answer.ok and fake.calls.index(answer) < turn_started_at[0]
    shown = texts([c.result for c in calls if c.method == "sendMessage" and c.ok])
    assert "Léa — Cantine — jeudi 4 mars : confirmé" in shown
    assert SORRY not in shown
    async with database.reading() as db:
        assert await db.scalar(select(Booking.state)) is BookingState.CONFIRMED


async def test_a_tap_telegram_no_longer_lets_us_answer_still_shows_what_was_done(
    telegram: Telegram, fake: FakeTelegram, database: Database, town: Town
) -> None:
    await telegram.log_in(MARIE, town)
    await telegram.say(MARIE, "inscris Léa à la cantine le 4 mars")
    fake.callback_deadline = -1  # every answer comes too late
    calls = await telegram.tap(MARIE, "Confirmer")

    assert [(c.method, c.status) for c in calls][0] == ("answerCallbackQuery", 400)
    shown = texts([c.result for c in calls if c.method == "sendMessage" and c.ok])
    assert "jeudi 4 mars : confirmé" in shown and SORRY not in shown


async def add_activities(database: Database, town: Town, count: int) -> None:
    async with database.writing() as db:
        household = await db.get(Household, town.household_id)
        structure = await db.get(Structure, household.structure_id)
        for number in range(1, count + 1):
            activity = await builders.activity(db, structure, name=f"Atelier {number:03d}")
            start = datetime(2027, 3, 10, 14, 0, tzinfo=PARIS)
            await builders.session(db, activity, starts_at=start, hours=2)


async def test_a_town_with_110_activities_pages_the_list_within_telegram_limits(
    telegram: Telegram, fake: FakeTelegram, database: Database, town: Town
) -> None:
    await add_activities(database, town, 110)
    await telegram.log_in(MARIE, town)
    listing = (await telegram.say(MARIE, "/reserver"))[-1]
    assert "Quelle activité pour Léa" in listing["text"]

    first = _shown(fake, listing)
    [following] = [label for label in fake.buttons(listing) if label.startswith("Suite")]
    calls = await telegram.tap(MARIE, following, listing)
    assert all(c.ok for c in calls if c.method != "editMessageReplyMarkup")
    listing = fake.last_message(MARIE)
    second = _shown(fake, listing)
    assert second and not second & first  # the next activities

    pick = sorted(second)[-1]
    await telegram.tap(MARIE, pick, listing)
    assert f"Léa — {pick}" in fake.last_message(MARIE)["text"]
    assert all(SORRY not in message["text"] for message in fake.sent_to(MARIE))


def _shown(fake: FakeTelegram, listing: dict) -> set[str]:
    """The activities a list shows, within what Telegram and a phone take."""
    rows = listing["reply_markup"]["inline_keyboard"]
    assert sum(len(row) for row in rows) <= MAX_BUTTONS and len(rows) <= PHONE_ROWS
    return {label for label in fake.buttons(listing) if label.startswith("Atelier")}


async def test_a_flood_of_messages_gets_one_slow_down_notice_instead_of_turns(
    settings: Settings, database: Database, clock: FrozenClock, fake: FakeTelegram, town: Town
) -> None:
    settings = replace(settings, chat_turns_per_second=1, chat_burst=3)
    async with running(settings, database, clock) as app:
        telegram = Telegram(fake, app)
        seconds = [0.0]
        app[TURN_LIMITER].clock = lambda: seconds[0]
        for _ in range(3):
            assert "Ribambelle" in texts(await telegram.say(MARIE, "/start"))

        [notice] = await telegram.say(MARIE, "/start")
        assert notice["text"].startswith("Doucement")
        assert await telegram.say(MARIE, "aide") == []  # told once, not once a message
        calls = await telegram.tap(MARIE, "Aide", fake.sent_to(MARIE)[-2])
        assert [c.method for c in calls] == ["answerCallbackQuery"]
        assert calls[0].ok and calls[0].params["text"].startswith("Doucement")
        assert "Ribambelle" in texts(await telegram.say(MARIE + 1, "/start"))  # per chat

        seconds[0] += 1.0  # a second later, one more turn
        assert "Je comprends" in texts(await telegram.say(MARIE, "aide"))
        async with database.reading() as db:
            version = await db.scalar(
                select(Conversation.version).where(Conversation.key == str(MARIE))
            )
        assert version == 4  # three turns, then one: the flood ran none


async def test_a_429_never_holds_the_webhook_call_and_the_replies_follow_in_order(
    settings: Settings, database: Database, clock: FrozenClock, fake: FakeTelegram, town: Town
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/telegram/webhook"
    settings = replace(settings, telegram_webhook_url=url)
    async with running(settings, database, clock, sock), aiohttp.ClientSession() as http:
        secret = {SECRET_HEADER: fake.webhook["secret_token"]}
        fake.rate_limit(10_000, retry_after=0.2)  # "too many requests" until lifted

        for text in ("/start", "connexion"):
            update = fake.inject_text(MARIE, text, queue=False)
            async with http.post(url, json=update, headers=secret) as response:
                assert response.status == 200
        # Both calls answered while Telegram still refuses every message: nothing delivered.
        assert fake.sent_to(MARIE) == []
        await fake.wait_for(lambda: fake.calls_to("sendMessage", ok=False))

        fake.lift_rate_limits()
        await fake.wait_for(lambda: len(fake.sent_to(MARIE)) == 2)
        first, second = fake.sent_to(MARIE)
        assert "Ribambelle" in first["text"] and "identifiant" in second["text"]
        attempts = [c for c in fake.calls_to("sendMessage", ok=None) if c.chat_id == MARIE]
        assert [c.status for c in attempts][-2:] == [200, 200]
        # Each retry waited for as long as Telegram asked.
        refused = [c for c in attempts if c.status == 429]
        assert all(b.at - a.at >= 0.2 for a, b in zip(refused, refused[1:], strict=False))


def test_a_line_longer_than_a_message_is_cut_between_words_and_nothing_is_lost() -> None:
    line = " ".join(f"mot{n}" for n in range(1500))  # one line of 10,000 characters
    parts = split_text(f"Début\n{line}\nFin")
    assert all(text_length(part) <= MAX_TEXT for part in parts) and len(parts) == 3
    assert " ".join(parts).split() == ["Début", *line.split(), "Fin"]
    emoji = split_text("🙂" * 3000)  # Telegram counts an emoji as two characters
    assert [text_length(part) for part in emoji] == [4096, 1904]


def test_every_button_of_a_long_list_is_on_one_of_its_pages() -> None:
    reply = Reply(
        text="Quelle activité ?",
        buttons=[[Button(f"Atelier {n}", f"k.{n}")] for n in range(130)] + [[Button("Menu", "m")]],
    )
    shown: list[str] = []
    for page in range(20):
        rows = reply_markup(reply, page).inline_keyboard
        assert sum(len(row) for row in rows) <= MAX_BUTTONS and len(rows) <= PHONE_ROWS
        assert rows[-1][0].text == "Menu"  # Retour · Menu on every page
        shown += [b.text for row in rows for b in row if b.text.startswith("Atelier")]
        if not any(b.callback_data == f"{PAGE}{page + 1}" for row in rows for b in row):
            break
    assert shown == [f"Atelier {n}" for n in range(130)]

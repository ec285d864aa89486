"""The web chat's history: every turn's replies and pushed messages are kept for a while, a
reload gets them back, every open page of a conversation receives every message, and a login
or a logout starts the history again (nothing of the previous household comes back)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from aiohttp import WSCloseCode, WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from booking import db as booking_db
from booking.clock import FrozenClock
from booking.db import Database
from booking.migrate import upgrade
from booking.models import Conversation
from booking.services.conversations import (
    KEEP_MESSAGES,
    history,
    keep_replies,
    open_conversation,
    purge_messages,
    push_message,
    pushed_after,
    start_history_if_household_changed,
)
from bot.web.keys import PUSH_HUB
from dialogs.replies import Reply
from tests.conftest import POSTGRES_URL, _admin, _run_in_thread, _with_database
from tests.integration import test_chat_api as chat_api
from tests.integration.test_chat_api import (
    COOKIE,
    MONDAY_8,
    Chat,
    MakeClient,
    Message,
    Town,
    button_payload,
    conversation_id,
    day_payload,
    ids,
    open_socket,
    receive_turn,
)

BEFORE_HISTORY = "f1af1b431124"

# The chat API's town (Léa DUPONT, Paolo MARTIN, a canteen in March) and its clients.
town = chat_api.town
make_client = chat_api.make_client
client = chat_api.client


async def history_of(client: TestClient, chat: Chat, **params: str) -> dict:
    response = await client.get("/api/chat/history", params=params, cookies={COOKIE: chat.token})
    assert response.status == 200, await response.text()
    return await response.json()


def texts(messages: list[Message]) -> str:
    return "\n".join(message["text"] for message in messages)


# Over HTTP -------------------------------------------------------------------------------


async def test_a_reload_gets_the_turns_replies_and_the_pushed_messages_back_in_order(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    chat = Chat(client)
    await chat.log_in(town.dupont_login)
    await chat.press("Réserver")
    await chat.press("Cantine")
    await chat.tap(MONDAY_8)
    pushed = await client.app[PUSH_HUB].deliver(
        sqlite_database,
        await conversation_id(sqlite_database, chat.token),
        Reply(text="Rappel : cantine lundi."),
        clock.now(),
    )

    kept = await history_of(client, chat)
    messages = kept["messages"]
    assert "Bonjour Jean" in messages[0]["text"], "the history starts at the login"
    assert messages[0]["history_start"] is True
    assert "ajouté au panier" in texts(messages)
    assert messages[-1] == pushed
    assert ids(messages) == sorted(ids(messages))
    assert all("history_start" not in message for message in messages[1:])
    calendar = next(m for m in reversed(messages) if m["calendar"])
    assert calendar == next(m for m in reversed(chat.seen) if m["calendar"])
    assert kept["from"] == messages[0]["id"]

    # A page catching up asks for what came after the last message it has.
    after = await history_of(client, chat, after=str(ids(messages)[-2]))
    assert after["messages"] == [pushed]

    # The history keeps working buttons: the reloaded page taps without a new turn first.
    await chat.send(button=day_payload(messages, MONDAY_8))
    assert "retiré du panier" in chat.text


async def test_after_a_logout_nothing_of_the_household_comes_back(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    chat = Chat(client)
    await chat.log_in(town.dupont_login)
    await chat.press("Réserver")
    pushed = await client.app[PUSH_HUB].deliver(
        sqlite_database,
        await conversation_id(sqlite_database, chat.token),
        Reply(text="Paiement reçu pour Léa."),
        clock.now(),
    )
    await chat.press("Menu")
    logout = await chat.press("Se déconnecter")
    assert logout[0]["history_start"] is True, "the page must drop what it showed"

    kept = await history_of(client, chat)
    assert ids(kept["messages"]) == ids(logout)
    assert "Jean" not in texts(kept["messages"]) and "Léa" not in texts(kept["messages"])
    for after in ("0", str(int(pushed["id"]) - 1)):
        caught_up = await history_of(client, chat, after=after)
        assert ids(caught_up["messages"]) == ids(logout)
    inbox = await client.get("/api/chat/inbox", params={"after": "0"}, cookies={COOKIE: chat.token})
    assert (await inbox.json())["messages"] == []

    # The next person logs in on the same tablet: the history starts at their login.
    await chat.press("Se connecter")
    await chat.say(town.martin_login)
    welcome = await chat.say("secret-pass-1")
    assert welcome[0]["history_start"] is True
    kept = await history_of(client, chat)
    assert ids(kept["messages"]) == ids(welcome)
    assert "Léa" not in texts(kept["messages"])


async def test_every_open_page_receives_the_replies_of_a_turn_sent_by_another(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    chat = Chat(client)
    await chat.log_in(town.dupont_login)
    first = await open_socket(client, chat.token)
    second = await open_socket(client, chat.token)
    try:
        # A turn over the first socket reaches both.
        await first.send_json({"button": button_payload(chat.last, "Réserver")})
        sent = await receive_turn(first)
        assert await receive_turn(second) == sent
        assert "Quelle activité pour Léa" in texts(sent)

        # A turn over POST (a page without its socket) reaches both sockets too.
        posted = await chat.send(button=button_payload(sent, "Cantine"))
        assert await receive_turn(first) == posted
        assert await receive_turn(second) == posted
    finally:
        await first.close()
        await second.close()


async def test_history_needs_a_known_conversation_and_a_message_id(
    client: TestClient, town: Town
) -> None:
    response = await client.get("/api/chat/history", cookies={COOKIE: "no-such-one"})
    assert response.status == 404
    assert (await response.json())["error"] == "unknown_conversation"
    chat = Chat(client)
    await chat.start()
    for after in ("-1", "x", "1" * 13, "١"):
        response = await client.get(
            "/api/chat/history", params={"after": after}, cookies={COOKIE: chat.token}
        )
        assert response.status == 400, after
        assert (await response.json())["error"] == "bad_after"


# The service, on SQLite and PostgreSQL -----------------------------------------------------


async def test_the_history_keeps_a_week_and_the_last_fifty_messages(
    database: Database, clock: FrozenClock
) -> None:
    async with database.writing() as db:
        conversation = await open_conversation(db, "web", uuid.uuid4().hex, clock.now())
        old = [{"id": str(n), "text": f"old {n}"} for n in range(1, 4)]
        await db.execute(
            Conversation.__table__.update()
            .where(Conversation.id == conversation.id)
            .values(last_message_id=3)
        )
        await keep_replies(db, conversation.id, 1, old, clock.now())
    clock.advance(KEEP_MESSAGES + timedelta(minutes=1))
    async with database.writing() as db:
        recent = [{"id": str(n), "text": f"new {n}"} for n in range(4, 64)]
        await db.execute(
            Conversation.__table__.update()
            .where(Conversation.id == conversation.id)
            .values(last_message_id=63)
        )
        await keep_replies(db, conversation.id, 4, recent, clock.now())
    async with database.reading() as db:
        start, messages = await history(db, conversation.id, clock.now())
    assert start == 0
    assert [m.message_id for m in messages] == list(range(14, 64))
    async with database.reading() as db:
        kept = await db.scalar(text("SELECT count(*) FROM pushed_messages"))
    assert kept == 60, "the week-old replies of the conversation are forgotten"

    clock.advance(KEEP_MESSAGES + timedelta(minutes=1))
    async with database.writing() as db:
        assert await purge_messages(db, clock.now()) == 60


async def test_a_late_turn_never_moves_the_history_start_back(
    database: Database, clock: FrozenClock
) -> None:
    async with database.writing() as db:
        conversation = await open_conversation(db, "web", uuid.uuid4().hex, clock.now())
        # The logout (messages 5 and 6) is kept before the turn saved just before it (3, 4).
        assert await start_history_if_household_changed(db, conversation.id, 5, None) is False
        await db.execute(
            Conversation.__table__.update()
            .where(Conversation.id == conversation.id)
            .values(history_household_id=7)
        )
        assert await start_history_if_household_changed(db, conversation.id, 5, None) is True
        assert await start_history_if_household_changed(db, conversation.id, 3, 7) is False
        assert await start_history_if_household_changed(db, conversation.id, 8, None) is False
    async with database.reading() as db:
        row = await db.get(Conversation, conversation.id)
        assert (row.history_from, row.history_household_id) == (5, None)


async def test_pushed_messages_stay_in_the_inbox_and_replies_do_not_go_there(
    database: Database, clock: FrozenClock
) -> None:
    async with database.writing() as db:
        conversation = await open_conversation(db, "web", uuid.uuid4().hex, clock.now())
        await db.execute(
            Conversation.__table__.update()
            .where(Conversation.id == conversation.id)
            .values(last_message_id=2)
        )
        await keep_replies(db, conversation.id, 1, [{"id": "1"}, {"id": "2"}], clock.now())
        pushed = await push_message(db, conversation.id, {"id": "3"}, clock.now())
    async with database.reading() as db:
        inbox = await pushed_after(db, conversation.id, 0)
        _, kept = await history(db, conversation.id, clock.now())
    assert [m.message_id for m in inbox] == [pushed.message_id] == [3]
    assert [m.message_id for m in kept] == [1, 2, 3]


# The migration --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    """An empty database, not migrated: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data.db'}"
        return
    request.getfixturevalue("postgres_template")
    name = f"ribambelle_history_{uuid.uuid4().hex[:8]}"
    _run_in_thread(lambda: _admin(f'CREATE DATABASE "{name}"'))
    yield _with_database(POSTGRES_URL, name)
    _run_in_thread(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_messages_pushed_before_the_upgrade_reach_no_logged_out_conversation(
    empty_url: str, clock: FrozenClock
) -> None:
    await asyncio.to_thread(upgrade, empty_url, BEFORE_HISTORY)
    engine = booking_db.create_engine(empty_url)
    now = clock.now()
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO conversations (channel, key, state, version, last_message_id, "
                "created_at, updated_at) VALUES ('web', 'left', '{}', 1, 4, :now, :now)"
            ),
            {"now": now},
        )
        await connection.execute(
            text(
                "INSERT INTO pushed_messages (conversation_id, message_id, body, created_at) "
                'VALUES (1, 3, \'{"id": "3"}\', :now)'
            ),
            {"now": now},
        )
    await asyncio.to_thread(upgrade, empty_url)

    database = Database(engine)
    async with database.reading() as db:
        start, kept = await history(db, 1, now)
        inbox = await pushed_after(db, 1, 0)
        row = await db.get(Conversation, 1)
        kinds = (await db.execute(text("SELECT kind FROM pushed_messages"))).scalars().all()
    assert (start, kept, inbox) == (5, [], [])
    assert (row.history_from, row.history_household_id) == (5, None)
    assert kinds == ["push"]
    await engine.dispose()


async def test_open_pages_are_told_to_reconnect_when_the_server_stops(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    chat = Chat(client)
    await chat.start()
    socket = await open_socket(client, chat.token)
    await client.app.shutdown()
    frame = await socket.receive(timeout=10)
    assert frame.type is WSMsgType.CLOSE
    assert socket.close_code == WSCloseCode.GOING_AWAY


pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

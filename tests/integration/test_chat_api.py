"""The web chat API over HTTP and WebSocket: the real app on a real SQLite file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, DummyCookieJar, WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.models import Booking, BookingState, Category, PaymentMode
from booking.passwords import hash_password
from booking.services.conversations import find_conversation
from bot.app import build_app
from bot.settings import Settings
from bot.web.chat_api import COOKIE, conversation_key
from bot.web.keys import DATABASE, NEW_CHAT_LIMITER, PUSH_HUB, TURN_LIMITER
from dialogs.replies import Reply
from tests import builders

PASSWORD = "secret-pass-1"
MARCH_DAYS = (2, 3, 4, 5, 8, 9, 10, 11, 12)
STALE = "Ce bouton n'est plus valable"

Message = dict[str, Any]


@cache
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: hash once per run


# The town ---------------------------------------------------------------------------------


@dataclass
class Town:
    dupont_login: str
    dupont_child: int
    martin_login: str
    martin_child: int
    sessions: dict[date, int]


async def _parent(db, town, *, name: str, child: str) -> tuple[str, int]:  # noqa: ANN001
    home = await builders.family(db, town, name=name)
    home.guardian.password_hash = password_hash()
    home.guardian.must_change_password = False
    home.guardian.terms_accepted_at = datetime(2027, 1, 2, 10, 0, tzinfo=PARIS)
    home.child.first_name = child
    await db.flush()
    return home.guardian.login, home.child.id


@pytest.fixture
async def town(sqlite_database: Database) -> Town:
    """Two households (Léa DUPONT, Paolo MARTIN) and an invoiced canteen on March weekdays."""
    async with sqlite_database.writing() as db:
        town = await builders.structure(db)
        dupont_login, dupont_child = await _parent(db, town, name="DUPONT", child="Léa")
        martin_login, martin_child = await _parent(db, town, name="MARTIN", child="Paolo")
        cantine = await builders.activity(
            db, town, name="Cantine", category=Category.RESTAURATION, mode=PaymentMode.INVOICE
        )
        sessions = {}
        for day in MARCH_DAYS:
            starts = datetime(2027, 3, day, 12, 0, tzinfo=PARIS)
            row = await builders.session(db, cantine, starts_at=starts, hours=1.5, price_cents=335)
            sessions[starts.date()] = row.id
    return Town(dupont_login, dupont_child, martin_login, martin_child, sessions)


# The app and a client ---------------------------------------------------------------------

MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client(sqlite_database: Database, clock: FrozenClock) -> AsyncIterator[MakeClient]:
    """Start the real app (no scheduler) on a test server; `cookies=False` ignores cookies."""
    clients: list[TestClient] = []

    async def make(settings: Settings | None = None, *, cookies: bool = True) -> TestClient:
        app = build_app(
            settings or Settings(database_url="sqlite://unused"),
            database=sqlite_database,
            clock=clock,
            run_scheduler=False,
        )
        client = TestClient(TestServer(app), cookie_jar=None if cookies else DummyCookieJar())
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: MakeClient, town: Town) -> TestClient:
    return await make_client()


async def open_socket(client: TestClient, token: str | None) -> ClientWebSocketResponse:
    """A WebSocket naming its conversation in its first frame (tokens never go in URLs)."""
    if token is None:
        return await client.ws_connect("/api/chat/ws")
    hub, conversation = client.app[PUSH_HUB], await conversation_id(client.app[DATABASE], token)
    before = hub.open_sockets(conversation)
    socket = await client.ws_connect("/api/chat/ws")
    await socket.send_json({"conversation": token})
    for _ in range(500):  # the server reads the first frame: wait until it bound the socket
        if hub.open_sockets(conversation) > before:
            break
        await asyncio.sleep(0.01)
    return socket


class Chat:
    """One web conversation driven through POST /api/chat/turn."""

    def __init__(self, client: TestClient, token: str | None = None) -> None:
        self.client = client
        self.token = token
        self.last: list[Message] = []
        self.seen: list[Message] = []

    async def send(self, **body: Any) -> list[Message]:
        response = await self.client.post(
            "/api/chat/turn", json={"conversation": self.token, **body}
        )
        assert response.status == 200, await response.text()
        reply = await response.json()
        assert reply["messages"], "every turn answers something"
        self.token = reply["conversation"]
        self.last = reply["messages"]
        self.seen += self.last
        return self.last

    async def start(self) -> list[Message]:
        return await self.send(text="")

    async def say(self, text: str) -> list[Message]:
        return await self.send(text=text)

    async def press(self, label: str) -> list[Message]:
        return await self.send(button=button_payload(self.last, label))

    async def tap(self, day: date) -> list[Message]:
        return await self.send(button=day_payload(self.last, day))

    async def log_in(self, login: str) -> list[Message]:
        await self.start()
        await self.press("Se connecter")
        asked = await self.say(login)
        assert asked[-1]["input"] == "password"
        return await self.say(PASSWORD)

    @property
    def text(self) -> str:
        return "\n".join(message["text"] for message in self.last)


def button_payload(messages: list[Message], label: str) -> str:
    for message in reversed(messages):
        for row in message["buttons"]:
            for button in row:
                if button["label"] == label:
                    return button["payload"]
    raise AssertionError(f"no button {label!r} in {[m['buttons'] for m in messages]}")


def day_payload(messages: list[Message], day: date) -> str:
    for message in reversed(messages):
        for week in (message["calendar"] or {}).get("weeks", []):
            for cell in week:
                if cell is not None and cell["date"] == day.isoformat() and cell["payload"]:
                    return cell["payload"]
    raise AssertionError(f"no tappable {day} in the calendar")


def day_state(messages: list[Message], day: date) -> str:
    calendar = next(m["calendar"] for m in reversed(messages) if m["calendar"])
    cells = [cell for week in calendar["weeks"] for cell in week if cell is not None]
    return next(cell["state"] for cell in cells if cell["date"] == day.isoformat())


async def bookings_of_child(database: Database, participant_id: int) -> list[Booking]:
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(Booking)
                .where(Booking.participant_id == participant_id)
                .order_by(Booking.session_id)
            )
        )


async def conversation_id(database: Database, token: str) -> int:
    async with database.reading() as db:
        conversation = await find_conversation(db, "web", conversation_key(token))
        assert conversation is not None
        return conversation.id


def ids(messages: list[Message]) -> list[int]:
    return [int(message["id"]) for message in messages]


def strictly_increasing(values: list[int]) -> bool:
    return all(a < b for a, b in zip(values, values[1:], strict=False))


MONDAY_8 = date(2027, 3, 8)
TUESDAY_9 = date(2027, 3, 9)
WEDNESDAY_10 = date(2027, 3, 10)


# A whole conversation over POST -----------------------------------------------------------


async def test_a_parent_logs_in_and_books_two_canteen_days_over_post(
    client: TestClient, town: Town, sqlite_database: Database
) -> None:
    chat = Chat(client)
    welcome = await chat.start()
    assert "Ribambelle" in welcome[0]["text"]
    assert set(welcome[0]) == {"id", "text", "buttons", "link", "calendar", "input", "lang"}
    assert welcome[0]["lang"] == "fr"

    await chat.press("Se connecter")
    assert chat.last[-1]["input"] == "text"
    asked = await chat.say(town.dupont_login)
    assert asked[-1]["input"] == "password"
    await chat.say(PASSWORD)
    assert "Bonjour Jean" in chat.text
    assert chat.last[-1]["input"] == "text"

    await chat.press("Réserver")
    assert "Quelle activité pour Léa" in chat.text
    await chat.press("Cantine")
    assert day_state(chat.last, MONDAY_8) == "open"
    await chat.tap(MONDAY_8)
    assert "ajouté au panier" in chat.text
    assert day_state(chat.last, MONDAY_8) == "in_basket"
    await chat.tap(TUESDAY_9)
    await chat.press("Récapitulatif et confirmation")
    recap = chat.text
    assert "Récapitulatif" in recap
    assert "Total : 6,70" in recap.replace("\xa0", " ")
    await chat.press("Confirmer")
    assert chat.text.count("confirmé") == 2

    booked = await bookings_of_child(sqlite_database, town.dupont_child)
    assert [b.session_id for b in booked] == [
        town.sessions[MONDAY_8],
        town.sessions[TUESDAY_9],
    ]
    assert {b.state for b in booked} == {BookingState.CONFIRMED}
    assert strictly_increasing(ids(chat.seen))


async def test_the_conversation_cookie_is_http_only_and_resumes_the_conversation(
    client: TestClient, town: Town
) -> None:
    response = await client.post("/api/chat/turn", json={"conversation": None, "text": ""})
    assert response.status == 200
    token = (await response.json())["conversation"]
    assert len(token) >= 32
    cookie = response.cookies[COOKIE]
    assert cookie.value == token
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    first = await response.json()

    again = await client.post("/api/chat/turn", json={"conversation": None, "text": ""})
    assert again.status == 200
    resumed = await again.json()
    assert resumed["conversation"] == token
    assert COOKIE not in again.cookies  # already set: not sent again
    assert min(ids(resumed["messages"])) > max(ids(first["messages"]))


async def test_each_new_conversation_gets_its_own_unguessable_token(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    first, second = Chat(client), Chat(client)
    await first.start()
    await second.start()
    assert first.token != second.token
    assert len(first.token) >= 32


async def test_a_stale_cookie_starts_a_new_conversation(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    response = await client.post(
        "/api/chat/turn",
        json={"conversation": None, "text": ""},
        headers={"Cookie": f"{COOKIE}=no-such-conversation"},
    )
    assert response.status == 200
    token = (await response.json())["conversation"]
    assert token != "no-such-conversation"
    assert response.cookies[COOKIE].value == token


async def test_a_new_conversation_speaks_the_browsers_language(
    client: TestClient, town: Town
) -> None:
    response = await client.post(
        "/api/chat/turn",
        json={"conversation": None, "text": ""},
        headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"},
    )
    message = (await response.json())["messages"][0]
    assert message["lang"] == "en"
    assert "Ribambelle" in message["text"]
    assert "Bonjour" not in message["text"]


async def test_a_body_that_arrives_in_several_packets_is_read_whole(
    client: TestClient, town: Town
) -> None:
    async def slowly() -> AsyncIterator[bytes]:
        yield b'{"conversation": null, '
        await asyncio.sleep(0.05)
        yield b'"text": ""}'

    response = await client.post("/api/chat/turn", data=slowly())
    assert response.status == 200, await response.text()


# The WebSocket ----------------------------------------------------------------------------


async def receive_turn(socket) -> list[Message]:  # noqa: ANN001
    """The frames of one turn: a turn ends with the step's message, which offers buttons."""
    frames = []
    while True:
        frame = await socket.receive_json(timeout=5)
        assert "error" not in frame, frame
        frames.append(frame)
        if frame["buttons"] or frame["calendar"]:
            return frames


async def test_a_parent_books_over_the_websocket_opened_with_the_cookie(
    client: TestClient, town: Town, sqlite_database: Database
) -> None:
    chat = Chat(client)
    await chat.start()
    socket = await client.ws_connect("/api/chat/ws")  # the cookie names the conversation
    try:
        seen = list(chat.seen)

        async def send(**body: Any) -> list[Message]:
            await socket.send_json(body)
            frames = await receive_turn(socket)
            seen.extend(frames)
            return frames

        frames = await send(button=button_payload(chat.last, "Se connecter"))
        frames = await send(text=town.dupont_login)
        assert frames[-1]["input"] == "password"
        frames = await send(conversation=chat.token, text=PASSWORD)
        assert "Bonjour Jean" in frames[0]["text"]
        frames = await send(button=button_payload(frames, "Réserver"))
        frames = await send(button=button_payload(frames, "Cantine"))
        frames = await send(button=day_payload(frames, WEDNESDAY_10))
        assert day_state(frames, WEDNESDAY_10) == "in_basket"
        frames = await send(button=button_payload(frames, "Récapitulatif et confirmation"))
        frames = await send(button=button_payload(frames, "Confirmer"))
        assert "confirmé" in frames[0]["text"]
        assert strictly_increasing(ids(seen))
    finally:
        await socket.close()
    booked = await bookings_of_child(sqlite_database, town.dupont_child)
    assert [(b.session_id, b.state) for b in booked] == [
        (town.sessions[WEDNESDAY_10], BookingState.CONFIRMED)
    ]


async def test_a_bad_websocket_frame_gets_an_error_frame_and_the_socket_stays_usable(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    chat = Chat(client)
    await chat.start()
    socket = await open_socket(client, chat.token)
    try:
        bad_frames = [
            ("not json", "bad_json"),
            ("[1, 2]", "bad_body"),
            ('{"text": "a", "button": "b"}', "bad_body"),
            ('{"text": 3}', "bad_text"),
            ('{"colour": "red", "text": ""}', "unknown_field"),
            ('{"conversation": "another-conversation", "text": ""}', "bad_conversation"),
            ("[" * 5000 + "]" * 5000, "bad_json"),
        ]
        for frame, code in bad_frames:
            await socket.send_str(frame)
            error = await socket.receive_json(timeout=5)
            assert error["error"] == code, (frame[:40], error)
            assert error["message"]
        await socket.send_bytes(b'{"text": ""}')
        assert (await socket.receive_json(timeout=5))["error"] == "bad_frame"

        await socket.send_json({"button": button_payload(chat.last, "Se connecter")})
        frames = await receive_turn(socket)
        assert "identifiant" in frames[-1]["text"]
    finally:
        await socket.close()


async def test_a_websocket_for_an_unknown_conversation_is_refused(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    response = await client.get("/api/chat/ws")
    assert response.status == 404
    assert (await response.json())["error"] == "unknown_conversation"
    for first in ({"conversation": "no-such-conversation"}, {"conversation": None, "text": ""}):
        socket = await open_socket(client, None)
        await socket.send_json(first)
        assert (await socket.receive_json(timeout=5))["error"] == "unknown_conversation"
        assert (await socket.receive(timeout=5)).type is WSMsgType.CLOSE


async def test_a_pushed_message_appears_once_in_the_inbox(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    chat = Chat(client)
    await chat.start()
    last_seen = max(ids(chat.seen))
    pushed = await client.app[PUSH_HUB].deliver(
        sqlite_database,
        await conversation_id(sqlite_database, chat.token),
        Reply(text="Paiement reçu : merci !"),
        clock.now(),
    )
    assert int(pushed["id"]) == last_seen + 1

    response = await client.get(
        "/api/chat/inbox", params={"after": str(last_seen)}, cookies={COOKIE: chat.token}
    )
    assert response.status == 200
    inbox = (await response.json())["messages"]
    assert [(m["id"], m["text"]) for m in inbox] == [(pushed["id"], "Paiement reçu : merci !")]
    assert inbox[0] == pushed

    response = await client.get(
        "/api/chat/inbox", params={"after": pushed["id"]}, cookies={COOKIE: chat.token}
    )
    assert (await response.json())["messages"] == []
    response = await client.get("/api/chat/inbox", params={"after": "0"})  # the cookie
    assert [m["id"] for m in (await response.json())["messages"]] == [pushed["id"]]

    await chat.start()
    assert min(ids(chat.last)) > int(pushed["id"])


async def test_a_pushed_message_reaches_an_open_websocket(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    chat = Chat(client)
    await chat.start()
    socket = await open_socket(client, chat.token)
    try:
        pushed = await client.app[PUSH_HUB].deliver(
            sqlite_database,
            await conversation_id(sqlite_database, chat.token),
            Reply(text="Une place s'est libérée."),
            clock.now(),
        )
        frame = await socket.receive_json(timeout=5)
        assert frame == pushed
        assert frame["text"] == "Une place s'est libérée."
    finally:
        await socket.close()


async def test_a_closed_websocket_no_longer_receives_pushes(
    client: TestClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    chat = Chat(client)
    await chat.start()
    socket = await open_socket(client, chat.token)
    await socket.close()
    await asyncio.sleep(0.05)
    pushed = await client.app[PUSH_HUB].deliver(
        sqlite_database,
        await conversation_id(sqlite_database, chat.token),
        Reply(text="Rappel"),
        clock.now(),
    )
    response = await client.get("/api/chat/inbox", params={"after": "0"})
    assert [m["id"] for m in (await response.json())["messages"]] == [pushed["id"]]


# Bad input --------------------------------------------------------------------------------


async def post_raw(client: TestClient, data: bytes | str) -> tuple[int, dict]:
    response = await client.post(
        "/api/chat/turn", data=data, headers={"Content-Type": "application/json"}
    )
    assert response.content_type == "application/json"
    return response.status, await response.json()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "bad_json"),
        (b"\xff\xfe{}", "bad_json"),
        ("", "bad_json"),
        ("[]", "bad_body"),
        ('"text"', "bad_body"),
        ("null", "bad_body"),
        ('{"conversation": null, "text": "", "colour": "red"}', "unknown_field"),
        ('{"conversation": null, "text": "bonjour", "button": "ab.1"}', "bad_body"),
        ('{"conversation": null}', "bad_body"),
        ("{}", "bad_body"),
        ('{"conversation": null, "text": 12}', "bad_text"),
        ('{"conversation": null, "text": null}', "bad_text"),
        ('{"conversation": null, "text": ["a"]}', "bad_text"),
        (json.dumps({"conversation": None, "text": "a" * 2001}), "bad_text"),
        ('{"conversation": null, "button": ""}', "bad_button"),
        ('{"conversation": null, "button": 7}', "bad_button"),
        (json.dumps({"conversation": None, "button": "a" * 65}), "bad_button"),
        ('{"conversation": 42, "text": ""}', "bad_conversation"),
        ('{"conversation": ["t"], "text": ""}', "bad_conversation"),
        ('{"conversation": "", "text": ""}', "bad_conversation"),
        (json.dumps({"conversation": "t" * 129, "text": ""}), "bad_conversation"),
        ("[" * 5000 + "]" * 5000, "bad_json"),
        ('{"conversation": null, "text": "\\u0000"}', "bad_text"),
        ('{"conversation": null, "text": "\\ud800"}', "bad_text"),
    ],
)
async def test_a_bad_body_gets_400_with_a_json_error(
    client: TestClient, body: str, code: str
) -> None:
    status, error = await post_raw(client, body)
    assert status == 400
    assert error["error"] == code
    assert error["message"]


@pytest.mark.parametrize("typed", ["\ud800", "a\x00b", "\udfff\ud800"])
async def test_text_that_is_not_valid_unicode_is_refused_at_every_step(
    client: TestClient, town: Town, typed: str
) -> None:
    chat = Chat(client)
    await chat.start()
    await chat.press("Se connecter")
    for _step in ("login", "password"):
        response = await client.post(
            "/api/chat/turn", json={"conversation": chat.token, "text": typed}
        )
        assert response.status == 400, await response.text()
        assert (await response.json())["error"] == "bad_text"
        await chat.say("someone")


async def test_text_of_exactly_2000_characters_is_accepted(client: TestClient) -> None:
    status, _ = await post_raw(client, json.dumps({"conversation": None, "text": "a" * 2000}))
    assert status == 200


async def test_an_unknown_conversation_token_is_404_everywhere(client: TestClient) -> None:
    status, error = await post_raw(client, '{"conversation": "no-such-token", "text": ""}')
    assert (status, error["error"]) == (404, "unknown_conversation")
    status, error = await post_raw(client, '{"conversation": "no-such-token", "button": "a.0"}')
    assert status == 404
    response = await client.get(
        "/api/chat/inbox", params={"after": "0"}, cookies={COOKIE: "no-such-token"}
    )
    assert response.status == 404
    assert (await response.json())["error"] == "unknown_conversation"
    response = await client.get("/api/chat/inbox", cookies={COOKIE: "x" * 500})
    assert response.status == 404


async def test_a_token_that_is_not_valid_unicode_is_never_a_crash(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    status, error = await post_raw(client, '{"conversation": "\\ud800", "text": ""}')
    assert (status, error["error"]) == (400, "bad_conversation")
    for query in ("conversation=%ED%A0%80&after=0", "conversation=%FF&after=0"):
        response = await client.get(f"/api/chat/inbox?{query}")
        assert response.status == 404, query
        response = await client.get(f"/api/chat/ws?{query}")
        assert response.status == 404, query
    response = await client.post(
        "/api/chat/turn",
        data=b'{"conversation": null, "text": ""}',
        headers={"Cookie": COOKIE + "=\udcff".encode("utf-8", "surrogateescape").decode("latin-1")},
    )
    assert response.status == 200
    response = await client.get(
        "/api/chat/inbox?after=0",
        headers={"Cookie": f"{COOKIE}=caf\u00e9".encode().decode("latin-1")},
    )
    assert response.status == 404


async def test_a_body_over_16_kib_is_413(client: TestClient) -> None:
    big = json.dumps({"conversation": None, "text": "a" * 17_000})
    status, error = await post_raw(client, big)
    assert (status, error["error"]) == (413, "too_large")

    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"conversation": null, "text": ""}'
        for _ in range(20):
            yield b" " * 1024

    response = await client.post("/api/chat/turn", data=chunked())
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"

    status, error = await post_raw(client, b"x" * 200_000)
    assert status == 413


async def test_after_must_be_a_message_id(client: TestClient, town: Town) -> None:
    chat = Chat(client)
    await chat.start()
    for after in ("abc", "-1", "1.5", "", "²", "1" * 13):
        response = await client.get(
            "/api/chat/inbox", params={"after": after}, cookies={COOKIE: chat.token}
        )
        assert response.status == 400, after
        assert (await response.json())["error"] == "bad_after"


async def test_a_flood_of_turns_is_429_until_the_bucket_refills(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(Settings(chat_turns_per_second=2, chat_burst=3))
    ticks = [1000.0]
    client.app[TURN_LIMITER].clock = lambda: ticks[0]
    chat = Chat(client)
    await chat.start()
    await chat.say("")
    await chat.say("")
    response = await client.post("/api/chat/turn", json={"conversation": chat.token, "text": ""})
    assert response.status == 429
    assert (await response.json())["error"] == "too_many_requests"
    response = await client.get("/api/chat/inbox", params={"after": "0"})
    assert response.status == 429

    ticks[0] += 0.5  # one more turn at two a second
    await chat.say("")
    response = await client.post("/api/chat/turn", json={"conversation": chat.token, "text": ""})
    assert response.status == 429

    ticks[0] += 60
    for _ in range(3):
        await chat.say("")


async def test_a_flood_on_the_websocket_gets_429_frames(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(Settings(chat_turns_per_second=1, chat_burst=2), cookies=False)
    ticks = [1000.0]
    client.app[TURN_LIMITER].clock = lambda: ticks[0]
    chat = Chat(client)
    await chat.start()
    socket = await open_socket(client, chat.token)
    try:
        await socket.send_json({"text": ""})
        await receive_turn(socket)
        await socket.send_json({"text": ""})
        assert (await socket.receive_json(timeout=5))["error"] == "too_many_requests"
        ticks[0] += 5
        await socket.send_json({"text": ""})
        await receive_turn(socket)
    finally:
        await socket.close()


async def test_many_new_conversations_from_one_address_are_429(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(Settings(new_chats_per_minute=8), cookies=False)
    ticks = [1000.0]
    client.app[NEW_CHAT_LIMITER].clock = lambda: ticks[0]
    started = [Chat(client) for _ in range(2)]  # a burst of 8 // 4
    for chat in started:
        await chat.start()
    response = await client.post("/api/chat/turn", json={"conversation": None, "text": ""})
    assert response.status == 429
    assert (await response.json())["error"] == "too_many_requests"
    await started[0].say("")  # known conversations go on

    ticks[0] += 60 / 8
    await Chat(client).start()


# Buttons ----------------------------------------------------------------------------------


async def test_a_forged_button_payload_gets_a_clear_french_message(
    client: TestClient, town: Town
) -> None:
    chat = Chat(client)
    await chat.start()
    for forged in ("zzzzz.0", ".0", "nope", "a" * 64, "..", "\u00e9\u00e9.\u00e9"):
        await chat.send(button=forged)
        assert chat.last[0]["text"].startswith(STALE)
        assert "Ribambelle" in chat.text  # the current step is shown again


async def test_an_old_button_payload_is_stale_after_the_next_turn(
    client: TestClient, town: Town, sqlite_database: Database
) -> None:
    chat = Chat(client)
    await chat.log_in(town.dupont_login)
    await chat.press("Réserver")
    await chat.press("Cantine")
    old_calendar = chat.last
    await chat.tap(MONDAY_8)
    await chat.tap(MONDAY_8)  # tapped again: out of the basket
    await chat.send(button=day_payload(old_calendar, MONDAY_8))
    assert chat.last[0]["text"].startswith(STALE)
    booked = await bookings_of_child(sqlite_database, town.dupont_child)
    assert all(b.state is not BookingState.HELD for b in booked)


async def test_another_conversations_payload_does_not_act_on_this_one(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    mine, theirs = Chat(client), Chat(client)
    await mine.start()
    await theirs.start()
    await mine.send(button=button_payload(theirs.last, "Voir les activités"))
    assert mine.last[0]["text"].startswith(STALE)


# Two households ---------------------------------------------------------------------------


async def test_a_household_cannot_see_or_change_another_households_bookings(
    make_client: MakeClient, town: Town, sqlite_database: Database
) -> None:
    client = await make_client(Settings(chat_burst=100), cookies=False)
    martin, dupont = Chat(client), Chat(client)
    await martin.log_in(town.martin_login)
    await martin.press("Réserver")
    await martin.press("Cantine")
    await martin.tap(MONDAY_8)
    martin_calendar = martin.last
    await martin.press("Récapitulatif et confirmation")
    martin_recap = martin.last
    await martin.press("Confirmer")
    await martin.press("Mes réservations")
    martin_bookings = martin.last
    before = [(b.id, b.state) for b in await bookings_of_child(sqlite_database, town.martin_child)]
    assert before and before[0][1] is BookingState.CONFIRMED

    await dupont.log_in(town.dupont_login)
    payloads = [
        button["payload"]
        for message in martin_calendar + martin_recap + martin_bookings
        for row in message["buttons"]
        for button in row
    ] + [
        cell["payload"]
        for message in martin_calendar
        if message["calendar"]
        for week in message["calendar"]["weeks"]
        for cell in week
        if cell is not None and cell["payload"]
    ]
    for payload in payloads:
        await dupont.send(button=payload)
        if payload.startswith("x."):  # a menu button: it names an action, never an id
            assert "Paolo" not in "\n".join(m["text"] for m in dupont.last)
            continue
        assert dupont.last[0]["text"].startswith(STALE)
    for text in (
        "annule lundi 8 mars pour Paolo",
        "annule la cantine de Paolo",
        "inscris Paolo à la cantine le 10 mars",
        "Paolo",
        "mes réservations",
        "réserver pour Paolo",
    ):
        await dupont.say(text)
        assert "Paolo" not in dupont.text.replace(text, ""), (text, dupont.text)
        for message in dupont.last:
            if message["calendar"]:
                assert day_state([message], MONDAY_8) != "booked"

    after = [(b.id, b.state) for b in await bookings_of_child(sqlite_database, town.martin_child)]
    assert after == before
    await martin.say("mes réservations")
    assert "Paolo" in martin.text


# Never a 500 ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
turn_bodies = st.fixed_dictionaries(
    {},
    optional={
        "conversation": st.none() | st.text(max_size=20) | json_values,
        "text": st.text(max_size=60) | json_values,
        "button": st.text(max_size=70) | json_values,
        "extra": json_values,
    },
)
raw_bodies = st.one_of(
    turn_bodies.map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=raw_bodies)
async def test_no_body_crashes_the_server(client: TestClient, body: bytes) -> None:
    response = await client.post("/api/chat/turn", data=body)
    assert response.status in {200, 400, 404, 413, 429}, (body, await response.text())
    assert response.content_type == "application/json"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text(max_size=80), press=st.booleans())
async def test_no_text_typed_by_a_logged_in_parent_crashes_the_server(
    parent_at_calendar: Chat, text: str, press: bool
) -> None:
    """Free text (or a random payload) at whatever step the previous examples led to."""
    field = "button" if press and text else "text"
    response = await parent_at_calendar.client.post(
        "/api/chat/turn", json={"conversation": parent_at_calendar.token, field: text}
    )
    assert response.status in {200, 400}, (text, await response.text())


@pytest.fixture
async def parent_at_calendar(make_client: MakeClient, town: Town) -> Chat:
    """DUPONT's canteen calendar, with no rate limit in the way of a hundred turns."""
    chat = Chat(await make_client(Settings(chat_burst=10_000)))
    await chat.log_in(town.dupont_login)
    await chat.press("Réserver")
    await chat.press("Cantine")
    return chat


# Health -----------------------------------------------------------------------------------


async def test_healthz_answers_ok(client: TestClient, clock: FrozenClock) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {
        "status": "ok",
        "now": clock.now().isoformat(),
        "outbox": {},  # notifications per state, for the operator's monitoring
    }


async def test_an_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"
    response = await client.get("/api/chat/turn")
    assert response.status == 405
    assert response.content_type == "application/json"

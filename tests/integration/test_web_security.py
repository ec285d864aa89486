"""The web chat's sessions and transport: tokens out of URLs, idle logout, Origin, headers,
client addresses behind a proxy, caps on open sockets."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient

from booking.clock import FrozenClock
from booking.db import Database
from booking.services.conversations import find_conversation
from bot.settings import Settings, trusted_proxies
from bot.web.chat_api import COOKIE, conversation_key
from tests.integration import test_chat_api as chat_api
from tests.integration.test_chat_api import Chat, MakeClient, Town, open_socket

town = chat_api.town
make_client = chat_api.make_client
client = chat_api.client

STATIC = Path(__file__).parents[2] / "bot" / "web" / "static"
PUBLIC = "https://ribambelle.example.fr"


def settings(**values: object) -> Settings:
    return Settings(database_url="sqlite://unused", **values)  # type: ignore[arg-type]


# Tokens never travel in URLs ------------------------------------------------------------


async def test_a_token_in_the_inbox_url_opens_no_conversation(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    chat = Chat(client)
    await chat.start()
    response = await client.get("/api/chat/inbox", params={"conversation": chat.token})
    assert response.status == 404
    response = await client.get("/api/chat/inbox", cookies={COOKIE: chat.token})
    assert response.status == 200


async def test_a_token_in_the_websocket_url_opens_no_conversation(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    chat = Chat(client)
    await chat.start()
    socket = await client.ws_connect(f"/api/chat/ws?conversation={chat.token}")
    try:
        await socket.send_json({"text": ""})
        assert (await socket.receive_json(timeout=5))["error"] == "unknown_conversation"
    finally:
        await socket.close()


async def test_a_socket_names_its_conversation_in_its_first_frame(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(cookies=False)
    chat = Chat(client)
    await chat.start()
    socket = await client.ws_connect("/api/chat/ws")
    try:
        await socket.send_json({"conversation": chat.token, "text": "aide"})
        reply = await socket.receive_json(timeout=5)
        assert "error" not in reply and reply["text"]
    finally:
        await socket.close()


async def test_the_access_log_never_holds_a_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = "Zx" * 20
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        await client.get("/api/chat/inbox", params={"conversation": token, "after": "0"})
        await client.get(f"/api/chat/ws?after=1&conversation={token}")
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("/api/chat/inbox" in line for line in logged)
    assert not any(token in line for line in logged)


# Idle logout ----------------------------------------------------------------------------


async def logged_in_household(database: Database, chat: Chat) -> int | None:
    async with database.reading() as db:
        conversation = await find_conversation(db, "web", conversation_key(chat.token or ""))
        assert conversation is not None
        return conversation.household_id


async def test_a_logged_in_conversation_idle_past_its_days_is_logged_out_at_its_next_turn(
    make_client: MakeClient, town: Town, sqlite_database: Database, clock: FrozenClock
) -> None:
    client = await make_client(settings(chat_idle_days=30))
    chat = Chat(client)
    await chat.log_in(town.dupont_login)
    clock.advance(timedelta(days=29))
    await chat.say("aide")
    assert await logged_in_household(sqlite_database, chat) is not None
    clock.advance(timedelta(days=30, minutes=1))
    messages = await chat.say("aide")
    assert await logged_in_household(sqlite_database, chat) is None
    assert messages[0]["history_start"] is True, "the page drops the household's messages"
    assert "Bonjour Jean" not in chat.text


# Origin and headers ---------------------------------------------------------------------


async def test_a_websocket_from_another_sites_page_is_refused(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(settings(public_url=PUBLIC, public_url_given=True))
    chat = Chat(client)
    await chat.start()
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/chat/ws", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    socket = await client.ws_connect("/api/chat/ws", headers={"Origin": PUBLIC})
    await socket.close()


async def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/static/chat.js", "/api/chat/inbox", "/no-such-page"):
        response = await client.get(path)
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert "script-src 'self';" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert headers["X-Content-Type-Options"] == "nosniff", path


def test_the_chat_page_needs_no_inline_script() -> None:
    page = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+=", page), "inline event handlers are scripts too"


# Client addresses behind a proxy --------------------------------------------------------


async def new_conversation(client: TestClient, forwarded: str) -> int:
    response = await client.post(
        "/api/chat/turn",
        json={"conversation": None, "text": ""},
        headers={"X-Forwarded-For": forwarded},
    )
    return response.status


async def test_behind_a_trusted_proxy_new_conversations_are_limited_per_real_client(
    make_client: MakeClient, town: Town
) -> None:
    proxied = settings(new_chats_per_minute=4, trusted_proxies=trusted_proxies("127.0.0.1"))
    client = await make_client(proxied, cookies=False)
    assert await new_conversation(client, "203.0.113.7") == 200
    assert await new_conversation(client, "203.0.113.7") == 429
    assert await new_conversation(client, "spoofed, 198.51.100.9") == 200  # another parent


async def test_an_untrusted_peer_cannot_choose_its_address(
    make_client: MakeClient, town: Town
) -> None:
    client = await make_client(settings(new_chats_per_minute=4), cookies=False)
    assert await new_conversation(client, "203.0.113.7") == 200
    assert await new_conversation(client, "198.51.100.9") == 429


def test_a_mistyped_trusted_proxy_is_an_error_at_start_up() -> None:
    assert trusted_proxies(" 10.0.0.1, ::1 ,") == {"10.0.0.1", "::1"}
    with pytest.raises(ValueError):
        trusted_proxies("10.0.0.300")


# Caps on open sockets -------------------------------------------------------------------


async def test_sockets_are_capped_per_conversation(make_client: MakeClient, town: Town) -> None:
    client = await make_client(settings(sockets_per_conversation=2))
    chat = Chat(client)
    await chat.start()
    sockets = [await open_socket(client, chat.token) for _ in range(2)]
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/chat/ws")  # the cookie names the conversation
    assert refused.value.status == 429
    for socket in sockets:
        await socket.close()
    again = await open_socket(client, chat.token)  # closed ones no longer count
    await again.close()


async def test_sockets_are_capped_per_client_address(make_client: MakeClient, town: Town) -> None:
    client = await make_client(settings(sockets_per_address=2), cookies=False)
    chats = [Chat(client) for _ in range(3)]
    for chat in chats:
        await chat.start()
    sockets = [await open_socket(client, chat.token) for chat in chats[:2]]
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/chat/ws")
    assert refused.value.status == 429
    for socket in sockets:
        await socket.close()
    frame_socket = await open_socket(client, chats[2].token)
    await frame_socket.send_json({"text": "aide"})
    assert (await frame_socket.receive(timeout=5)).type is WSMsgType.TEXT
    await frame_socket.close()

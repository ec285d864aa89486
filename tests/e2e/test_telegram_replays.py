"""Telegram updates are processed once: a webhook call retried after a timeout, the same update
reaching two processes or fetched again by a poller, is answered and acted on once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from booking.clock import FrozenClock
from booking.db import Database
from booking.models import Conversation, Guardian, LoginThrottle, TelegramUpdate
from bot.settings import Settings
from bot.telegram.channel import SECRET_HEADER
from bot.telegram.setup import TELEGRAM
from tests.e2e import test_telegram as harness
from tests.e2e.test_telegram import MARIE, Telegram, Town, running, texts
from tests.fake_telegram import FakeTelegram

database = harness.database
town = harness.town
fake = harness.fake
settings = harness.settings
app = harness.app
telegram = harness.telegram

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@asynccontextmanager
async def webhook_process(
    settings: Settings, database: Database, clock: FrozenClock
) -> AsyncIterator[tuple[web.Application, str]]:
    """A server process in webhook mode; yields its app and its webhook URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/telegram/webhook"
    async with running(replace(settings, telegram_webhook_url=url), database, clock, sock) as app:
        yield app, url


async def post(http: aiohttp.ClientSession, url: str, update: dict[str, Any], secret: str) -> int:
    async with http.post(url, json=update, headers={SECRET_HEADER: secret}) as response:
        return response.status


async def conversation_version(database: Database) -> int | None:
    async with database.reading() as db:
        return await db.scalar(
            select(Conversation.version).where(
                Conversation.channel == "telegram", Conversation.key == str(MARIE)
            )
        )


async def test_a_webhook_update_posted_twice_is_answered_once(
    settings: Settings, database: Database, clock: FrozenClock, fake: FakeTelegram, town: Town
) -> None:
    async with webhook_process(settings, database, clock) as (app, url):
        secret = fake.webhook["secret_token"]
        update = fake.inject_text(MARIE, "/start", queue=False)
        async with aiohttp.ClientSession() as http:
            # Telegram retries a call it saw no answer to in time: the same update again.
            assert [await post(http, url, update, secret) for _ in range(2)] == [200, 200]
        await app[TELEGRAM].idle()

    welcome = fake.sent_to(MARIE)
    assert len(welcome) == 1 and "Ribambelle" in welcome[0]["text"]
    assert await conversation_version(database) == 1  # one turn ran


async def test_the_same_wrong_password_reaching_two_processes_counts_once(
    settings: Settings,
    sqlite_url: str,
    database: Database,
    clock: FrozenClock,
    fake: FakeTelegram,
    town: Town,
) -> None:
    other_database = Database.from_url(sqlite_url)  # the second process's own engine
    try:
        async with AsyncExitStack() as stack:
            first, first_url = await stack.enter_async_context(
                webhook_process(settings, database, clock)
            )
            second, second_url = await stack.enter_async_context(
                webhook_process(settings, other_database, clock)
            )
            http = await stack.enter_async_context(aiohttp.ClientSession())
            secret = fake.webhook["secret_token"]
            for text in ("connexion", town.login):
                update = fake.inject_text(MARIE, text, queue=False)
                assert await post(http, first_url, update, secret) == 200
            await first[TELEGRAM].idle()
            before = len(fake.sent_to(MARIE))

            wrong = fake.inject_text(MARIE, "devine-1234", queue=False)
            statuses = await asyncio.gather(
                post(http, first_url, wrong, secret), post(http, second_url, wrong, secret)
            )
            assert statuses == [200, 200]
            await first[TELEGRAM].idle()
            await second[TELEGRAM].idle()
    finally:
        await other_database.dispose()

    answers = texts(fake.sent_to(MARIE)[before:])
    assert "Il vous reste 4 essais" in answers
    # Run twice, the second turn would read the password as the next login ("Votre mot de
    # passe ?") after the first one's refusal.
    assert "Votre mot de passe" not in answers, answers
    assert await conversation_version(database) == 3  # connexion, the login, the password
    async with database.reading() as db:
        guardian = await db.scalar(select(Guardian).where(Guardian.login == town.login))
        assert guardian.failed_logins == 1
        chat = await db.get(LoginThrottle, f"telegram:{MARIE}")
        assert chat is not None and chat.failures == 1  # the chat stands in for an address
        assert await db.scalar(select(func.count()).select_from(TelegramUpdate)) == 3


async def test_an_update_a_poller_fetches_again_is_answered_once(
    telegram: Telegram, fake: FakeTelegram, database: Database
) -> None:
    def delivered_twice() -> dict[str, Any]:
        # Fetched again, as after a poller that stopped before confirming it: in one batch.
        update = fake.inject_text(MARIE, "/start")
        fake.updates.append(dict(update))
        return update

    calls = await telegram._processed(MARIE, delivered_twice)

    assert len([c for c in calls if c.method == "sendMessage" and c.ok]) == 1
    assert await conversation_version(database) == 1

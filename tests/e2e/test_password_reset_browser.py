"""A forgotten password in real headless Chromium on a phone-sized screen, end to end.

The parent asks for a reset in the web chat, the outbox mails the link through a real SMTP
server (aiosmtpd), the link's page takes the new password twice, and the web chat logs in
with it.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from booking.clock import FrozenClock
from booking.db import Database
from booking.demo import load_demo
from booking.migrate import upgrade
from bot.app import build_app
from bot.settings import Settings
from bot.web.keys import OUTBOX
from tests.e2e.test_webchat_browser import PHONE, TIMEOUT_MS, Chat
from tests.integration.test_email import body
from tests.smtp_server import SmtpServer, smtp_server

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = pytest.mark.browser

NEW_PASSWORD = "nouveau-secret-42"
DUPONT_ADDRESS = "jean-paul.dupont@example.org"  # the demo's address for dupont


@dataclass(frozen=True)
class Server:
    url: str
    app: web.Application
    smtp: SmtpServer


@pytest.fixture
async def mailing_server(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Server]:
    """The demo town on a real port that is its public URL (the mailed link points there),
    mailing through a local SMTP server."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ribambelle.db'}"
    upgrade(url)
    database = Database.from_url(url)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listening.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{listening.getsockname()[1]}"
        assert await load_demo(database, clock.now())
        async with smtp_server() as smtp:
            settings = Settings(database_url=url, public_url=base, smtp_url=smtp.url)
            app = build_app(settings, database=database, clock=clock, run_scheduler=False)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                await web.SockSite(runner, listening).start()
                yield Server(base, app, smtp)
            finally:
                await runner.cleanup()
    finally:
        listening.close()
        await database.dispose()


async def test_a_parent_resets_the_password_from_the_mailed_link_and_logs_in_with_it(
    chromium: Browser, mailing_server: Server
) -> None:
    from playwright.async_api import expect

    context = await chromium.new_context(
        viewport=PHONE,
        screen=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="fr-FR",
        timezone_id="Europe/Paris",
        reduced_motion="reduce",
    )
    context.set_default_timeout(TIMEOUT_MS)
    page_errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        await page.goto(mailing_server.url + "/")
        chat = Chat(page)

        # "Se connecter", then "Mot de passe oublié", then the login.
        message = await chat.answer(-1)
        message = await chat.tap(message, "Se connecter")
        message = await chat.tap(message, "Mot de passe oublié")
        await expect(message).to_contain_text("identifiant ou l'adresse e-mail")
        message = await chat.say("dupont")
        await expect(message).to_contain_text("Si ce compte existe, un e-mail vient d'être envoyé")

        # The worker mails the link; the parent opens it on the phone.
        while await mailing_server.app[OUTBOX].run_once():
            pass
        (received,) = [
            mail
            for mail in mailing_server.smtp.received
            if mail.message["Subject"] == "Choisir un nouveau mot de passe"
        ]
        assert received.rcpt_tos == [DUPONT_ADDRESS]
        link = re.search(
            re.escape(mailing_server.url) + r"/mot-de-passe/[A-Za-z0-9_-]+",
            body(received.message, "text/plain"),
        ).group(0)
        reset = await context.new_page()
        reset.on("pageerror", lambda error: page_errors.append(str(error)))
        await reset.goto(link)
        await expect(reset.get_by_role("heading")).to_have_text("Choisir un nouveau mot de passe")
        await expect(reset.locator("main")).to_contain_text("Identifiant : dupont")

        # A weak password first: the rule is shown, the form kept.
        await reset.get_by_label("Nouveau mot de passe").fill("court")
        await reset.get_by_label("Le même, une seconde fois").fill("court")
        await reset.get_by_role("button", name="Changer le mot de passe").tap()
        await expect(reset.get_by_role("alert")).to_contain_text("au moins 10 caractères")
        await reset.get_by_label("Nouveau mot de passe").fill(NEW_PASSWORD)
        await reset.get_by_label("Le même, une seconde fois").fill(NEW_PASSWORD)
        await reset.get_by_role("button", name="Changer le mot de passe").tap()
        await expect(reset.get_by_role("heading")).to_have_text("Mot de passe changé")
        await expect(reset.locator("main")).to_contain_text("Retournez au chat")

        # The link served once.
        again = await context.new_page()
        response = await again.goto(link)
        assert response is not None and response.status == 410
        await expect(again.get_by_role("heading")).to_have_text("Lien expiré ou déjà utilisé")
        await again.close()

        # Back to the chat, which logs in with the new password.
        await reset.get_by_role("link", name="Revenir à la conversation").tap()
        await reset.wait_for_url(mailing_server.url + "/")
        chat = Chat(reset)
        message = await chat.answer(-1)
        message = await chat.tap(message, "Se connecter")
        message = await chat.say("dupont")
        await expect(chat.input).to_have_attribute("type", "password")
        await chat.say(NEW_PASSWORD)
        await expect(chat.log).to_contain_text("Bonjour Jean-Paul")
        assert NEW_PASSWORD not in await chat.log.inner_text(), "the password is shown"
        assert page_errors == [], f"JavaScript errors on the pages: {page_errors}"
    finally:
        await context.close()

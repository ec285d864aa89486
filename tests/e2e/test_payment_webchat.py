"""Paying in the web chat, in real headless Chromium on a phone-sized screen, end to end.

A parent books a Wednesday at the leisure centre (paid online, at once), confirms the recap,
taps "Payer …", pays on the sandbox provider's hosted page, and the chat, left open in its
tab, shows the receipt pushed over its WebSocket by the provider's signed notification.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from booking.clock import FrozenClock
from booking.db import Database
from booking.demo import load_demo
from booking.migrate import upgrade
from booking.models import Booking, BookingState, Payment, PaymentState
from bot.app import build_app
from bot.settings import Settings
from tests.e2e.test_webchat_browser import PHONE, TIMEOUT_MS, Chat

if TYPE_CHECKING:
    from playwright.async_api import Browser, WebSocket

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "payment-phone.png"
PAY = re.compile(r"^Payer (\d+,\d{2})\s*€$")
ACTIVITY = "Mercredis loisirs 6-12 ans"


@dataclass(frozen=True)
class Server:
    url: str
    database: Database


@pytest.fixture
async def paying_server(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Server]:
    """The demo town on a real port that the app knows as its public URL.

    The sandbox sends the payer to `public_url` and posts its signed notification there, so
    the port is taken before the app is built.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'ribambelle.db'}"
    upgrade(url)
    database = Database.from_url(url)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listening.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{listening.getsockname()[1]}"
        assert await load_demo(database, clock.now())
        settings = Settings(database_url=url, public_url=base, payment_secret="e2e-sandbox-key")
        app = build_app(settings, database=database, clock=clock, run_scheduler=False)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, listening).start()
            yield Server(base, database)
        finally:
            await runner.cleanup()
    finally:
        listening.close()
        await database.dispose()


async def test_paying_online_confirms_the_booking_and_pushes_the_receipt_into_the_open_chat(
    chromium: Browser,
    paying_server: Server,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from playwright.async_api import expect

    caplog.set_level(logging.WARNING, logger="bot.payments")
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
    pushed: list[str] = []

    def listen(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: pushed.append(str(frame)))

    try:
        page = await context.new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on("websocket", listen)
        await page.goto(paying_server.url + "/")
        chat = Chat(page)

        message = await chat.answer(-1)
        message = await chat.tap(message, "Se connecter")
        message = await chat.say("dupont")
        message = await chat.say("demo-dupont")
        await expect(chat.log).to_contain_text("Bonjour Jean-Paul")

        # Book Léa on the first open Wednesday of the leisure centre (paid online, at once).
        message = await chat.tap(message, re.compile(r"^Réserver$"))
        message = await chat.tap(message, re.compile(r"^Léa\b"))
        message = await chat.tap(message, re.compile(re.escape(ACTIVITY)))
        day = message.locator(".cal button.cal-day[aria-label$=': ouvert']").first
        wednesday = re.sub(r"\s*:\s*ouvert$", "", await day.get_attribute("aria-label"))
        message = await chat.tap_button(message, day)
        message = await chat.tap(message, re.compile(r"^Récapitulatif"))
        await expect(message).to_contain_text(wednesday)
        await chat.tap(message, re.compile(r"^Confirmer$"))

        link = chat.log.locator("a.link-btn").last
        await expect(link).to_have_text(PAY)
        amount = PAY.match((await link.inner_text()).strip()).group(1)
        pay_button = re.compile(rf"^Payer {amount}\s*€$")
        await expect(chat.log).to_contain_text("À payer en ligne")
        marker = await page.evaluate("() => (window.__stillTheSamePage = Math.random())")

        # The payment opens in its own tab: the chat stays open to hear the result.
        assert await link.get_attribute("target") == "_blank", "the chat would be left"
        async with context.expect_page() as opened:
            await link.tap()
        payer = await opened.value
        await payer.wait_for_load_state()
        await expect(payer.locator("body")).to_contain_text(wednesday)
        await payer.get_by_role("button", name=pay_button).tap()

        # The sandbox's hosted page, its test card filled in.
        await payer.wait_for_url(re.compile(r"/sandbox/pay/"))
        await expect(payer.locator(".amount")).to_contain_text(re.compile(rf"{amount}\s*€"))
        await expect(payer.locator("input[name=card]")).to_have_value("4242424242424242")
        await payer.get_by_role("button", name=pay_button).tap()

        # Back on our return page.
        await payer.wait_for_url(re.compile(r"/pay/[^/]+/done$"))
        await expect(payer.get_by_role("heading")).to_have_text("Paiement accepté")
        receipt = re.search(r"Reçu n° (\S+)", await payer.locator("body").inner_text()).group(1)

        # The chat, untouched since, shows the receipt by itself.
        await page.bring_to_front()
        notice = chat.log.locator(".msg-bot").filter(has_text=f"Reçu n° {receipt}")
        await expect(notice).to_contain_text("Paiement reçu, merci !")
        await expect(notice).to_contain_text(re.compile(rf"{ACTIVITY}.*{wednesday}"))
        await expect(notice).to_contain_text(re.compile(rf"Total payé\s*:\s*{amount}\s*€"))
        assert await page.evaluate("() => window.__stillTheSamePage") == marker
        assert any("Paiement reçu" in (json.loads(frame).get("text") or "") for frame in pushed), (
            "the receipt did not come over the WebSocket"
        )
        await notice.scroll_into_view_if_needed()
        await chat.assert_fits_phone()
        await page.screenshot(path=str(SCREENSHOT))

        async with paying_server.database.reading() as db:
            payment = await db.scalar(select(Payment).where(Payment.receipt_number == receipt))
            bookings = (
                await db.scalars(
                    select(Booking)
                    .where(Booking.basket_id == payment.basket_id)
                    .options(joinedload(Booking.participant))
                )
            ).all()
        assert payment.state is PaymentState.PAID
        assert payment.details["ticket"]["source"] == "notification:sandbox"
        assert [(b.participant.first_name, b.state) for b in bookings] == [
            ("Léa", BookingState.CONFIRMED)
        ]
        assert caplog.records == [], "the payment path logged warnings"
        assert page_errors == [], f"JavaScript errors on the page: {page_errors}"
    finally:
        await context.close()

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


PAY_PAGE = {"width": 390, "height": 844}
PAY_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "pay-page-phone.png"
RETRY_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "pay-retry-phone.png"

# Contrast of the text and background colours of an element (WCAG's formula), and its size.
LOOK = """(element) => {
  const rgb = (text) => text.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let node = element, bg = 'rgba(0, 0, 0, 0)';
  while (node && /rgba\\(0, 0, 0, 0\\)|transparent/.test(bg)) { bg = getComputedStyle(node).backgroundColor; node = node.parentElement; }
  const fg = lum(rgb(getComputedStyle(element).color)), back = lum(rgb(bg));
  const box = element.getBoundingClientRect();
  return {contrast: (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05), height: box.height, width: box.width};
}"""


async def chat_turn(session, url: str, body: dict) -> dict:  # noqa: ANN001
    async with session.post(url + "/api/chat/turn", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def booked_by_chat(url: str) -> str:
    """DUPONT books Léa on two Wednesdays in the chat's API and confirms; the payment link."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        reply = await chat_turn(session, url, {"conversation": None, "text": "connexion"})
        token = reply["conversation"]
        for text in (
            "dupont",
            "demo-dupont",
            "inscris Léa aux mercredis loisirs les 10 et 17 mars",
        ):
            reply = await chat_turn(session, url, {"conversation": token, "text": text})
        (confirm,) = [
            button["payload"]
            for message in reply["messages"]
            for row in message["buttons"]
            for button in row
            if button["label"] == "Confirmer"
        ]
        reply = await chat_turn(session, url, {"conversation": token, "button": confirm})
    (link,) = [message["link"] for message in reply["messages"] if message["link"]]
    return link["url"]


async def test_the_pay_page_looks_like_the_chat_on_a_phone_and_a_refused_card_is_retried(
    chromium: Browser, paying_server: Server
) -> None:
    from playwright.async_api import expect

    link = await booked_by_chat(paying_server.url)
    context = await chromium.new_context(
        viewport=PAY_PAGE,
        screen=PAY_PAGE,
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
        payer = await context.new_page()
        payer.on("pageerror", lambda error: page_errors.append(str(error)))
        await payer.goto(link)

        # The town, the items, the total and a way back, at a phone's width.
        await expect(payer.locator(".bar .town")).to_have_text("Ville de Ribambelle (démo)")
        await expect(payer.get_by_role("heading", level=1)).to_have_text("Votre paiement")
        items = payer.locator(".items li")
        await expect(items).to_have_count(2)
        await expect(items.first).to_contain_text(f"Léa — {ACTIVITY} — mercredi 10 mars")
        await expect(payer.locator(".total")).to_have_text(re.compile(r"Total : 20,00\s€"))
        pay = payer.get_by_role("button", name=re.compile(r"^Payer 20,00\s€$"))
        back = payer.get_by_role("link", name="Revenir à la conversation")
        for control in (pay, back):
            await expect(control).to_be_in_viewport()
            look = await control.evaluate(LOOK)
            assert look["height"] >= 48 and look["width"] >= 300, look  # large tap targets
            assert look["contrast"] >= 4.5, look  # WCAG AA for text
        assert await back.get_attribute("href") == "/"
        overflow = await payer.evaluate(
            "() => document.documentElement.scrollWidth > window.innerWidth"
        )
        assert overflow is False, "the pay page scrolls sideways on a phone"
        sheet = await payer.evaluate(
            "() => [...document.styleSheets].map((s) => s.href).filter(Boolean)"
        )
        assert sheet == [paying_server.url + "/pages.css"]
        await payer.screenshot(path=str(PAY_SCREENSHOT), full_page=True)

        # A refused card: the places wait, "Réessayer le paiement" pays the same places.
        await pay.tap()
        await payer.wait_for_url(re.compile(r"/sandbox/pay/"))
        await payer.locator("input[name=card]").fill("4000000000000002")
        await payer.get_by_role("button", name=re.compile(r"^Payer")).tap()
        await payer.wait_for_url(re.compile(r"/pay/[^/]+/done$"))
        await expect(payer.get_by_role("heading", level=1)).to_have_text("Paiement refusé")
        await expect(payer.locator("body")).to_contain_text("Les places restent gardées")
        retry = payer.get_by_role("link", name=re.compile(r"^Réessayer le paiement"))
        await expect(retry).to_be_in_viewport()
        await payer.screenshot(path=str(RETRY_SCREENSHOT), full_page=True)
        await retry.tap()
        await expect(payer.get_by_role("heading", level=1)).to_have_text("Nouvel essai de paiement")
        await expect(payer.locator(".items li")).to_have_count(2)
        await payer.get_by_role("button", name=re.compile(r"^Payer 20,00\s€$")).tap()
        await payer.wait_for_url(re.compile(r"/sandbox/pay/"))
        await payer.get_by_role("button", name=re.compile(r"^Payer")).tap()
        await payer.wait_for_url(re.compile(r"/pay/[^/]+/done$"))
        await expect(payer.get_by_role("heading", level=1)).to_have_text("Paiement accepté")

        async with paying_server.database.reading() as db:
            paid = await db.scalar(
                select(Payment)
                .where(Payment.state == PaymentState.PAID)
                .order_by(Payment.id.desc())
                .limit(1)
            )
            states = (
                await db.scalars(
                    select(Booking.state).where(Booking.id.in_(paid.details["booking_ids"]))
                )
            ).all()
        assert paid.details.get("retry_of") is not None
        assert list(states) == [BookingState.CONFIRMED] * 2
        assert page_errors == []
    finally:
        await context.close()

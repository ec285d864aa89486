"""The web chat in real headless Chromium, on a phone-sized screen, against the real app.

A parent logs in, books two school-meal days for Léa by tapping the calendar, checks the
recap, confirms, then cancels one of the two days by typing.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, Locator, Page

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "webchat-phone.png"
PHONE = {"width": 360, "height": 740}
TIMEOUT_MS = 10_000

# The newest bot message that has working controls and is newer than `after`; its id.
NEWEST_ACTIVE = """(after) => {
  const all = document.querySelectorAll('#log .msg-bot.has-controls[data-id]');
  const msg = all[all.length - 1];
  if (!msg || Number(msg.dataset.id) <= after || msg.classList.contains('is-pending')) return false;
  if (msg.querySelector('button[data-payload]:disabled')) return false;
  return msg.dataset.id;
}"""

LAST_BOT_ID = """() => Math.max(-1, ...Array.from(
  document.querySelectorAll('#log .msg-bot[data-id]'), (node) => Number(node.dataset.id)))"""

# Anything wider than the screen: the page itself, or an element poking out to the right.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width) out.push('html ' + document.documentElement.scrollWidth);
  if (document.body.scrollWidth > width) out.push('body ' + document.body.scrollWidth);
  for (const node of document.querySelectorAll('#app *')) {
    const box = node.getBoundingClientRect();
    if (box.width > 1 && (box.right > width + 0.5 || box.left < -0.5)) {
      out.push(node.tagName.toLowerCase() + '.' + node.className + ' ' + Math.round(box.left) + '..' + Math.round(box.right));
    }
  }
  return out;
}"""

PRICE = re.compile(r"(\d+,\d{2})\s*€")


def euros(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


class Chat:
    """The chat page as a parent uses it: tap a button or type, then wait for the answer."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.log = page.locator("#log")
        self.input = page.locator("#input")

    async def answer(self, after: int) -> Locator:
        """The bot's next message with buttons (or a calendar), once it is usable."""
        handle = await self.page.wait_for_function(NEWEST_ACTIVE, arg=after, timeout=TIMEOUT_MS)
        message_id = await handle.json_value()
        return self.page.locator(f'#log .msg-bot[data-id="{message_id}"]')

    async def tap(self, message: Locator, name: str | re.Pattern[str]) -> Locator:
        after = int(await message.get_attribute("data-id"))
        await message.get_by_role("button", name=name).tap()
        return await self.answer(after)

    async def tap_button(self, message: Locator, button: Locator) -> Locator:
        after = int(await message.get_attribute("data-id"))
        await button.tap()
        return await self.answer(after)

    async def say(self, text: str) -> Locator:
        after = await self.page.evaluate(LAST_BOT_ID)
        await self.input.tap()
        await self.input.fill(text)
        await self.input.press("Enter")
        return await self.answer(after)

    async def assert_fits_phone(self) -> None:
        overflow = await self.page.evaluate(OVERFLOW)
        assert overflow == [], f"horizontal overflow at {PHONE['width']} px: {overflow[:5]}"


async def test_book_two_school_meals_by_tapping_then_cancel_one_by_typing(
    chromium: Browser,
    demo_server: str,
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
    page_errors: list[str] = []
    try:
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        await page.goto(demo_server + "/")
        chat = Chat(page)

        # The log is a live region: a screen reader reads new messages.
        assert await chat.log.get_attribute("role") == "log"
        assert await chat.log.get_attribute("aria-live") in {"polite", "assertive"}

        # Log in by tapping "Se connecter" and typing the login and the password.
        message = await chat.answer(-1)
        message = await chat.tap(message, "Se connecter")
        message = await chat.say("dupont")
        await expect(chat.input).to_have_attribute("type", "password")
        message = await chat.say("demo-dupont")
        await expect(chat.log).to_contain_text("Bonjour Jean-Paul")
        assert "demo-dupont" not in await chat.log.inner_text(), "the password is shown"

        # Book: Léa, the school meals, two open days tapped on the calendar.
        message = await chat.tap(message, re.compile(r"^Réserver$"))
        message = await chat.tap(message, re.compile(r"^Léa\b"))
        message = await chat.tap(message, re.compile(r"Restaurant scolaire|cantine", re.I))
        booked: list[str] = []
        for _ in range(2):
            calendar = message.locator(".cal")
            await expect(calendar).to_be_visible()
            day = calendar.locator("button.cal-day[aria-label$=': ouvert']").first
            label = await day.get_attribute("aria-label")
            booked.append(re.sub(r"\s*:\s*ouvert$", "", label))
            message = await chat.tap_button(message, day)
        for day in booked:
            await expect(chat.log).to_contain_text(day)
            in_basket = message.locator(f'button.cal-day[aria-label^="{day} :"]')
            await expect(in_basket).to_have_class(re.compile(r"\bstate-in_basket\b"))
        await chat.assert_fits_phone()
        await page.screenshot(path=str(SCREENSHOT))

        # The recap lists both days with their price, and the total.
        message = await chat.tap(message, re.compile(r"^Récapitulatif"))
        recap = await message.locator(".bubble").inner_text()
        prices = []
        for day in booked:
            line = next((line for line in recap.splitlines() if day in line), None)
            assert line is not None, f"{day} is not in the recap:\n{recap}"
            price = PRICE.search(line)
            assert price is not None, f"no price for {day} in the recap:\n{recap}"
            prices.append(euros(price.group(1)))
        total = re.search(r"Total\s*:\s*(\d+,\d{2})\s*€", recap)
        assert total is not None, f"no total in the recap:\n{recap}"
        assert euros(total.group(1)) == sum(prices)
        assert all(price > 0 for price in prices)

        message = await chat.tap(message, re.compile(r"^Confirmer$"))
        for day in booked:
            await expect(chat.log).to_contain_text(re.compile(rf"{day}\s*:\s*confirmé"))

        # Cancel the second day by typing, in French.
        cancelled = booked[1]
        message = await chat.say(f"annule la cantine de Léa le {cancelled}")
        await expect(message).to_contain_text(cancelled)
        message = await chat.tap(message, re.compile(r"^Confirmer$"))
        await expect(chat.log).to_contain_text(re.compile(rf"{cancelled}\s*:\s*annulé"))
        await expect(message.get_by_role("button", name="Réserver", exact=True)).to_be_enabled()

        await chat.assert_fits_phone()
        assert page_errors == [], f"JavaScript errors on the page: {page_errors}"
    finally:
        await context.close()

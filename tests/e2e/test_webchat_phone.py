"""What a parent sees on a phone (390×844, touch) in real headless Chromium, against the real
app on the demo town: every answer's first message in view, one live calendar, every open tab
in step (also across a payment), the history after a reload and nothing of it after a logout,
the terms readable at first login, and the calendar's cancellation states.

Screenshots of each go to docs/phone-*.png.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from sqlalchemy import update

from booking.clock import FrozenClock
from booking.db import Database
from booking.models import Guardian
from bot.app import build_app
from bot.settings import Settings
from tests.conftest import PINNED_NOW
from tests.e2e.test_webchat_browser import LAST_BOT_ID, TIMEOUT_MS, Chat

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Locator

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
PHONE = {"width": 390, "height": 844}
CANTINE = re.compile(r"Restaurant scolaire|cantine", re.I)
OPEN_DAY = ".cal button.cal-day[aria-label$=': ouvert']"
NOT_STALE = "Ce bouton n'est plus valable"

# Where the first bot message newer than `after` sits, against the visible part of the log.
FIRST_NEW = """(after) => {
  const log = document.getElementById('log').getBoundingClientRect();
  const first = Array.from(document.querySelectorAll('#log .msg-bot[data-id]'))
    .find((node) => Number(node.dataset.id) > after);
  if (!first) return null;
  const box = first.getBoundingClientRect();
  return {top: box.top, bottom: box.bottom, logTop: log.top, logBottom: log.bottom,
          text: first.innerText.slice(0, 300)};
}"""


@dataclass(frozen=True)
class Server:
    url: str
    database: Database


@pytest.fixture
async def phone_server(
    tmp_path: Path, clock: FrozenClock, demo_file: bytes
) -> AsyncIterator[Server]:
    """The demo town on a real port that the app knows as its public URL (payment links,
    the terms' pages)."""
    assert clock.now() == PINNED_NOW
    path = tmp_path / "ribambelle.db"
    path.write_bytes(demo_file)
    url = f"sqlite+aiosqlite:///{path}"
    database = Database.from_url(url)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listening.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{listening.getsockname()[1]}"
        settings = Settings(database_url=url, public_url=base, payment_secret="e2e-phone-key")
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


@pytest.fixture
async def phone(chromium: Browser, phone_server: Server) -> AsyncIterator[BrowserContext]:
    """A phone: 390×844, touch, French, its own cookies; JavaScript errors fail the test.
    Closed before the server stops."""
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
    errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda e: errors.append(str(e))))
    try:
        yield context
        assert errors == [], f"JavaScript errors on the page: {errors}"
    finally:
        await context.close()


async def open_chat(context: BrowserContext, url: str) -> Chat:
    page = await context.new_page()
    await page.goto(url + "/")
    return Chat(page)


async def log_in(chat: Chat, login: str = "dupont", password: str = "demo-dupont") -> Locator:
    from playwright.async_api import expect

    message = await chat.answer(-1)
    message = await chat.tap(message, "Se connecter")
    message = await chat.say(login)
    message = await chat.say(password)
    await expect(chat.log).to_contain_text(re.compile("Bonjour Jean-Paul|Avant de continuer"))
    return message


async def open_calendar(chat: Chat, message: Locator) -> Locator:
    message = await chat.tap(message, re.compile(r"^Réserver$"))
    message = await chat.tap(message, re.compile(r"^Léa\b"))
    return await chat.tap(message, CANTINE)


async def last_bot_id(chat: Chat) -> int:
    return await chat.page.evaluate(LAST_BOT_ID)


async def assert_first_new_message_in_view(chat: Chat, after: int, what: str) -> str:
    """The answer's first message has its top in the log's visible part, and is either
    whole or at the top."""
    where = await chat.page.evaluate(FIRST_NEW, after)
    assert where is not None, f"{what}: no new message"
    top_in_view = where["logTop"] - 1 <= where["top"] < where["logBottom"] - 20
    whole = where["bottom"] <= where["logBottom"] + 1
    at_top = where["top"] <= where["logTop"] + 24
    assert top_in_view and (whole or at_top), f"{what}: first new message out of view {where}"
    return where["text"]


async def calendars(chat: Chat) -> int:
    return await chat.log.locator(".cal").count()


# 1, 2: the answer's first message in view, one live calendar -------------------------------


async def test_taps_on_the_calendar_leave_one_live_calendar_with_the_outcome_above_it(
    phone: BrowserContext, phone_server: Server
) -> None:
    from playwright.async_api import expect

    chat = await open_chat(phone, phone_server.url)
    message = await open_calendar(chat, await log_in(chat))
    assert await calendars(chat) == 1
    for _ in range(3):
        day = message.locator(OPEN_DAY).first
        label = re.sub(r"\s*:\s*ouvert$", "", await day.get_attribute("aria-label"))
        after = await last_bot_id(chat)
        message = await chat.tap_button(message, day)
        assert await calendars(chat) == 1, "one calendar in the page"
        # "… ajouté au panier." right above the calendar, which shows the day in the basket.
        above = message.locator("xpath=preceding-sibling::div[1]")
        assert "msg-bot" in await above.get_attribute("class")
        assert int(await above.get_attribute("data-id")) > after
        await expect(above).to_contain_text(f"{label} ajouté au panier")
        await expect(message.locator(f'.cal-day[aria-label^="{label} :"]')).to_have_class(
            re.compile(r"\bstate-in_basket\b")
        )
    await chat.assert_fits_phone()
    await chat.page.screenshot(path=str(DOCS / "phone-one-calendar.png"))


async def test_each_answers_first_message_is_in_view(
    phone: BrowserContext, phone_server: Server
) -> None:
    from playwright.async_api import expect

    chat = await open_chat(phone, phone_server.url)
    message = await open_calendar(chat, await log_in(chat))

    # A day tapped: the outcome, then the calendar drawn again below it.
    for _ in range(2):
        day = message.locator(OPEN_DAY).first
        label = re.sub(r"\s*:\s*ouvert$", "", await day.get_attribute("aria-label"))
        after = await last_bot_id(chat)
        message = await chat.tap_button(message, day)
        outcome = await assert_first_new_message_in_view(chat, after, "a day tapped")
        assert f"{label} ajouté au panier" in outcome

    # Typed: words not understood, a day past its booking deadline, an open day. Whatever
    # the answer (the calendar again, a recap), it starts in view and one calendar at most.
    open_label = await message.locator(OPEN_DAY).first.get_attribute("aria-label")
    typed_day = re.sub(r"\s*:\s*ouvert$", "", open_label)
    for typed, expected in [
        ("blablabla", "Je n'ai pas compris"),
        ("lundi 1er mars", "délai"),
        (typed_day, re.compile("Récapitulatif|ajouté au panier")),
    ]:
        message = await calendar_again(chat, message)
        after = await last_bot_id(chat)
        message = await chat.say(typed)
        outcome = await assert_first_new_message_in_view(chat, after, f"typed {typed!r}")
        assert re.search(expected, outcome), (typed, outcome)
        assert await calendars(chat) <= 1, f"one calendar in the page after {typed!r}"
        if typed == "lundi 1er mars":
            await chat.page.screenshot(path=str(DOCS / "phone-first-message.png"))

    # A booked day tapped for cancellation.
    message = await calendar_again(chat, message)
    booked = message.locator(".cal button.cal-day.state-booked").first
    label = re.sub(r"\s*:.*$", "", await booked.get_attribute("aria-label"))
    after = await last_bot_id(chat)
    message = await chat.tap_button(message, booked)
    outcome = await assert_first_new_message_in_view(chat, after, "a booked day tapped")
    assert f"{label} sera annulé" in outcome
    await expect(chat.log).not_to_contain_text(NOT_STALE)
    await chat.assert_fits_phone()


async def calendar_again(chat: Chat, message: Locator) -> Locator:
    """The canteen calendar for Léa, from wherever the conversation is."""
    if await message.locator(".cal").count():
        return message
    message = await chat.tap(message, re.compile(r"^Menu$"))
    return await open_calendar(chat, message)


# 4: history after a reload, nothing of it after a logout -----------------------------------


async def test_a_reload_shows_the_history_and_a_logout_leaves_nothing_of_it(
    phone: BrowserContext, phone_server: Server
) -> None:
    from playwright.async_api import expect

    chat = await open_chat(phone, phone_server.url)
    message = await open_calendar(chat, await log_in(chat))
    day = message.locator(OPEN_DAY).first
    label = re.sub(r"\s*:\s*ouvert$", "", await day.get_attribute("aria-label"))
    message = await chat.tap_button(message, day)
    shown = await chat.log.locator(".msg-bot").count()

    await chat.page.reload()
    await expect(chat.log).to_contain_text("Bonjour Jean-Paul")
    await expect(chat.log).to_contain_text(f"{label} ajouté au panier")
    message = await chat.answer(-1)
    assert await message.locator(".cal").count() == 1
    assert await calendars(chat) == 1
    assert await chat.log.locator(".msg-bot").count() == shown
    outcome = chat.log.locator(".msg-bot").filter(has_text=f"{label} ajouté au panier")
    await expect(outcome).to_be_in_viewport()
    await chat.page.screenshot(path=str(DOCS / "phone-history.png"))

    # The reloaded page's buttons work at once: no "Ce bouton n'est plus valable".
    in_basket = message.locator(f'.cal-day[aria-label^="{label} :"]')
    message = await chat.tap_button(message, in_basket)
    await expect(chat.log).to_contain_text(f"{label} retiré du panier")
    await expect(chat.log).not_to_contain_text(NOT_STALE)

    # Log out: the page drops the household's messages, and a reload brings none back.
    message = await chat.tap(message, re.compile(r"^Menu$"))
    message = await chat.tap(message, re.compile(r"^Se déconnecter$"))
    await expect(chat.log).to_contain_text("Vous êtes déconnecté")
    for _ in range(2):
        text = await chat.log.inner_text()
        for private in ("Jean-Paul", "Léa", label, "Se déconnecter"):
            assert private not in text, f"{private!r} still shown after the logout:\n{text}"
        await chat.page.reload()
        await chat.answer(-1)
        await expect(chat.log).to_contain_text("Vous êtes déconnecté")
    await chat.page.screenshot(path=str(DOCS / "phone-logged-out.png"))


# 3: every tab in step, across a payment ----------------------------------------------------


async def test_two_tabs_stay_in_step_and_the_way_back_from_paying_keeps_the_conversation(
    phone: BrowserContext, phone_server: Server
) -> None:
    from playwright.async_api import expect

    first = await open_chat(phone, phone_server.url)
    message = await log_in(first)
    second = await open_chat(phone, phone_server.url)
    await expect(second.log).to_contain_text("Bonjour Jean-Paul")

    # A tap in the first tab shows in the second, whose buttons follow. (A tab in the
    # background is throttled: the one the parent uses is brought to the front.)
    await first.page.bring_to_front()
    message = await first.tap(message, re.compile(r"^Réserver$"))
    await second.page.bring_to_front()
    await expect(second.log).to_contain_text("Pour qui voulez-vous réserver")
    echoed = await second.answer(int(await message.get_attribute("data-id")) - 1)
    assert await echoed.get_attribute("data-id") == await message.get_attribute("data-id")

    # The second tab goes on; the first follows and its next tap works.
    echoed = await second.tap(echoed, re.compile(r"^Léa\b"))
    await first.page.bring_to_front()
    message = await first.answer(int(await echoed.get_attribute("data-id")) - 1)
    message = await first.tap(message, re.compile(r"Mercredis loisirs 6-12 ans"))
    day = message.locator(OPEN_DAY).first
    message = await first.tap_button(message, day)
    message = await first.tap(message, re.compile(r"^Récapitulatif"))
    await first.tap(message, re.compile(r"^Confirmer$"))
    link = first.log.locator("a.link-btn").last
    await expect(link).to_have_text(re.compile(r"^Payer "))
    await expect(second.log.locator("a.link-btn").last).to_have_text(re.compile(r"^Payer "))

    # Pay in a third tab, then "Revenir à la conversation".
    async with phone.expect_page() as opened:
        await link.tap()
    payer = await opened.value
    await payer.wait_for_load_state()
    await payer.get_by_role("button", name=re.compile(r"^Payer ")).tap()
    await payer.wait_for_url(re.compile(r"/sandbox/pay/"))
    await payer.get_by_role("button", name=re.compile(r"^Payer ")).tap()
    await payer.wait_for_url(re.compile(r"/pay/[^/]+/done$"))
    receipt = re.search(r"Reçu n° (\S+)", await payer.locator("body").inner_text()).group(1)
    await payer.get_by_role("link", name="Revenir à la conversation").tap()
    await payer.wait_for_url(phone_server.url + "/")
    back = Chat(payer)
    await expect(back.log).to_contain_text(f"Reçu n° {receipt}")
    await expect(back.log).to_contain_text("Bonjour Jean-Paul")
    await back.page.screenshot(path=str(DOCS / "phone-back-from-paying.png"))

    # Every tab shows the receipt, and the first tab's next tap works.
    for tab in (second, first):
        await tab.page.bring_to_front()
        await expect(tab.log).to_contain_text(f"Reçu n° {receipt}")
    after = await last_bot_id(first)
    message = await first.answer(-1)
    menu = message.get_by_role("button", name=re.compile(r"^(Menu|Réserver)$")).first
    message = await first.tap_button(message, menu)
    await expect(first.log).not_to_contain_text(NOT_STALE)
    assert int(await message.get_attribute("data-id")) > after
    answered = await message.get_attribute("data-id")
    for tab in (second, back):
        await tab.page.bring_to_front()
        await expect(tab.log.locator(f'.msg-bot[data-id="{answered}"]')).to_have_count(1)


# 5: the terms, readable at first login ----------------------------------------------------


async def test_the_terms_step_opens_the_terms_and_typing_there_keeps_the_login(
    phone: BrowserContext, phone_server: Server
) -> None:
    from playwright.async_api import expect

    async with phone_server.database.writing() as db:
        await db.execute(
            update(Guardian).where(Guardian.login == "dupont").values(terms_accepted_at=None)
        )
    chat = await open_chat(phone, phone_server.url)
    message = await log_in(chat)
    await expect(message).to_contain_text("Avant de continuer")
    read = message.get_by_role("link", name="Lire les conditions d'utilisation")
    await expect(read).to_be_visible()
    await expect(message.get_by_role("link", name=re.compile(r"confidentialite$"))).to_be_visible()
    await chat.page.screenshot(path=str(DOCS / "phone-terms.png"))

    # The terms open in their own tab: the chat stays where it is.
    async with phone.expect_page() as opened:
        await read.tap()
    terms = await opened.value
    await terms.wait_for_load_state()
    await expect(terms.get_by_role("heading", level=1)).to_have_text("Conditions d'utilisation")
    await terms.get_by_role("link", name="Notice de confidentialité").tap()
    await expect(terms.get_by_role("heading", level=1)).to_have_text("Notice de confidentialité")
    await terms.screenshot(path=str(DOCS / "phone-privacy.png"))
    await terms.get_by_role("link", name="English version").tap()
    await expect(terms.get_by_role("heading", level=1)).to_have_text("Privacy notice")
    assert await terms.evaluate("() => document.documentElement.lang") == "en"
    overflow = await terms.evaluate("() => document.documentElement.scrollWidth")
    assert overflow <= PHONE["width"]
    await terms.close()

    # Typing at the terms step asks again, the login kept; then "J'accepte" opens the menu.
    message = await chat.say("réserver la cantine pour Léa")
    await expect(chat.log).to_contain_text("Pour continuer, lisez les textes")
    await expect(message).to_contain_text("Avant de continuer")
    message = await chat.tap(message, "J'accepte")
    await expect(chat.log).to_contain_text("Merci, c'est noté.")
    await expect(message.get_by_role("button", name="Réserver", exact=True)).to_be_enabled()


# 6: the calendar's cancellation states ------------------------------------------------------

LOOK = """(node) => {
  const style = getComputedStyle(node);
  const number = getComputedStyle(node.querySelector('.cal-num'));
  return {bg: style.backgroundColor, line: number.textDecorationLine, tag: node.tagName,
          lock: !!node.querySelector('svg.cal-lock')};
}"""


def is_red(colour: str) -> bool:
    red, green, blue = map(int, re.findall(r"\d+", colour)[:3])
    return red > 150 and green < 80 and blue < 80


async def test_a_booked_day_tapped_turns_red_to_cancel_and_past_its_deadline_is_locked(
    phone: BrowserContext, phone_server: Server, clock: FrozenClock
) -> None:
    """The demo's Léa has the canteen on Monday 8 March."""
    from playwright.async_api import expect

    chat = await open_chat(phone, phone_server.url)
    message = await open_calendar(chat, await log_in(chat))
    monday = '.cal-day[data-date="2027-03-08"]'
    booked = await message.locator(monday).evaluate(LOOK)
    assert (booked["tag"], booked["line"]) == ("BUTTON", "none")

    message = await chat.tap_button(message, message.locator(monday))
    day = message.locator(monday)
    await expect(day).to_have_class(re.compile(r"\bstate-to_cancel\b"))
    to_cancel = await day.evaluate(LOOK)
    assert to_cancel["line"] == "line-through" and is_red(to_cancel["bg"]), to_cancel
    assert to_cancel["bg"] != booked["bg"]
    legend = message.locator(".cal-legend li").filter(has_text="à annuler")
    await expect(legend.locator(".cal-swatch.state-to_cancel")).to_have_count(1)
    await day.scroll_into_view_if_needed()
    await chat.page.screenshot(path=str(DOCS / "phone-cancel-day.png"))

    # Tapped again: booked as before.
    message = await chat.tap_button(message, day)
    await expect(message.locator(monday)).to_have_class(re.compile(r"\bstate-booked\b"))

    # Days later, past the cancellation deadline: drawn with a padlock, not a button.
    clock.advance(days=5)
    message = await chat.tap(message, re.compile(r"^Menu$"))
    message = await open_calendar(chat, message)
    locked = message.locator(monday)
    await expect(locked).to_have_class(re.compile(r"\bstate-locked\b"))
    look = await locked.evaluate(LOOK)
    assert look["tag"] == "SPAN" and look["lock"], look
    legend = message.locator(".cal-legend li").filter(has_text="ne peut plus être annulé")
    await expect(legend.locator(".cal-swatch.state-locked svg.cal-lock")).to_have_count(1)


def calendar_message(message_id: int, states: dict[int, str]) -> dict:
    """A March 2027 calendar message as the engine sends it, days 1–31 in the given states."""
    days = []
    for day in range(1, 32):
        state = states.get(day, "closed")
        tappable = state in ("open", "booked", "in_basket", "to_cancel")
        days.append(
            {
                "day": day,
                "date": f"2027-03-{day:02d}",
                "state": state,
                "label": f"{day} mars : {state}",
                "payload": f"n0nce.{day:x}" if tappable else None,
            }
        )
    weeks = [days[start : start + 7] for start in range(0, 31, 7)]  # 1 March 2027: a Monday
    weeks[-1] += [None] * (7 - len(weeks[-1]))
    legend = [
        ("open", "ouvert"),
        ("booked", "réservé"),
        ("in_basket", "dans le panier"),
        ("to_cancel", "à annuler"),
        ("locked", "réservé, ne peut plus être annulé"),
    ]
    return {
        "id": str(message_id),
        "text": "Léa — Restaurant scolaire (cantine).",
        "buttons": [],
        "link": None,
        "calendar": {
            "title": "mars 2027",
            "weekdays": ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
            "weeks": weeks,
            "prev": None,
            "next": None,
            "legend": [{"state": state, "label": label} for state, label in legend],
        },
        "input": "text",
        "lang": "fr",
    }


async def test_every_day_state_and_its_legend_entry_are_drawn_apart(
    phone: BrowserContext, phone_server: Server
) -> None:
    from playwright.async_api import Route, expect

    states = {2: "locked", 3: "booked", 4: "to_cancel", 8: "open", 9: "in_basket"}

    async def history(route: Route) -> None:
        await route.fulfill(
            content_type="application/json",
            body=json.dumps({"from": "0", "messages": [calendar_message(5, states)]}),
        )

    page = await phone.new_page()
    await page.route("**/api/chat/history*", history)
    await page.goto(phone_server.url + "/")
    cal = page.locator("#log .cal")
    await expect(cal.locator('[data-date="2027-03-04"]')).to_have_class(
        re.compile(r"\bstate-to_cancel\b")
    )
    looks = {
        day: await cal.locator(f'.cal-day[data-date="2027-03-{day:02d}"]').evaluate(LOOK)
        for day in states
    }
    assert len({look["bg"] for look in looks.values()}) == len(states), looks
    assert [day for day, look in looks.items() if look["line"] == "line-through"] == [4]
    assert [day for day, look in looks.items() if look["lock"]] == [2]
    assert looks[2]["tag"] == "SPAN"
    for state, _label in [("to_cancel", ""), ("locked", "")]:
        await expect(cal.locator(f".cal-legend .cal-swatch.state-{state}")).to_have_count(1)
    await expect(cal.locator(".cal-legend .state-locked svg.cal-lock")).to_have_count(1)
    await cal.screenshot(path=str(DOCS / "phone-cancel-states.png"))

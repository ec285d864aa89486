"""The back office in real headless Chromium on the demo town, on a desktop (1280×800) and
at the canteen's door on a tablet (768×1024): the agent marks tomorrow's lunch, a manager
validates Zoé's dossier and her mother books in the chat, a session is cancelled and the
families read why, February is invoiced and an invoice opens as a PDF.

The clock is pinned to Monday 1 March 2027, 09:00 (the demo's canteen families eat there every
school day since 1 February); screenshots go to docs/staff-*.png.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from sqlalchemy import func, select

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.demo import CANTEEN_FAMILIES, STAFF_PASSWORD
from booking.models import (
    Activity,
    Attendance,
    AttendanceStatus,
    Booking,
    BookingState,
    Household,
    Invoice,
    NoticeKind,
    OutboxMessage,
    Participant,
    Session,
)
from bot.app import build_app
from bot.notify.worker import OutboxWorker
from bot.settings import Settings
from bot.web.keys import OUTBOX
from tests.conftest import PINNED_NOW
from tests.e2e.test_webchat_browser import LAST_BOT_ID, Chat

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000
EXPECT_DEFAULT_MS = 5_000  # Playwright's, put back after each test
TOMORROW = date(2027, 3, 2)  # the pinned Monday's next school day: the canteen is on
THURSDAY = date(2027, 3, 4)
TUESDAY_LUNCH = datetime(2027, 3, 2, 11, 45, tzinfo=PARIS)  # at the canteen's door
CANTEEN = "Restaurant scolaire"
STRIKE = "Grève du personnel de cuisine"

# How far the page is wider than the window (a tablet must not scroll sideways).
OVERFLOW = """() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)
  - window.innerWidth"""


@dataclass(frozen=True)
class Town:
    """The demo town served on a real port. The scheduler is off: `deliver` is the outbox
    worker's next tick, run until nothing is due."""

    url: str
    database: Database
    outbox: OutboxWorker

    async def deliver(self) -> None:
        while await self.outbox.run_once():
            pass


@pytest.fixture
async def town(tmp_path: Path, clock: FrozenClock, demo_file: bytes) -> AsyncIterator[Town]:
    """The demo town on 127.0.0.1, the app knowing its own address (the chat's socket checks
    the page's origin against it)."""
    assert clock.now() == PINNED_NOW
    path = tmp_path / "ribambelle.db"
    path.write_bytes(demo_file)
    url = f"sqlite+aiosqlite:///{path}"
    database = Database.from_url(url)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listening.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{listening.getsockname()[1]}"
        settings = Settings(database_url=url, public_url=base, payment_secret="e2e-staff-key")
        app = build_app(settings, database=database, clock=clock, run_scheduler=False)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, listening).start()
            yield Town(base, database, app[OUTBOX])
        finally:
            await runner.cleanup()
    finally:
        listening.close()
        await database.dispose()


Contexts = Callable[..., Awaitable["BrowserContext"]]


@pytest.fixture
async def browser_context(chromium: Browser) -> AsyncIterator[Contexts]:
    """Opens French browser contexts of a given size; JavaScript errors in any page fail the
    test. Closed before the server stops."""
    from playwright.async_api import expect

    opened: list[BrowserContext] = []
    errors: list[str] = []
    expect.set_options(timeout=TIMEOUT_MS)

    async def open_context(viewport: dict[str, int], **options: object) -> BrowserContext:
        context = await chromium.new_context(
            viewport=viewport,
            screen=viewport,
            locale="fr-FR",
            timezone_id="Europe/Paris",
            reduced_motion="reduce",
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", lambda page: page.on("pageerror", lambda e: errors.append(str(e))))
        opened.append(context)
        return context

    try:
        yield open_context
        assert errors == [], f"JavaScript errors on the page: {errors}"
    finally:
        for context in opened:
            await context.close()
        expect.set_options(timeout=EXPECT_DEFAULT_MS)


async def log_in(page: Page, login: str, password: str = STAFF_PASSWORD) -> None:
    """Fill the back office's login form (wherever a page sent us to it)."""
    from playwright.async_api import expect

    await expect(
        page.get_by_role("heading", name="Connexion à l'espace des services")
    ).to_be_visible()
    await page.fill("#login", login)
    await page.fill("#password", password)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


async def staff_page(context: BrowserContext, url: str, login: str) -> Page:
    """A staff member's tab: `url` asked, the login form answered, `url` shown."""
    page = await context.new_page()
    await page.goto(url)
    await log_in(page, login)
    return page


async def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    await page.screenshot(path=str(DOCS / f"staff-{name}.png"), full_page=full_page)


async def assert_fits(page: Page, what: str) -> None:
    wider = await page.evaluate(OVERFLOW)
    width = page.viewport_size["width"] if page.viewport_size else "?"
    assert wider <= 0, f"{what} is {wider} px wider than the {width} px window"


async def parent_chat(context: BrowserContext, url: str, login: str, first_name: str) -> Chat:
    """A parent logged in to the web chat on a phone."""
    from playwright.async_api import expect

    page = await context.new_page()
    await page.goto(url + "/")
    chat = Chat(page)
    message = await chat.answer(-1)
    await chat.tap(message, "Se connecter")
    await chat.say(login)
    await chat.say(f"demo-{login}")
    await expect(chat.log).to_contain_text(f"Bonjour {first_name}")
    return chat


async def phone(open_context: Contexts) -> BrowserContext:
    return await open_context(PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)


# (a) The pointage of tomorrow's lunch, on the tablet ----------------------------------------


async def test_the_canteen_agent_marks_tomorrows_lunch_with_taps_on_the_tablet(
    town: Town, browser_context: Contexts, clock: FrozenClock
) -> None:
    from playwright.async_api import expect

    tablet = await browser_context(TABLET, has_touch=True)
    page = await staff_page(tablet, f"{town.url}/staff/attendance", "cantine")

    # The day before: tomorrow's lunch is listed, its pointage not open yet.
    await page.get_by_role("link", name="Demain", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pointage du mardi 2 mars")
    lunch = page.get_by_role("link", name=re.compile(CANTEEN))
    await expect(lunch).to_contain_text("0 pointés sur 8")
    await lunch.click()
    await expect(page.get_by_text("Le pointage de cette séance ouvre le")).to_be_visible()
    children = page.locator("li.attendance-child")
    await expect(children).to_have_count(8)
    assert await page.locator("button[name=status]").count() == 0
    session_url = page.url

    # Tuesday at the door: the idle session ended overnight, the login brings the agent back.
    clock.set(TUESDAY_LUNCH)
    await page.reload()
    await log_in(page, "cantine")
    assert page.url == session_url
    await expect(page.get_by_text("Pointage modifiable jusqu'au")).to_be_visible()

    await page.evaluate("window.notReloaded = true")
    taps = ["present", "absent", "excused", *["present"] * 5]
    labels = {"present": "Présent", "absent": "Absent", "excused": "Excusé"}
    first = children.nth(0).get_by_role("button", name="Excusé")
    everyone = page.locator("form.attendance-all").get_by_role("button")
    await expect(everyone).to_have_text("Tous présents (8 à pointer)")
    await first.tap()  # a wrong tap, corrected by the next one
    await expect(first).to_have_attribute("aria-pressed", "true")
    await expect(everyone).to_have_text("Tous présents (7 à pointer)")
    for index, status in enumerate(taps):
        button = children.nth(index).get_by_role("button", name=labels[status], exact=True)
        box = await button.bounding_box()
        assert box is not None and min(box["width"], box["height"]) >= 44, "too small to tap"
        await button.tap()
        await expect(button).to_have_attribute("aria-pressed", "true")
    await expect(first).to_have_attribute("aria-pressed", "false")
    counts = {"present": "6", "absent": "1", "excused": "1", "unmarked": "0"}
    for name, value in counts.items():
        await expect(page.locator(f'[data-count="{name}"]')).to_have_text(value)
    await expect(everyone).to_be_hidden()  # nobody left to mark
    assert await page.evaluate("window.notReloaded") is True, "a tap reloaded the page"
    await assert_fits(page, "the pointage")
    await page.evaluate("document.activeElement.blur()")  # the last tap's focus ring
    await shoot(page, "attendance-tablet")

    # The marks are kept: the day's list counts them, the database holds them.
    await page.get_by_role("link", name=re.compile("Séances du")).click()
    await expect(lunch).to_contain_text("8 pointés sur 8")
    await expect(lunch).to_contain_text("6 présents, 1 absents, 1 excusés")
    async with town.database.reading() as db:
        marks = (
            await db.execute(select(Attendance.status, func.count()).group_by(Attendance.status))
        ).all()
    assert dict(marks) == {
        AttendanceStatus.PRESENT: 6,
        AttendanceStatus.ABSENT: 1,
        AttendanceStatus.EXCUSED: 1,
    }


# (b) Zoé's dossier validated, then booked in the chat ---------------------------------------


async def zoe_bookings(database: Database) -> list[tuple[date, BookingState]]:
    async with database.reading() as db:
        rows = await db.execute(
            select(Session.day, Booking.state)
            .join(Booking, Booking.session_id == Session.id)
            .join(Participant, Participant.id == Booking.participant_id)
            .where(Participant.first_name == "Zoé")
        )
        return [tuple(row) for row in rows]


async def test_a_manager_validates_zoes_dossier_and_her_mother_then_books_in_the_chat(
    town: Town, browser_context: Contexts
) -> None:
    from playwright.async_api import expect

    wanted = "inscris Zoé à la cantine le lundi 8 mars"
    mother = await parent_chat(await phone(browser_context), town.url, "martin", "Claire")
    refused = await mother.say(wanted)
    await expect(refused).to_contain_text("il manque l'attestation d'assurance, la fiche sanitaire")
    assert await zoe_bookings(town.database) == []

    desktop = await browser_context(DESKTOP)
    page = await staff_page(desktop, f"{town.url}/staff/dossiers", "mairie-gestion")
    zoe = page.locator("article.decision", has_text="Zoé MARTIN")
    await expect(zoe).to_contain_text("attestation d'assurance, fiche sanitaire")
    await assert_fits(page, "the dossiers")
    await shoot(page, "dossiers")
    await zoe.get_by_role("button", name="Valider le dossier").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Dossier validé : la famille est prévenue."
    )
    await expect(page.locator("article.decision", has_text="Zoé MARTIN")).to_have_count(0)

    # The outbox's next tick: the chat open on the phone says so at once.
    await town.deliver()
    await expect(mother.log).to_contain_text("Le dossier de Zoé est validé : vous pouvez réserver.")

    recap = await mother.say(wanted)
    await expect(recap).to_contain_text("Zoé — Restaurant scolaire — lundi 8 mars")
    after = await mother.page.evaluate(LAST_BOT_ID)
    await recap.get_by_role("button", name="Confirmer", exact=True).tap()
    await mother.answer(after)
    await expect(mother.log).to_contain_text(re.compile(r"lundi 8 mars.*confirmé"))
    assert await zoe_bookings(town.database) == [(date(2027, 3, 8), BookingState.CONFIRMED)]


# (c) A session cancelled: every family is told why ------------------------------------------


async def test_a_cancelled_session_tells_every_family_why(
    town: Town, browser_context: Contexts
) -> None:
    from playwright.async_api import expect

    petit = await parent_chat(await phone(browser_context), town.url, "petit", "Sophie")
    desktop = await browser_context(DESKTOP)
    page = await staff_page(desktop, f"{town.url}/staff/sessions", "mairie-gestion")

    row = page.locator("table.sessions tbody tr", has_text=CANTEEN).filter(
        has_text=re.compile(r"\bmar\. 2 mars")
    )
    await expect(row).to_contain_text("8 / 120")
    await row.get_by_role("link", name=CANTEEN).click()
    await expect(page.get_by_text("8 réservées sur 120 places")).to_be_visible()
    await page.fill("#reason", STRIKE)
    await page.get_by_role("button", name="Annuler la séance (8 réservations)").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Séance annulée : 8 réservations annulées, les familles sont prévenues."
    )
    # Told on the town's clock (Paris), not the database's UTC.
    await expect(page.get_by_text("Annulée le lundi 1er mars, 09:00")).to_be_visible()
    await shoot(page, "session-cancel")

    # One notice per family and channel, with the reason; the parent's chat shows it.
    async with town.database.reading() as db:
        told = (
            await db.execute(
                select(Household.reference, OutboxMessage.channel, OutboxMessage.data)
                .join(Household, Household.id == OutboxMessage.household_id)
                .where(OutboxMessage.kind == NoticeKind.SESSION_CANCELLED)
            )
        ).all()
    assert {reference for reference, _, _ in told} == set(CANTEEN_FAMILIES)
    assert {data["reason"] for _, _, data in told} == {STRIKE}
    assert ("petit", "web") in {(reference, channel) for reference, channel, _ in told}
    await town.deliver()
    await expect(petit.log).to_contain_text(
        "La mairie a annulé Restaurant scolaire du mardi 2 mars"
    )
    await expect(petit.log).to_contain_text(f"Motif : {STRIKE}")

    # A whole day: the page says how many families will be told before anything is done.
    await page.goto(f"{town.url}/staff/sessions/day")
    await page.fill("#day", THURSDAY.isoformat())
    await page.get_by_label(CANTEEN).check()
    await page.get_by_role("button", name="Voir ce qui serait annulé").click()
    await expect(page.locator("section.card")).to_contain_text(
        "1 séance, 8 réservations, 4 familles prévenues"
    )
    await page.fill("#reason", STRIKE)
    await page.get_by_role("button", name="Confirmer : annuler 1 séance").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Journée annulée : 8 réservations annulées, les familles sont prévenues."
    )
    async with town.database.reading() as db:
        households = await db.scalar(
            select(func.count(func.distinct(OutboxMessage.household_id))).where(
                OutboxMessage.kind == NoticeKind.SESSION_CANCELLED,
                OutboxMessage.data["day"].as_string() == THURSDAY.isoformat(),
            )
        )
    assert households == 4


# (d) Last month's invoices, and one as a PDF ------------------------------------------------


async def test_a_manager_issues_februarys_invoices_and_opens_one_as_a_pdf(
    town: Town, browser_context: Contexts
) -> None:
    from playwright.async_api import expect

    desktop = await browser_context(DESKTOP)
    page = await staff_page(desktop, f"{town.url}/staff/invoices", "mairie-gestion")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Factures de février 2027")
    pending = page.locator("table.invoices-preview tbody tr")
    await expect(pending).to_have_count(len(CANTEEN_FAMILIES))
    await page.get_by_role("button", name="Émettre 4 factures").click()
    await expect(page.get_by_role("status")).to_have_text("4 factures émises.")
    await expect(page.get_by_text("Rien à facturer pour ce mois.")).to_be_visible()
    numbers = page.locator("section[aria-labelledby=issued-title] tbody tr td:first-child a")
    await expect(numbers).to_have_text([f"F2027-0000{n}" for n in range(1, 5)])
    await assert_fits(page, "the invoices")
    await shoot(page, "invoices")

    await numbers.first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Facture n° F2027-00001")
    await expect(page.get_by_text("Émise le lundi 1er mars, 09:00")).to_be_visible()
    link = page.get_by_role("link", name="Ouvrir le PDF")
    response = await desktop.request.get(town.url + await link.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert (await response.body()).startswith(b"%PDF")

    async with town.database.reading() as db:
        issued = (
            await db.execute(
                select(Invoice.household_reference, Invoice.total_cents, Invoice.month)
            )
        ).all()
        days = await db.scalar(
            select(func.count(func.distinct(Session.day)))
            .join(Activity, Activity.id == Session.activity_id)
            .where(Activity.code == "cantine", Session.day < date(2027, 3, 1))
        )
    # Two children a family, every February school day, at the 601-1200 quotient's 3,20 €.
    assert sorted(issued) == sorted((login, days * 2 * 320, 2) for login in CANTEEN_FAMILIES)


# The main pages on both screens ----------------------------------------------------------


@pytest.mark.parametrize("size", ["desktop", "tablet"])
async def test_the_main_pages_fit_a_desktop_and_a_tablet(
    town: Town, browser_context: Contexts, size: str
) -> None:
    from playwright.async_api import expect

    context = await browser_context(DESKTOP if size == "desktop" else TABLET)
    page = await context.new_page()
    await page.goto(f"{town.url}/staff/")
    if size == "desktop":
        await shoot(page, "login", full_page=False)
    await log_in(page, "mairie-gestion")
    pages = {
        "today": f"/staff/today?day={TOMORROW.isoformat()}",
        "attendance": f"/staff/attendance?day={TOMORROW.isoformat()}",
        "dossiers": "/staff/dossiers",
        "households": "/staff/households?q=famille",
        "sessions": "/staff/sessions",
        "messages": "/staff/messages",
        "invoices": "/staff/invoices",
        "dashboard": "/staff/dashboard",
    }
    for name, path in pages.items():
        response = await page.goto(town.url + path)
        assert response is not None and response.status == 200, path
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        if name == "dashboard":
            drawn = "() => document.querySelectorAll('canvas').length > 0 && window.Chart"
            await page.wait_for_function(drawn)
        await assert_fits(page, path)
        if name == "today":
            await shoot(page, f"today-{size}")
        elif name == "dashboard":
            await shoot(page, f"dashboard-{size}", full_page=False)  # its first charts

"""Attendance on a tablet in real headless Chromium: a tap marks a child in place (no
reload), the buttons are big enough to tap, and the roster prints without the navigation."""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING

import pytest

from booking.clock import PARIS
from booking.models import StaffRole
from tests.rosters_support import canteen_town
from tests.staff_support import STAFF_PASSWORD, make_staff, start_app

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = pytest.mark.browser

TABLET = {"width": 768, "height": 1024}
TIMEOUT_MS = 10_000
SHOTS = os.environ.get("RIBAMBELLE_SCREENSHOTS")  # a folder to keep screenshots in


async def test_a_tap_on_the_tablet_marks_the_child_without_reloading(
    chromium: Browser, sqlite_database, clock
) -> None:
    from playwright.async_api import expect

    town = await canteen_town(sqlite_database)
    clock.set(datetime(2027, 3, 2, 11, 40, tzinfo=PARIS))
    await make_staff(sqlite_database, town.town_id, "cantine", StaffRole.AGENT, now=clock.now())
    client = await start_app(sqlite_database, clock)
    base = str(client.make_url("")).rstrip("/")
    context = await chromium.new_context(viewport=TABLET, locale="fr-FR")
    try:
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await page.goto(f"{base}/staff/attendance/{town.lunch_id}")
        await page.fill("#login", "cantine")
        await page.fill("#password", STAFF_PASSWORD)
        await page.get_by_role("button", name="Se connecter").click()
        await expect(page.get_by_text("Allergie arachide (PAI)")).to_be_visible()

        lea = page.locator(f"#child-{town.lea}")
        absent = lea.get_by_role("button", name="Absent")
        box = await absent.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44
        await page.evaluate("window.notReloaded = true")
        await absent.click()
        await expect(absent).to_have_attribute("aria-pressed", "true")
        await expect(page.locator('[data-count="absent"]')).to_have_text("1")
        await expect(page.locator('[data-count="unmarked"]')).to_have_text("1")
        assert await page.evaluate("window.notReloaded") is True
        if SHOTS:
            await page.screenshot(path=f"{SHOTS}/staff-attendance-tablet.png", full_page=True)

        await page.goto(f"{base}/staff/today?day=2027-03-02")
        await page.emulate_media(media="print")
        assert not await page.locator("header.top").is_visible()
        await expect(page.get_by_text("Allergie arachide (PAI)")).to_be_visible()
        if SHOTS:
            await page.emulate_media(media="screen")
            await page.screenshot(path=f"{SHOTS}/staff-today-tablet.png", full_page=True)
    finally:
        await context.close()
        await client.close()

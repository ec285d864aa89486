"""End-to-end fixtures: the real app on a real port, loaded with the demo town, and Chromium."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
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
from tests.conftest import PINNED_NOW, _run_in_thread

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _unavailable(reason: str) -> None:
    """Skip, or fail when CI is set (the browser tests must run there)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser tests must run)")
    pytest.skip(f"{reason}; install Debian's chromium package to run the browser tests")


@pytest.fixture
def chromium_path() -> Path:
    """Debian's Chromium, or a skip (a failure under CI) saying why there is none."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright's Python package is not installed")
    return CHROMIUM


@pytest.fixture
async def chromium(chromium_path: Path) -> AsyncIterator[Browser]:
    """Headless Chromium driven by Playwright (never a browser downloaded by Playwright)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A migrated SQLite file holding the demo town at the pinned time, built once a run (a
    test copies it: `path.write_bytes(demo_file)`)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)

    async def load() -> None:
        database = Database.from_url(url)
        try:
            assert await load_demo(database, PINNED_NOW)
        finally:
            await database.dispose()

    _run_in_thread(load)
    return path.read_bytes()


@pytest.fixture
async def demo_server(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[str]:
    """`build_app` on a migrated SQLite file holding the demo town, on 127.0.0.1:<free port>.

    Runs in the test's event loop; yields the base URL.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'ribambelle.db'}"
    upgrade(url)
    database = Database.from_url(url)
    try:
        assert await load_demo(database, clock.now())
        settings = Settings(database_url=url, public_url="http://127.0.0.1")
        app = build_app(settings, database=database, clock=clock, run_scheduler=False)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}"
        finally:
            await runner.cleanup()
    finally:
        await database.dispose()

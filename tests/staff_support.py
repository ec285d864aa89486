"""What back-office tests share: staff accounts, the real app on a database, and a browser-like
client that logs in and sends every form with its CSRF token."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer, unused_port

from booking.clock import FrozenClock
from booking.db import Database
from booking.models import StaffMember, StaffRole
from booking.passwords import hash_password
from booking.services.staff_accounts import add_staff
from bot.app import build_app
from bot.settings import Settings

STAFF_PASSWORD = "mairie-2026-ok"
_HASH: dict[str, str] = {}
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def password_hash(password: str = STAFF_PASSWORD) -> str:
    """Argon2 once per password for the whole run (it takes 200 ms)."""
    if password not in _HASH:
        _HASH[password] = hash_password(password)
    return _HASH[password]


async def make_staff(
    database: Database,
    structure_id: int,
    login: str,
    role: StaffRole = StaffRole.MANAGER,
    *,
    now: Any,
    email: str = "",
) -> StaffMember:
    async with database.writing() as db:
        return await add_staff(
            db,
            structure_id=structure_id,
            login=login,
            role=role,
            password_hash=password_hash(),
            now=now,
            name=login.title(),
            email=email,
        )


async def start_app(database: Database, clock: FrozenClock, **settings: Any) -> TestClient:
    """The real app (no scheduler: tests run its jobs) on `database`, on a known port."""
    port = unused_port()
    app = build_app(
        Settings(
            database_url="sqlite://unused",
            public_url=f"http://127.0.0.1:{port}",
            payment_secret="test-secret",
            chat_burst=1000,
            **settings,
        ),
        database=database,
        clock=clock,
        run_scheduler=False,
    )
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    return client


@pytest.fixture
async def staff_client(database: Database, clock: FrozenClock) -> AsyncIterator[TestClient]:
    """The real app on the test's database (SQLite file or PostgreSQL)."""
    client = await start_app(database, clock)
    yield client
    await client.close()


def text_of(page: str) -> str:
    """A page's visible text, tags dropped and spaces folded (for assertions)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


class StaffBrowser:
    """A staff member's browser: cookies kept, the CSRF token read from the last page."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""
        self.page = ""
        self.status = 0

    async def _read(self, response: ClientResponse) -> str:
        self.status = response.status
        self.page = await response.text()
        found = CSRF_FIELD.search(self.page)
        if found:
            self.csrf = html.unescape(found.group(1))
        return self.page

    async def log_in(self, login: str, password: str = STAFF_PASSWORD) -> str:
        await self.get("/staff/login")
        return await self.post("/staff/login", {"login": login, "password": password})

    async def get(self, path: str, **kwargs: Any) -> str:
        return await self._read(await self.client.get(path, **kwargs))

    async def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """POST a form with the CSRF token of the last page (unless `data` sets "csrf")."""
        form = {"csrf": self.csrf, **(data or {})}
        return await self._read(await self.client.post(path, data=form, **kwargs))

    @property
    def text(self) -> str:
        return text_of(self.page)

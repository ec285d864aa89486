"""Shared fixtures: a pinned clock and real databases (SQLite files, the PostgreSQL server)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import asyncpg
import pytest

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "RIBAMBELLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PINNED_NOW = datetime(2027, 3, 1, 9, 0, tzinfo=PARIS)  # a Monday


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(PINNED_NOW)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A migrated SQLite database, copied byte for byte into each test (migrating once)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path.read_bytes()


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template: bytes) -> str:
    path = tmp_path / "ribambelle.db"
    path.write_bytes(sqlite_template)
    return f"sqlite+aiosqlite:///{path}"


def _postgres_admin_dsn() -> str:
    return POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL template database; each test gets its own copy."""

    async def reachable() -> bool:
        try:
            connection = await asyncpg.connect(_postgres_admin_dsn(), timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await connection.close()
        return True

    if not _run_in_thread(reachable):
        message = f"PostgreSQL is not reachable at {POSTGRES_URL}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the PostgreSQL tests must run)")
        pytest.skip(message + "; set RIBAMBELLE_TEST_POSTGRES_URL to run these tests")
    name = f"ribambelle_tpl_{uuid.uuid4().hex[:8]}"
    _run_in_thread(lambda: _admin(f'CREATE DATABASE "{name}"'))
    upgrade(_with_database(POSTGRES_URL, name))
    yield name
    _run_in_thread(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _run_in_thread(make_coroutine):  # noqa: ANN001, ANN202
    """Run a coroutine to completion on its own loop (session fixtures start inside a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(_postgres_admin_dsn())
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database copied from the migrated template."""
    name = f"ribambelle_{uuid.uuid4().hex[:10]}"
    _run_in_thread(lambda: _admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield _with_database(POSTGRES_URL, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    _run_in_thread(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh SQLite file, then a fresh PostgreSQL database."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The application's database, on each backend in turn."""
    database = Database.from_url(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def sqlite_database(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(sqlite_url)
    yield database
    await database.dispose()


# The back office's fixtures (tests/staff_support.py): `staff_client`.
from tests.staff_support import staff_client  # noqa: E402, F401

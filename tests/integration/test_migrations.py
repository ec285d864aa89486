"""The migrations build exactly the schema the models describe, on both databases, and go
back down cleanly: a model changed without its migration fails here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select, text

from booking import db as booking_db
from booking.db import Database
from booking.migrate import alembic_config, upgrade
from booking.models import Activity, Base, Structure, Tariff
from tests.conftest import POSTGRES_URL, _admin, _run_in_thread, _with_database

BEFORE_ALIASES = "183a4aaf0610"


def _differences(connection) -> list:  # noqa: ANN001
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_the_migrated_schema_is_the_models_schema(database: Database) -> None:
    async with database.reading() as db:
        connection = await db.connection()
        differences = await connection.run_sync(_differences)
    assert differences == []


def test_the_migrations_go_down_to_nothing_and_up_again(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'down.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    with engine.connect() as connection:
        assert "outbox" in inspect(connection).get_table_names()
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    """An empty database, not migrated: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data.db'}"
        return
    request.getfixturevalue("postgres_template")  # skips or fails as the other PostgreSQL tests
    name = f"ribambelle_migration_{uuid.uuid4().hex[:8]}"
    _run_in_thread(lambda: _admin(f'CREATE DATABASE "{name}"'))
    yield _with_database(POSTGRES_URL, name)
    _run_in_thread(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_existing_activities_get_no_aliases_and_towns_no_school_zone(empty_url) -> None:
    await asyncio.to_thread(upgrade, empty_url, BEFORE_ALIASES)
    engine = booking_db.create_engine(empty_url)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO structures (slug, name, timezone, blocks_debtors, hold_minutes, "
                "waitlist_hold_minutes, coupon_price_cents, reminder_hour, refund_via_provider, "
                "payment_settings) VALUES ('ville', 'Ville', 'Europe/Paris', :yes, 60, 60, 0, "
                "18, :no, '{}')"
            ),
            {"yes": True, "no": False},
        )
        await connection.execute(
            text(
                "INSERT INTO activities (structure_id, code, name, description, category, "
                "place, min_age, payment_mode, booking_deadline_kind, booking_deadline_days, "
                "cancellation_deadline_kind, cancellation_deadline_days, waitlist_enabled, "
                "enrolment_required) VALUES (1, 'cantine', 'Cantine', '', 'restauration', '', "
                "3, 'invoice', 'days', 0, 'days', 0, :no, :no)"
            ),
            {"no": False},
        )
        # A row pointing at the activity: SQLite could not copy the table under it.
        await connection.execute(
            text("INSERT INTO tariffs (activity_id, label, price_cents) VALUES (1, '', 320)")
        )

    await asyncio.to_thread(upgrade, empty_url)

    async with engine.connect() as connection:
        assert (await connection.execute(select(Activity.aliases))).scalars().all() == [[]]
        assert (await connection.execute(select(Structure.school_zone))).scalars().all() == [None]
    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE_ALIASES)
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(Tariff)) == 1
        columns = {column["name"] for column in await connection.run_sync(_activity_columns)}
    assert "aliases" not in columns and "code" in columns
    await engine.dispose()


def _activity_columns(connection) -> list:  # noqa: ANN001
    return inspect(connection).get_columns("activities")


pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

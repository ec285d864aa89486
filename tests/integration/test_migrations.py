"""The migrations build exactly the schema the models describe, on both databases, and go
back down cleanly: a model changed without its migration fails here."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from booking.db import Database
from booking.migrate import alembic_config, upgrade
from booking.models import Base


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


pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

"""activity aliases and school zone

Revision ID: f1af1b431124
Revises: 183a4aaf0610
Create Date: 2026-12-07 03:53:15.045110
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f1af1b431124"
down_revision: str | None = "183a4aaf0610"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE on both databases, no batch mode: SQLite's batch mode would copy
# `activities` and `structures`, and dropping the old table fails with foreign keys on as
# soon as other rows point at it (sessions, households).


def upgrade() -> None:
    # Existing activities get no aliases.
    op.add_column(
        "activities", sa.Column("aliases", sa.JSON(), nullable=False, server_default="[]")
    )
    op.add_column("structures", sa.Column("school_zone", sa.String(length=1), nullable=True))


def downgrade() -> None:
    op.drop_column("structures", "school_zone")  # SQLite 3.35+ drops a column in place
    op.drop_column("activities", "aliases")

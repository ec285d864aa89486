"""web chat history: turn replies kept beside pushed messages, history start per conversation

Revision ID: 25ca23a69dda
Revises: f1af1b431124
Create Date: 2026-12-08 10:12:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "25ca23a69dda"
down_revision: str | None = "f1af1b431124"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE on both databases, no batch mode: SQLite's batch mode would copy
# `conversations`, and dropping the old table fails with foreign keys on as soon as other
# rows point at it (pushed messages, bookings' events).


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("history_from", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("conversations", sa.Column("history_household_id", sa.Integer(), nullable=True))
    # Messages pushed so far were all for the household logged in then: they stay in the
    # history of conversations still logged in, and never reach a conversation logged out
    # since (the next person at a shared tablet).
    op.execute("UPDATE conversations SET history_household_id = household_id")
    op.execute(
        "UPDATE conversations SET history_from = last_message_id + 1 WHERE household_id IS NULL"
    )
    op.add_column(
        "pushed_messages",
        sa.Column(
            "kind",
            sa.Enum("push", "reply", name="messagekind", native_enum=False, length=24),
            nullable=False,
            server_default="push",
        ),
    )


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place.
    op.execute("DELETE FROM pushed_messages WHERE kind = 'reply'")
    op.drop_column("pushed_messages", "kind")
    op.drop_column("conversations", "history_household_id")
    op.drop_column("conversations", "history_from")

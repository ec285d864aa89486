"""security records: login throttles, account tokens, telegram updates, household erasure

Revision ID: 9fcb3d0cb1f6
Revises: 25ca23a69dda
Create Date: 2026-12-07 06:38:23.241374
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import booking.models.base

revision: str = "9fcb3d0cb1f6"
down_revision: str | None = "25ca23a69dda"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE, no batch mode (see 25ca23a69dda): households is pointed at by many rows.
AwareDateTime = booking.models.base.AwareDateTime


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_try_at", AwareDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", AwareDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_table(
        "telegram_updates",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", AwareDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "update_id", name=op.f("pk_telegram_updates")),
    )
    op.create_index(op.f("ix_telegram_updates_received_at"), "telegram_updates", ["received_at"])
    op.create_table(
        "account_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("guardian_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", AwareDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", AwareDateTime(timezone=True), nullable=False),
        sa.Column("used_at", AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["guardian_id"], ["guardians.id"], name=op.f("fk_account_tokens_guardian_id_guardians")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_tokens_token_hash")),
    )
    op.create_index(op.f("ix_account_tokens_guardian_id"), "account_tokens", ["guardian_id"])
    op.add_column("households", sa.Column("erased_at", AwareDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("households", "erased_at")
    op.drop_index(op.f("ix_account_tokens_guardian_id"), table_name="account_tokens")
    op.drop_table("account_tokens")
    op.drop_index(op.f("ix_telegram_updates_received_at"), table_name="telegram_updates")
    op.drop_table("telegram_updates")
    op.drop_table("login_throttles")

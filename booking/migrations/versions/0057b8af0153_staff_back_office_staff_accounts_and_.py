"""staff back office: staff accounts and sessions, attendance, invoices, messages, audit

Revision ID: 0057b8af0153
Revises: 9fcb3d0cb1f6
Create Date: 2026-12-07 07:22:28.832122
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import booking.models.base

# Plain ALTER TABLE, no batch mode (see 25ca23a69dda).

revision: str = "0057b8af0153"
down_revision: str | None = "9fcb3d0cb1f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoice_sequences",
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structures.id"],
            name=op.f("fk_invoice_sequences_structure_id_structures"),
        ),
        sa.PrimaryKeyConstraint("structure_id", "year", name=op.f("pk_invoice_sequences")),
    )
    op.create_table(
        "staff_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum("agent", "manager", "admin", name="staffrole", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("created_at", booking.models.base.AwareDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", booking.models.base.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structures.id"],
            name=op.f("fk_staff_members_structure_id_structures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_members")),
        sa.UniqueConstraint("login", name=op.f("uq_staff_members_login")),
    )
    op.create_index(
        op.f("ix_staff_members_structure_id"), "staff_members", ["structure_id"], unique=False
    )

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("invoice", "credit_note", name="invoicekind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("household_name", sa.String(length=200), nullable=False),
        sa.Column("household_reference", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("issued_at", booking.models.base.AwareDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        sa.Column("sent_at", booking.models.base.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["corrects_id"], ["invoices.id"], name=op.f("fk_invoices_corrects_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_invoices_household_id_households")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"], ["staff_members.id"], name=op.f("fk_invoices_issued_by_staff_members")
        ),
        sa.ForeignKeyConstraint(
            ["structure_id"], ["structures.id"], name=op.f("fk_invoices_structure_id_structures")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("structure_id", "number", name=op.f("uq_invoices_structure_id")),
    )
    op.create_index(
        "ix_invoices_household_period", "invoices", ["household_id", "year", "month"], unique=False
    )
    op.create_index(op.f("ix_invoices_structure_id"), "invoices", ["structure_id"], unique=False)

    op.create_table(
        "staff_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", booking.models.base.AwareDateTime(timezone=True), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_staff_audit_household_id_households")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_members.id"], name=op.f("fk_staff_audit_staff_id_staff_members")
        ),
        sa.ForeignKeyConstraint(
            ["structure_id"], ["structures.id"], name=op.f("fk_staff_audit_structure_id_structures")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_audit")),
    )
    op.create_index(op.f("ix_staff_audit_at"), "staff_audit", ["at"], unique=False)
    op.create_index(
        op.f("ix_staff_audit_household_id"), "staff_audit", ["household_id"], unique=False
    )
    op.create_index(
        op.f("ix_staff_audit_structure_id"), "staff_audit", ["structure_id"], unique=False
    )

    op.create_table(
        "staff_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("household_count", sa.Integer(), nullable=False),
        sa.Column("created_at", booking.models.base.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_messages_staff_id_staff_members"),
        ),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structures.id"],
            name=op.f("fk_staff_messages_structure_id_structures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_messages")),
    )
    op.create_index(
        op.f("ix_staff_messages_structure_id"), "staff_messages", ["structure_id"], unique=False
    )

    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", booking.models.base.AwareDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", booking.models.base.AwareDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", booking.models.base.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_sessions_staff_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_staff_sessions_staff_id"), "staff_sessions", ["staff_id"], unique=False
    )

    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "present",
                "absent",
                "excused",
                name="attendancestatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("marked_by", sa.Integer(), nullable=True),
        sa.Column("marked_at", booking.models.base.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_attendance_booking_id_bookings")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_attendance_household_id_households")
        ),
        sa.ForeignKeyConstraint(
            ["marked_by"], ["staff_members.id"], name=op.f("fk_attendance_marked_by_staff_members")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_attendance_participant_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_attendance_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_attendance_booking_id")),
    )
    op.create_index(
        op.f("ix_attendance_household_id"), "attendance", ["household_id"], unique=False
    )
    op.create_index(
        op.f("ix_attendance_participant_id"), "attendance", ["participant_id"], unique=False
    )
    op.create_index(op.f("ix_attendance_session_id"), "attendance", ["session_id"], unique=False)

    op.add_column("dossiers", sa.Column("notes", sa.Text(), nullable=False, server_default=""))
    op.add_column("dossiers", sa.Column("refusal_reason", sa.String(length=500), nullable=True))

    op.add_column("enrolments", sa.Column("refusal_reason", sa.String(length=500), nullable=True))

    op.add_column(
        "guardians", sa.Column("phone", sa.String(length=32), nullable=False, server_default="")
    )

    op.add_column(
        "participants",
        sa.Column("school_class", sa.String(length=50), nullable=False, server_default=""),
    )

    op.add_column(
        "structures",
        sa.Column("attendance_until_hour", sa.Integer(), nullable=False, server_default="12"),
    )
    op.add_column(
        "structures",
        sa.Column("invoice_basis", sa.String(length=16), nullable=False, server_default="bookings"),
    )
    op.add_column(
        "structures", sa.Column("digest_hour", sa.Integer(), nullable=False, server_default="7")
    )


def downgrade() -> None:
    op.drop_column("structures", "digest_hour")
    op.drop_column("structures", "invoice_basis")
    op.drop_column("structures", "attendance_until_hour")

    op.drop_column("participants", "school_class")

    op.drop_column("guardians", "phone")

    op.drop_column("enrolments", "refusal_reason")

    op.drop_column("dossiers", "refusal_reason")
    op.drop_column("dossiers", "notes")

    op.drop_index(op.f("ix_attendance_session_id"), table_name="attendance")
    op.drop_index(op.f("ix_attendance_participant_id"), table_name="attendance")
    op.drop_index(op.f("ix_attendance_household_id"), table_name="attendance")

    op.drop_table("attendance")
    op.drop_index(op.f("ix_staff_sessions_staff_id"), table_name="staff_sessions")

    op.drop_table("staff_sessions")
    op.drop_index(op.f("ix_staff_messages_structure_id"), table_name="staff_messages")

    op.drop_table("staff_messages")
    op.drop_index(op.f("ix_staff_audit_structure_id"), table_name="staff_audit")
    op.drop_index(op.f("ix_staff_audit_household_id"), table_name="staff_audit")
    op.drop_index(op.f("ix_staff_audit_at"), table_name="staff_audit")

    op.drop_table("staff_audit")
    op.drop_index(op.f("ix_invoices_structure_id"), table_name="invoices")
    op.drop_index("ix_invoices_household_period", table_name="invoices")

    op.drop_table("invoices")
    op.drop_index(op.f("ix_staff_members_structure_id"), table_name="staff_members")

    op.drop_table("staff_members")
    op.drop_table("invoice_sequences")

"""The town's side: staff accounts and their sessions, attendance, invoices, messages to
families, and the audit of what staff changed."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from booking.models.base import AppendOnly, Base, enum_column


class StaffRole(enum.StrEnum):
    """What a staff member may do; each role may do what the ones before it may."""

    AGENT = "agent"  # rosters, attendance, messages to a group
    MANAGER = "manager"  # dossiers, enrolments, households, sessions, cancellations, invoices
    ADMIN = "admin"  # staff accounts, catalogue import, settings

    @property
    def rank(self) -> int:
        return list(StaffRole).index(self)

    def allows(self, needed: StaffRole) -> bool:
        return self.rank >= needed.rank


class StaffMember(Base):
    """A town employee who logs in to the back office of one structure.

    Wrong passwords wait as parents' do, counted in `login_throttles` (per login and address).
    """

    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[StaffRole] = mapped_column(enum_column(StaffRole))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)


class StaffSession(Base):
    """A logged-in browser: the cookie holds the token, only its hash is stored here."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AttendanceStatus(enum.StrEnum):
    PRESENT = "present"
    ABSENT = "absent"  # without notice
    EXCUSED = "excused"  # absent, with notice or a reason


class Attendance(Base):
    """Whether a booked child came to a session (le pointage)."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("booking_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    status: Mapped[AttendanceStatus] = mapped_column(enum_column(AttendanceStatus))
    marked_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), nullable=True)
    marked_at: Mapped[datetime]


class InvoiceKind(enum.StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"  # corrects an issued invoice, which never changes


class Invoice(Base):
    """A monthly invoice (or credit note) of a household for its `invoice` activities.

    Numbered without gaps per structure and year (`InvoiceSequence`); never changed once
    issued: `lines` and the household's name and reference are copied in at issue.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("structure_id", "number"),
        Index("ix_invoices_household_period", "household_id", "year", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    number: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[InvoiceKind] = mapped_column(enum_column(InvoiceKind))
    year: Mapped[int] = mapped_column(Integer)  # the month billed
    month: Mapped[int] = mapped_column(Integer)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), nullable=True)
    household_name: Mapped[str] = mapped_column(String(200))
    household_reference: Mapped[str] = mapped_column(String(64))
    lines: Mapped[list] = mapped_column(JSON, default=list)
    total_cents: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime]
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class InvoiceSequence(Base):
    """The last invoice number given per structure and year: locked while numbering."""

    __tablename__ = "invoice_sequences"

    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class StaffMessage(Base):
    """A message staff wrote to the families of a session, an activity or a day.

    Delivered through the outbox (delivery keys `staff_message:<id>:…`), which gives the
    delivery counts.
    """

    __tablename__ = "staff_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    scope: Mapped[str] = mapped_column(String(16))  # "session", "activity", "day"
    target: Mapped[str] = mapped_column(String(64))  # a session or activity id, an ISO day
    subject: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    household_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class StaffAudit(AppendOnly, Base):
    """One change a staff member made outside bookings (which have their BookingEvent)."""

    __tablename__ = "staff_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str] = mapped_column(String(64), default="")  # "household:12", "session:40"
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)

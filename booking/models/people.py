"""Who books: the structure (town), households, guardians, participants and their dossiers."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.models.base import Base


class Structure(Base):
    """A town (or group of towns) running children's services.

    `school_zone` is the town's school holiday zone (A, B or C), or None when unknown.
    """

    __tablename__ = "structures"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    blocks_debtors: Mapped[bool] = mapped_column(Boolean, default=True)
    hold_minutes: Mapped[int] = mapped_column(Integer, default=60)
    waitlist_hold_minutes: Mapped[int] = mapped_column(Integer, default=24 * 60)
    coupon_price_cents: Mapped[int] = mapped_column(Integer, default=0)
    reminder_hour: Mapped[int] = mapped_column(Integer, default=18)
    refund_via_provider: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_settings: Mapped[dict] = mapped_column(JSON, default=dict)
    school_zone: Mapped[str | None] = mapped_column(String(1), nullable=True)
    # Attendance of a day can be changed until this hour of the next day (local time).
    attendance_until_hour: Mapped[int] = mapped_column(Integer, default=12)
    # What monthly invoices bill: "bookings" (what was booked) or "attendance" (consumed).
    invoice_basis: Mapped[str] = mapped_column(String(16), default="bookings")
    # When the daily staff digest goes out (local hour), to staff members with an e-mail.
    digest_hour: Mapped[int] = mapped_column(Integer, default=7)


class Household(Base):
    """A family account (compte famille)."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    group: Mapped[str] = mapped_column(String(32), default="resident")
    family_quotient: Mapped[int | None] = mapped_column(Integer, nullable=True)
    emails: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(8), default="fr")
    # Where the household hears from the town: any of "web", "telegram", "email".
    notify_channels: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["web", "telegram", "email"]
    )
    # Set by `ribambelle household erase`: personal data gone, accounting kept under a pseudonym.
    erased_at: Mapped[datetime | None] = mapped_column(nullable=True)

    structure: Mapped[Structure] = relationship(lazy="raise")
    guardians: Mapped[list[Guardian]] = relationship(back_populates="household", lazy="raise")
    participants: Mapped[list[Participant]] = relationship(
        back_populates="household", lazy="raise", order_by="Participant.birth_date"
    )

    @property
    def email_list(self) -> list[str]:
        return [address.strip() for address in self.emails.split(";") if address.strip()]


class Guardian(Base):
    """A responsible adult who can log in for the household."""

    __tablename__ = "guardians"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    phone: Mapped[str] = mapped_column(String(32), default="")
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    terms_accepted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)

    household: Mapped[Household] = relationship(back_populates="guardians", lazy="raise")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Participant(Base):
    """A child (or an adult in family sessions) who attends activities."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    school_class: Mapped[str] = mapped_column(String(50), default="")  # "CE1 B", a group

    household: Mapped[Household] = relationship(back_populates="participants", lazy="raise")


class Dossier(Base):
    """The registration file of a participant with a structure; complete when nothing is missing."""

    __tablename__ = "dossiers"
    __table_args__ = (UniqueConstraint("participant_id", "structure_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"))
    missing_items: Mapped[list[str]] = mapped_column(JSON, default=list)
    validated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # What the staff must know at the door: allergies, PAI, who may fetch the child.
    notes: Mapped[str] = mapped_column(Text, default="")
    # Why the staff refused the dossier as sent (the parent reads it in the chat).
    refusal_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    @property
    def is_complete(self) -> bool:
        return not self.missing_items and self.validated_at is not None

"""What can be booked: activities, their sessions, tariffs, supplements, bus routes, enrolments."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.models.base import Base, enum_column


class Category(enum.StrEnum):
    PERISCOLAIRE = "periscolaire"
    RESTAURATION = "restauration"
    ALSH = "alsh"
    EMS = "ems"
    SEJOUR = "sejour"
    SPORT = "sport"


class PaymentMode(enum.StrEnum):
    IMMEDIATE = "immediate"
    WALLET = "wallet"
    COUPONS = "coupons"
    INVOICE = "invoice"


class DeadlineKind(enum.StrEnum):
    """How a booking or cancellation deadline is counted back from the session's day."""

    DAYS = "days"
    WORKING_DAYS = "working_days"


class EnrolmentStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class Activity(Base):
    """A kind of bookable service (cantine, mercredis loisirs 3-6 ans, escalade en famille…).

    Ages are in whole years on the session's date: `min_age <= age < max_age`.
    Deadlines: the day `*_deadline_days` (calendar or working) days before the session, at
    `*_deadline_time`, or at the end of that day when no time is set; never after the start.
    """

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint("min_age >= 0", name="min_age_positive"),
        CheckConstraint("max_age IS NULL OR max_age > min_age", name="age_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[Category] = mapped_column(enum_column(Category))
    place: Mapped[str] = mapped_column(String(200), default="")
    min_age: Mapped[int] = mapped_column(Integer, default=0)
    max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    payment_mode: Mapped[PaymentMode] = mapped_column(enum_column(PaymentMode))
    opens_at: Mapped[datetime | None] = mapped_column(nullable=True)
    booking_deadline_kind: Mapped[DeadlineKind] = mapped_column(
        enum_column(DeadlineKind), default=DeadlineKind.DAYS
    )
    booking_deadline_days: Mapped[int] = mapped_column(Integer, default=0)
    booking_deadline_time: Mapped[time | None] = mapped_column(Time, nullable=True)
    cancellation_deadline_kind: Mapped[DeadlineKind] = mapped_column(
        enum_column(DeadlineKind), default=DeadlineKind.DAYS
    )
    cancellation_deadline_days: Mapped[int] = mapped_column(Integer, default=0)
    cancellation_deadline_time: Mapped[time | None] = mapped_column(Time, nullable=True)
    waitlist_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    enrolment_required: Mapped[bool] = mapped_column(Boolean, default=False)
    children_per_adult: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # What parents call it ("centre aéré", "ALSH", "garderie"), for understanding messages.
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)

    waves: Mapped[list[OpeningWave]] = relationship(lazy="raise", order_by="OpeningWave.opens_at")


class OpeningWave(Base):
    """Booking opens at a different instant for one household group (residents first…)."""

    __tablename__ = "opening_waves"
    __table_args__ = (UniqueConstraint("activity_id", "household_group"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    household_group: Mapped[str] = mapped_column(String(32))
    opens_at: Mapped[datetime]


class Tariff(Base):
    """A price that replaces the session's price for an age band and a family-quotient band."""

    __tablename__ = "tariffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    min_quotient: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_quotient: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    price_cents: Mapped[int] = mapped_column(Integer)


class Supplement(Base):
    """An optional extra on a session of an activity (piscine, sortie), priced apart."""

    __tablename__ = "supplements"
    __table_args__ = (UniqueConstraint("activity_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(100))
    price_cents: Mapped[int] = mapped_column(Integer)


class BusRoute(Base):
    __tablename__ = "bus_routes"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))

    stops: Mapped[list[BusStop]] = relationship(lazy="raise", order_by="BusStop.position")


class BusStop(Base):
    __tablename__ = "bus_stops"

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("bus_routes.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    pickup_time: Mapped[time | None] = mapped_column(Time, nullable=True)


class Session(Base):
    """One bookable occurrence of an activity (a day, a half-day, a week)."""

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_positive"),
        CheckConstraint("price_cents >= 0 AND coupons >= 0", name="price_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    day: Mapped[date] = mapped_column(Date, index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer, default=0)
    coupons: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Bumped under the capacity lock: the first write of a booking transaction, so that on
    # SQLite and PostgreSQL alike concurrent writers for one session queue here.
    lock_version: Mapped[int] = mapped_column(Integer, default=0)

    activity: Mapped[Activity] = relationship(lazy="raise")


class Enrolment(Base):
    """A participant's registration to an activity that requires one, approved by staff."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("participant_id", "activity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    status: Mapped[EnrolmentStatus] = mapped_column(
        enum_column(EnrolmentStatus), default=EnrolmentStatus.PENDING
    )
    requested_at: Mapped[datetime]
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    refusal_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

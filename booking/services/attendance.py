"""Attendance (le pointage): staff mark each confirmed booking present, absent or excused,
within a window after the session; absences without notice per household and month; what
was consumed, for invoicing."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    Activity,
    Attendance,
    AttendanceStatus,
    Booking,
    BookingState,
    Household,
    Participant,
    Session,
    StaffRole,
    Structure,
)
from booking.services.rosters import SessionRoster, day_rosters, session_roster
from booking.services.staff_accounts import StaffContext, record_staff_change


class AttendanceRefusal(enum.StrEnum):
    UNKNOWN_BOOKING = "unknown_booking"  # not this structure's, or not this session's
    NOT_CONFIRMED = "not_confirmed"  # state
    SESSION_CANCELLED = "session_cancelled"
    TOO_EARLY = "too_early"  # opens: datetime
    TOO_LATE = "too_late"  # until: datetime


class AttendanceRefused(Exception):
    """An attendance mark the rules refuse; `params` say what the staff need to know."""

    def __init__(self, code: AttendanceRefusal, /, **params: Any) -> None:
        super().__init__(code.value)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Window:
    """When a session's attendance may be marked: from the start of its first day until
    `until_hour` of the day after its last day (local time). Managers may correct later."""

    opens: datetime
    closes: datetime

    def refusal(self, now: datetime, role: StaffRole) -> AttendanceRefused | None:
        if now < self.opens:
            return AttendanceRefused(AttendanceRefusal.TOO_EARLY, opens=self.opens)
        if now >= self.closes and not role.allows(StaffRole.MANAGER):
            return AttendanceRefused(AttendanceRefusal.TOO_LATE, until=self.closes)
        return None


def attendance_window(
    starts_at: datetime, ends_at: datetime, tz: ZoneInfo, until_hour: int
) -> Window:
    first_day = starts_at.astimezone(tz).date()
    # A session ending at midnight ends on the day before.
    last_day = (ends_at - timedelta(microseconds=1)).astimezone(tz).date()
    hour = min(max(until_hour, 0), 23)
    return Window(
        opens=datetime.combine(first_day, time(0), tz),
        closes=datetime.combine(last_day + timedelta(days=1), time(hour), tz),
    )


async def _session_and_structure(
    db: AsyncSession, structure_id: int, session_id: int
) -> tuple[Session, Structure] | None:
    row = (
        await db.execute(
            select(Session, Structure)
            .join(Activity, Activity.id == Session.activity_id)
            .join(Structure, Structure.id == Activity.structure_id)
            .where(Session.id == session_id, Activity.structure_id == structure_id)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def _window_of(session: Session, structure: Structure) -> Window:
    return attendance_window(
        session.starts_at,
        session.ends_at,
        ZoneInfo(structure.timezone),
        structure.attendance_until_hour,
    )


def _check_session(session: Session, structure: Structure, staff: StaffContext, now: datetime):  # noqa: ANN202
    if session.cancelled_at is not None:
        raise AttendanceRefused(AttendanceRefusal.SESSION_CANCELLED)
    refusal = _window_of(session, structure).refusal(now, staff.role)
    if refusal is not None:
        raise refusal


async def _upsert(
    db: AsyncSession,
    staff: StaffContext,
    booking: Booking,
    status: AttendanceStatus,
    now: datetime,
    existing: Attendance | None,
) -> Attendance:
    previous = existing.status if existing is not None else None
    if existing is None:
        existing = Attendance(
            booking_id=booking.id,
            session_id=booking.session_id,
            participant_id=booking.participant_id,
            household_id=booking.household_id,
            status=status,
            marked_by=staff.id,
            marked_at=now,
        )
        try:
            async with db.begin_nested():  # two tablets tapping the same child at once
                db.add(existing)
        except IntegrityError:
            existing = await db.scalar(
                select(Attendance).where(Attendance.booking_id == booking.id)
            )
            assert existing is not None
            previous = existing.status
    if previous is not None:
        if previous is status:
            return existing
        existing.status = status
        existing.marked_by = staff.id
        existing.marked_at = now
    record_staff_change(
        db,
        staff,
        now,
        "attendance_marked",
        f"booking:{booking.id}",
        household_id=booking.household_id,
        session_id=booking.session_id,
        status=status.value,
        previous=previous.value if previous is not None else None,
    )
    return existing


async def mark_attendance(
    db: AsyncSession,
    staff: StaffContext,
    booking_id: int,
    status: AttendanceStatus,
    now: datetime,
    *,
    session_id: int | None = None,
) -> Attendance:
    """Mark whether a booked child came.

    Rules: only a confirmed booking of the staff member's structure (and of `session_id`
    when given) of a session not cancelled; from the start of the session's first day until
    `Structure.attendance_until_hour` (local time) of the day after its last day; after
    that only a manager (or admin) may correct. One mark per booking, changed in place;
    every change writes a StaffAudit row ("attendance_marked"); marking the same status
    again changes nothing.

    Raises:
        AttendanceRefused: with an AttendanceRefusal code.
    """
    booking = await db.scalar(select(Booking).where(Booking.id == booking_id).with_for_update())
    if booking is None or (session_id is not None and booking.session_id != session_id):
        raise AttendanceRefused(AttendanceRefusal.UNKNOWN_BOOKING)
    found = await _session_and_structure(db, staff.structure_id, booking.session_id)
    if found is None:
        raise AttendanceRefused(AttendanceRefusal.UNKNOWN_BOOKING)
    if booking.state is not BookingState.CONFIRMED:
        raise AttendanceRefused(AttendanceRefusal.NOT_CONFIRMED, state=booking.state)
    _check_session(*found, staff, now)
    existing = await db.scalar(select(Attendance).where(Attendance.booking_id == booking.id))
    return await _upsert(db, staff, booking, status, now, existing)


async def mark_all_present(
    db: AsyncSession, staff: StaffContext, session_id: int, now: datetime
) -> int:
    """Mark present every confirmed booking of the session not marked yet; how many.

    Rules: as `mark_attendance` (structure, cancelled session, window).
    """
    found = await _session_and_structure(db, staff.structure_id, session_id)
    if found is None:
        raise AttendanceRefused(AttendanceRefusal.UNKNOWN_BOOKING)
    _check_session(*found, staff, now)
    marked = select(Attendance.booking_id).where(Attendance.session_id == session_id)
    bookings = (
        await db.scalars(
            select(Booking)
            .where(
                Booking.session_id == session_id,
                Booking.state == BookingState.CONFIRMED,
                Booking.id.not_in(marked),
            )
            .order_by(Booking.id)
        )
    ).all()
    for booking in bookings:
        await _upsert(db, staff, booking, AttendanceStatus.PRESENT, now, None)
    return len(bookings)


# Reading -----------------------------------------------------------------------------------


@dataclass
class SessionAttendance:
    """A session's roster with each booking's mark and whether marks may still change."""

    roster: SessionRoster
    marks: dict[int, AttendanceStatus]
    window: Window

    @property
    def markable(self) -> int:
        return sum(1 for child in self.roster.children if child.confirmed)

    @property
    def counts(self) -> Counter[AttendanceStatus]:
        return Counter(self.marks.values())

    @property
    def unmarked(self) -> int:
        return self.markable - len(self.marks)

    def open_for(self, now: datetime, role: StaffRole) -> bool:
        return self.roster.cancelled_at is None and self.window.refusal(now, role) is None


async def session_attendance(
    db: AsyncSession, structure_id: int, session_id: int
) -> SessionAttendance | None:
    """One session's roster with its marks, or None when not this structure's."""
    found = await _session_and_structure(db, structure_id, session_id)
    roster = await session_roster(db, structure_id, session_id)
    if found is None or roster is None:
        return None
    rows = await db.execute(
        select(Attendance.booking_id, Attendance.status).where(Attendance.session_id == session_id)
    )
    on_roster = {child.booking_id for child in roster.children}
    marks = {booking_id: status for booking_id, status in rows if booking_id in on_roster}
    return SessionAttendance(roster, marks, _window_of(*found))


@dataclass
class DaySessionMarks:
    roster: SessionRoster
    counts: Counter[AttendanceStatus]

    @property
    def marked(self) -> int:
        return sum(self.counts.values())

    @property
    def markable(self) -> int:
        return self.roster.confirmed


async def day_attendance(db: AsyncSession, structure_id: int, day: date) -> list[DaySessionMarks]:
    """The day's sessions (not cancelled) with how many of their children are marked."""
    rosters = (await day_rosters(db, structure_id, day)).sessions
    counts: dict[int, Counter[AttendanceStatus]] = {item.session_id: Counter() for item in rosters}
    if rosters:
        rows = await db.execute(
            select(Attendance.session_id, Attendance.status)
            .join(Booking, Booking.id == Attendance.booking_id)
            .where(
                Attendance.session_id.in_(counts),
                Booking.state == BookingState.CONFIRMED,
            )
        )
        for session_id, status in rows:
            counts[session_id][status] += 1
    return [DaySessionMarks(item, counts[item.session_id]) for item in rosters]


def _month_days(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following


async def attendance_of(
    db: AsyncSession, structure_id: int, year: int, month: int
) -> dict[int, AttendanceStatus]:
    """Every mark of the structure's sessions starting in the month, by booking id (for
    invoices billed on attendance: the billing rule is theirs)."""
    first, following = _month_days(year, month)
    rows = await db.execute(
        select(Attendance.booking_id, Attendance.status)
        .join(Session, Session.id == Attendance.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .where(
            Activity.structure_id == structure_id,
            Session.day >= first,
            Session.day < following,
        )
    )
    return {booking_id: status for booking_id, status in rows}


@dataclass(frozen=True)
class Absence:
    day: date
    first_name: str
    last_name: str
    activity_name: str
    session_label: str


@dataclass
class HouseholdAbsences:
    """A household's absences without notice in a month."""

    household_id: int
    name: str
    reference: str
    absences: list[Absence] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.absences)

    @property
    def children(self) -> list[str]:
        return sorted({f"{item.first_name} {item.last_name}" for item in self.absences})


async def absences_of(
    db: AsyncSession, structure_id: int, year: int, month: int
) -> list[HouseholdAbsences]:
    """Absences without notice (ABSENT, not EXCUSED) of confirmed bookings of sessions in the
    month, per household, most absences first."""
    first, following = _month_days(year, month)
    rows = await db.execute(
        select(
            Household.id,
            Household.name,
            Household.reference,
            Session.day,
            Participant.first_name,
            Participant.last_name,
            Activity.name,
            Session.label,
        )
        .select_from(Attendance)
        .join(Booking, Booking.id == Attendance.booking_id)
        .join(Session, Session.id == Attendance.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .join(Participant, Participant.id == Attendance.participant_id)
        .join(Household, Household.id == Attendance.household_id)
        .where(
            Activity.structure_id == structure_id,
            Attendance.status == AttendanceStatus.ABSENT,
            Booking.state == BookingState.CONFIRMED,
            Session.day >= first,
            Session.day < following,
        )
        .order_by(Session.day, Session.starts_at, Participant.first_name)
    )
    households: dict[int, HouseholdAbsences] = {}
    for household_id, name, reference, day, first_name, last_name, activity, label in rows:
        entry = households.setdefault(
            household_id, HouseholdAbsences(household_id, name, reference)
        )
        entry.absences.append(Absence(day, first_name, last_name, activity, label))
    return sorted(households.values(), key=lambda item: (-item.count, item.name.casefold()))

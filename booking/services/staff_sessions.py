"""The town's sessions in the back office: listing, creating, editing, capacity, cancelling a
session or a whole day, and when booking opens (an activity's opening and its waves).

Every function takes the staff member (`StaffContext`) and reaches only their structure's
rows: an id of another structure is `LookupError` (the page answers 404). Changes to a
session's places run under its capacity lock, as bookings do; every change writes a
`StaffAudit` row, and cancellations a `BookingEvent` per booking naming the staff member.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from booking.models import (
    ACTIVE,
    PLACE_TAKING,
    Activity,
    Booking,
    BookingState,
    Household,
    OpeningWave,
    Session,
    Structure,
)
from booking.services.cancellation import Cancellation, cancel_session
from booking.services.common import lock_session, places_taken
from booking.services.holds import expire_stale_holds, give_freed_places
from booking.services.staff_accounts import StaffContext, record_staff_change


class SessionRefusal(enum.StrEnum):
    """Why the back office refuses a change to a session (translated by the page)."""

    CAPACITY_BELOW_TAKEN = "capacity_below_taken"  # taken
    NEGATIVE = "negative"  # a capacity or a price below zero
    ENDS_BEFORE_START = "ends_before_start"
    PRICE_LOCKED = "price_locked"  # bookings: the price is fixed once someone booked
    CANCELLED = "cancelled"  # the session is cancelled: nothing to change
    REASON_REQUIRED = "reason_required"
    GROUP_REQUIRED = "group_required"


class SessionRefused(Exception):
    def __init__(self, code: SessionRefusal, /, **params: Any) -> None:
        super().__init__(code.value)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class SessionRow:
    """A session as the staff's list shows it."""

    session: Session
    taken: int  # held, awaiting payment or confirmed
    waiting: int  # in line

    @property
    def free(self) -> int:
        return max(self.session.capacity - self.taken, 0)


@dataclass(frozen=True)
class DayImpact:
    """What cancelling a day would do: the sessions, their bookings and families."""

    day: date
    sessions: list[Session]
    bookings: int
    households: int


async def structure_tz(db: AsyncSession, structure_id: int) -> ZoneInfo:
    name = await db.scalar(select(Structure.timezone).where(Structure.id == structure_id))
    return ZoneInfo(name or "Europe/Paris")


async def structure_activities(db: AsyncSession, structure_id: int) -> list[Activity]:
    return list(
        await db.scalars(
            select(Activity).where(Activity.structure_id == structure_id).order_by(Activity.name)
        )
    )


async def staff_activity(db: AsyncSession, staff: StaffContext, activity_id: int) -> Activity:
    """The activity if it is the staff member's structure's, else LookupError."""
    activity = await db.scalar(
        select(Activity)
        .where(Activity.id == activity_id, Activity.structure_id == staff.structure_id)
        .options(selectinload(Activity.waves))
    )
    if activity is None:
        raise LookupError(activity_id)
    return activity


async def staff_session(db: AsyncSession, staff: StaffContext, session_id: int) -> Session:
    """The session (with its activity) if it is the staff member's structure's."""
    session = await db.scalar(
        select(Session)
        .join(Activity, Activity.id == Session.activity_id)
        .where(Session.id == session_id, Activity.structure_id == staff.structure_id)
        .options(joinedload(Session.activity))
    )
    if session is None:
        raise LookupError(session_id)
    return session


async def _counts(db: AsyncSession, session_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    if not session_ids:
        return {}
    rows = await db.execute(
        select(Booking.session_id, Booking.state, func.count(Booking.id))
        .where(Booking.session_id.in_(session_ids), Booking.state.in_(ACTIVE))
        .group_by(Booking.session_id, Booking.state)
    )
    return {(session_id, BookingState(state)): count for session_id, state, count in rows}


async def list_sessions(
    db: AsyncSession,
    structure_id: int,
    *,
    start: date,
    end: date,
    activity_id: int | None = None,
    limit: int = 500,
) -> list[SessionRow]:
    """The structure's sessions from `start` to `end` (days included), with their counts."""
    query = (
        select(Session)
        .join(Activity, Activity.id == Session.activity_id)
        .where(Activity.structure_id == structure_id, Session.day >= start, Session.day <= end)
        .options(joinedload(Session.activity))
        .order_by(Session.starts_at, Activity.name, Session.id)
        .limit(limit)
    )
    if activity_id is not None:
        query = query.where(Session.activity_id == activity_id)
    sessions = list(await db.scalars(query))
    counts = await _counts(db, [session.id for session in sessions])
    return [
        SessionRow(
            session,
            sum(counts.get((session.id, state), 0) for state in PLACE_TAKING),
            counts.get((session.id, BookingState.WAITLISTED), 0),
        )
        for session in sessions
    ]


async def session_row(db: AsyncSession, staff: StaffContext, session_id: int) -> SessionRow:
    session = await staff_session(db, staff, session_id)
    counts = await _counts(db, [session.id])
    return SessionRow(
        session,
        sum(counts.get((session.id, state), 0) for state in PLACE_TAKING),
        counts.get((session.id, BookingState.WAITLISTED), 0),
    )


def _check_values(starts_at: datetime, ends_at: datetime, capacity: int, price_cents: int) -> None:
    if capacity < 0 or price_cents < 0:
        raise SessionRefused(SessionRefusal.NEGATIVE)
    if ends_at <= starts_at:
        raise SessionRefused(SessionRefusal.ENDS_BEFORE_START)


async def create_session(
    db: AsyncSession,
    staff: StaffContext,
    *,
    activity_id: int,
    day: date,
    start: time,
    end: time,
    capacity: int,
    price_cents: int,
    place: str = "",
    label: str = "",
    now: datetime,
) -> Session:
    """A new session of one of the structure's activities; times are local to the structure.

    Rules: it ends after it starts; capacity and price are not negative; the place defaults
    to the activity's.
    """
    activity = await staff_activity(db, staff, activity_id)
    tz = await structure_tz(db, staff.structure_id)
    starts_at = datetime.combine(day, start, tzinfo=tz)
    ends_at = datetime.combine(day, end, tzinfo=tz)
    _check_values(starts_at, ends_at, capacity, price_cents)
    session = Session(
        activity_id=activity.id,
        starts_at=starts_at,
        ends_at=ends_at,
        day=day,
        label=label.strip()[:200],
        place=(place.strip() or activity.place)[:200],
        capacity=capacity,
        price_cents=price_cents,
    )
    db.add(session)
    await db.flush()
    record_staff_change(
        db,
        staff,
        now,
        "session_created",
        f"session:{session.id}",
        activity_id=activity.id,
        day=day.isoformat(),
        capacity=capacity,
        price_cents=price_cents,
    )
    return session


async def edit_session(
    db: AsyncSession,
    staff: StaffContext,
    session_id: int,
    *,
    start: time,
    end: time,
    place: str,
    label: str,
    price_cents: int,
    now: datetime,
) -> Session:
    """Change a session's times (same day), place, label and price.

    Rules: a cancelled session does not change; the price changes only while nobody is
    booked or in line (a booking keeps the price it was made at: two prices for one session
    would puzzle families and invoices). The day does not change: cancel and create instead,
    so that the booked families are told.
    """
    await staff_session(db, staff, session_id)
    session = await lock_session(db, session_id)  # the price check races with bookings
    if session.cancelled_at is not None:
        raise SessionRefused(SessionRefusal.CANCELLED)
    tz = await structure_tz(db, staff.structure_id)
    starts_at = datetime.combine(session.day, start, tzinfo=tz)
    ends_at = datetime.combine(session.day, end, tzinfo=tz)
    _check_values(starts_at, ends_at, session.capacity, price_cents)
    if price_cents != session.price_cents:
        booked = await db.scalar(
            select(func.count(Booking.id)).where(
                Booking.session_id == session.id, Booking.state.in_(ACTIVE)
            )
        )
        if booked:
            raise SessionRefused(SessionRefusal.PRICE_LOCKED, bookings=booked)
    before = {
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
        "place": session.place,
        "label": session.label,
        "price_cents": session.price_cents,
    }
    session.starts_at, session.ends_at = starts_at, ends_at
    session.place = place.strip()[:200]
    session.label = label.strip()[:200]
    session.price_cents = price_cents
    after = {
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        "place": session.place,
        "label": session.label,
        "price_cents": price_cents,
    }
    changed = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if changed:
        record_staff_change(db, staff, now, "session_edited", f"session:{session.id}", **changed)
    return session


async def set_capacity(
    db: AsyncSession, staff: StaffContext, session_id: int, capacity: int, *, now: datetime
) -> Session:
    """Change how many places a session has, under its capacity lock.

    Rules: a cut below the places taken (held, awaiting payment, confirmed) is refused with
    their number: nobody is ever cancelled by a cut. A raise gives the new places to the
    waitlist at once, first come first served (`give_freed_places`: held or confirmed, and
    the family told).
    """
    await staff_session(db, staff, session_id)
    session = await lock_session(db, session_id)
    if session.cancelled_at is not None:
        raise SessionRefused(SessionRefusal.CANCELLED)
    if capacity < 0:
        raise SessionRefused(SessionRefusal.NEGATIVE)
    await expire_stale_holds(db, session, now)  # an expired hold must not block a cut
    taken = await places_taken(db, session.id)
    if capacity < taken:
        raise SessionRefused(SessionRefusal.CAPACITY_BELOW_TAKEN, taken=taken)
    before = session.capacity
    if capacity == before:
        return session
    session.capacity = capacity
    record_staff_change(
        db, staff, now, "capacity_changed", f"session:{session.id}", before=before, after=capacity
    )
    await db.flush()
    if capacity > before:
        await give_freed_places(db, session, now, staff.actor)
    return session


async def cancel_one_session(
    db: AsyncSession, staff: StaffContext, session_id: int, *, reason: str, now: datetime
) -> list[Cancellation]:
    """The town cancels one session with a reason: every booking is cancelled, refunded and
    its family told (`cancel_session`)."""
    reason = reason.strip()[:300]
    if not reason:
        raise SessionRefused(SessionRefusal.REASON_REQUIRED)
    session = await staff_session(db, staff, session_id)
    if session.cancelled_at is not None:
        raise SessionRefused(SessionRefusal.CANCELLED)
    done = await cancel_session(
        db, actor=staff.actor, session_id=session_id, now=now, reason=reason
    )
    record_staff_change(
        db,
        staff,
        now,
        "session_cancelled",
        f"session:{session_id}",
        reason=reason,
        bookings=len(done),
        households=len({item.booking.household_id for item in done}),
    )
    return done


async def day_impact(
    db: AsyncSession,
    structure_id: int,
    day: date,
    activity_ids: Sequence[int] = (),
) -> DayImpact:
    """The sessions of the structure that day still on (of `activity_ids` when given), and
    how many bookings and families cancelling them would touch."""
    query = (
        select(Session)
        .join(Activity, Activity.id == Session.activity_id)
        .where(
            Activity.structure_id == structure_id,
            Session.day == day,
            Session.cancelled_at.is_(None),
        )
        .options(joinedload(Session.activity))
        .order_by(Session.id)
    )
    if activity_ids:
        query = query.where(Session.activity_id.in_(activity_ids))
    sessions = list(await db.scalars(query))
    ids = [session.id for session in sessions]
    bookings, households = 0, 0
    if ids:
        bookings, households = (
            await db.execute(
                select(
                    func.count(Booking.id), func.count(func.distinct(Booking.household_id))
                ).where(Booking.session_id.in_(ids), Booking.state.in_(ACTIVE))
            )
        ).one()
    return DayImpact(day, sessions, bookings or 0, households or 0)


async def cancel_day(
    db: AsyncSession,
    staff: StaffContext,
    day: date,
    *,
    reason: str,
    now: datetime,
    activity_ids: Sequence[int] = (),
) -> list[Cancellation]:
    """Cancel every session of the structure that day (or of the chosen activities), each as
    `cancel_one_session` does; sessions are locked in id order (no deadlock with a sweep)."""
    reason = reason.strip()[:300]
    if not reason:
        raise SessionRefused(SessionRefusal.REASON_REQUIRED)
    for activity_id in activity_ids:
        await staff_activity(db, staff, activity_id)
    impact = await day_impact(db, staff.structure_id, day, activity_ids)
    done: list[Cancellation] = []
    for session in impact.sessions:
        done += await cancel_session(
            db, actor=staff.actor, session_id=session.id, now=now, reason=reason
        )
    record_staff_change(
        db,
        staff,
        now,
        "day_cancelled",
        f"day:{day.isoformat()}",
        reason=reason,
        activities=list(activity_ids),
        sessions=[session.id for session in impact.sessions],
        bookings=len(done),
        households=len({item.booking.household_id for item in done}),
    )
    return done


# When booking opens -----------------------------------------------------------------------


async def household_groups(db: AsyncSession, structure_id: int) -> list[str]:
    """The structure's household groups (resident, non-resident…), for the waves' form."""
    return sorted(
        await db.scalars(
            select(Household.group).where(Household.structure_id == structure_id).distinct()
        )
    )


async def set_opening(
    db: AsyncSession,
    staff: StaffContext,
    activity_id: int,
    opens_at: datetime | None,
    *,
    now: datetime,
) -> Activity:
    """When booking opens for every household without a wave of its own (None: open now)."""
    activity = await staff_activity(db, staff, activity_id)
    before = activity.opens_at
    activity.opens_at = opens_at
    record_staff_change(
        db,
        staff,
        now,
        "opening_set",
        f"activity:{activity.id}",
        before=before.isoformat() if before else None,
        after=opens_at.isoformat() if opens_at else None,
    )
    return activity


async def set_wave(
    db: AsyncSession,
    staff: StaffContext,
    activity_id: int,
    group: str,
    opens_at: datetime | None,
    *,
    now: datetime,
) -> None:
    """Booking opens at `opens_at` for the household group (residents first…); None removes
    the group's wave, which then follows the activity's opening."""
    group = group.strip()[:32]
    if not group:
        raise SessionRefused(SessionRefusal.GROUP_REQUIRED)
    activity = await staff_activity(db, staff, activity_id)
    wave = next((item for item in activity.waves if item.household_group == group), None)
    before = wave.opens_at.isoformat() if wave is not None else None
    if opens_at is None:
        await db.execute(
            delete(OpeningWave).where(
                OpeningWave.activity_id == activity.id, OpeningWave.household_group == group
            )
        )
    elif wave is None:
        db.add(OpeningWave(activity_id=activity.id, household_group=group, opens_at=opens_at))
    else:
        wave.opens_at = opens_at
    record_staff_change(
        db,
        staff,
        now,
        "wave_set",
        f"activity:{activity.id}",
        group=group,
        before=before,
        after=opens_at.isoformat() if opens_at else None,
    )

"""The daily staff digest (compte rendu): tomorrow's counts, the previous day's bookings and
cancellations, waitlist pressure and anomalies, per structure, as plain data; and the claim
that makes it go out once a day across server processes.

Anomalies:
- a session filled within an hour of its opening (the activity's opening date, or its first
  booking when it has none), reported the day it filled;
- many cancellations: parents cancelled more than 20 % of a session's bookings in the day
  (two at least, so that one cancellation of a small group is not an alarm);
- dead notifications: messages to families the outbox gave up on, waiting for the operator.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    PLACE_TAKING,
    Activity,
    Booking,
    BookingEvent,
    BookingState,
    EventKind,
    Household,
    OutboxMessage,
    OutboxState,
    Session,
    StaffAudit,
    StaffMember,
    Structure,
)
from booking.services.staff_accounts import record_staff_change

DIGEST_ACTION = "digest_sent"
FAST_FILL = timedelta(hours=1)
CANCELLATION_SHARE = 0.2
CANCELLATION_MINIMUM = 2


@dataclass(frozen=True)
class ActivityCount:
    activity: str
    booked: int
    capacity: int


@dataclass(frozen=True)
class SessionNote:
    """A session the digest names: its waitlist, how fast it filled, its cancellations."""

    activity: str
    day: date
    label: str
    count: int = 0  # waitlisted, or cancelled in the day
    out_of: int = 0  # the session's bookings (for cancellations)
    minutes: int = 0  # from opening to full


@dataclass
class Digest:
    structure_id: int
    town: str
    day: date  # the digest's day (local); it reports the day before and tomorrow
    tomorrow: list[ActivityCount] = field(default_factory=list)
    bookings: int = 0
    cancellations: int = 0
    waitlists: list[SessionNote] = field(default_factory=list)
    fast_fills: list[SessionNote] = field(default_factory=list)
    cancellation_spikes: list[SessionNote] = field(default_factory=list)
    dead_notifications: int = 0

    @property
    def reported_day(self) -> date:
        return self.day - timedelta(days=1)


def digest_due(structure: Structure, now: datetime) -> date | None:
    """The local day whose digest is due at `now` (from the structure's digest hour on)."""
    local = now.astimezone(ZoneInfo(structure.timezone))
    return local.date() if local.hour >= structure.digest_hour else None


async def claim_digest(db: AsyncSession, structure_id: int, day: date, now: datetime) -> bool:
    """Record that the day's digest goes out; False if it already went (another process).

    The structure's row is locked while checking (SELECT … FOR UPDATE; SQLite has one
    writer), and the record is committed before sending: a crash while sending loses that
    day's digest rather than sending it twice.
    """
    await db.scalar(select(Structure.id).where(Structure.id == structure_id).with_for_update())
    already = await db.scalar(
        select(StaffAudit.id).where(
            StaffAudit.structure_id == structure_id,
            StaffAudit.action == DIGEST_ACTION,
            StaffAudit.target == day.isoformat(),
        )
    )
    if already is not None:
        return False
    record_staff_change(db, None, now, DIGEST_ACTION, day.isoformat(), structure_id=structure_id)
    await db.flush()
    return True


async def digest_recipients(db: AsyncSession, structure_id: int) -> list[str]:
    """The e-mail addresses of the structure's active staff members."""
    return list(
        (
            await db.scalars(
                select(StaffMember.email)
                .where(
                    StaffMember.structure_id == structure_id,
                    StaffMember.email != "",
                    StaffMember.disabled_at.is_(None),
                )
                .order_by(StaffMember.id)
            )
        ).all()
    )


async def compose_digest(db: AsyncSession, structure_id: int, day: date) -> Digest:
    """What the structure's staff read on the morning of `day`."""
    structure = await db.get(Structure, structure_id)
    assert structure is not None
    tz = ZoneInfo(structure.timezone)
    digest = Digest(structure_id, structure.name, day)
    start = datetime.combine(day - timedelta(days=1), time(0), tzinfo=tz)
    end = datetime.combine(day, time(0), tzinfo=tz)
    mine = Activity.structure_id == structure_id

    # Tomorrow: places taken against capacity, per activity.
    tomorrow = day + timedelta(days=1)
    taken = (
        select(Booking.session_id, func.count().label("taken"))
        .where(Booking.state.in_(PLACE_TAKING))
        .group_by(Booking.session_id)
        .subquery()
    )
    rows = await db.execute(
        select(Activity.name, func.sum(func.coalesce(taken.c.taken, 0)), func.sum(Session.capacity))
        .join(Session, Session.activity_id == Activity.id)
        .outerjoin(taken, taken.c.session_id == Session.id)
        .where(mine, Session.day == tomorrow, Session.cancelled_at.is_(None))
        .group_by(Activity.name)
        .order_by(Activity.name)
    )
    digest.tomorrow = [ActivityCount(name, int(b or 0), int(c or 0)) for name, b, c in rows]

    # The day's movements, from the journal.
    events = await db.execute(
        select(BookingEvent.kind, BookingEvent.session_id, BookingEvent.booking_id)
        .join(Session, Session.id == BookingEvent.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .where(
            mine,
            BookingEvent.at >= start,
            BookingEvent.at < end,
            BookingEvent.kind.in_(
                (EventKind.CONFIRMED, EventKind.CANCELLED, EventKind.CANCELLED_BY_TOWN)
            ),
        )
    )
    cancelled_by_session: Counter[int] = Counter()
    for kind, session_id, _booking_id in events:
        if kind is EventKind.CONFIRMED:
            digest.bookings += 1
        else:
            digest.cancellations += 1
            if kind is EventKind.CANCELLED:
                cancelled_by_session[session_id] += 1

    sessions = {
        session.id: session
        for session in (
            await db.scalars(
                select(Session)
                .join(Activity, Activity.id == Session.activity_id)
                .where(mine, Session.day >= day - timedelta(days=1), Session.cancelled_at.is_(None))
            )
        ).all()
    }
    activities = {
        activity.id: activity for activity in (await db.scalars(select(Activity).where(mine))).all()
    }
    states: dict[int, Counter[BookingState]] = defaultdict(Counter)
    for session_id, state, count in await db.execute(
        select(Booking.session_id, Booking.state, func.count())
        .where(Booking.session_id.in_(list(sessions) or [0]))
        .group_by(Booking.session_id, Booking.state)
    ):
        states[session_id][state] = count

    def note(session: Session, **values: int) -> SessionNote:
        return SessionNote(
            activities[session.activity_id].name, session.day, session.label, **values
        )

    ordered = sorted(sessions.values(), key=lambda s: (s.starts_at, s.id))
    digest.waitlists = [
        note(s, count=states[s.id][BookingState.WAITLISTED])
        for s in ordered
        if s.day >= day and states[s.id][BookingState.WAITLISTED]
    ]
    for s in ordered:
        cancelled = cancelled_by_session[s.id]
        booked = sum(states[s.id][state] for state in PLACE_TAKING) + cancelled
        if cancelled >= CANCELLATION_MINIMUM and cancelled > CANCELLATION_SHARE * booked:
            digest.cancellation_spikes.append(note(s, count=cancelled, out_of=booked))
    full = [s for s in ordered if sum(states[s.id][st] for st in PLACE_TAKING) >= s.capacity]
    digest.fast_fills = await _fast_fills(db, full, activities, start, end, note)

    digest.dead_notifications = (
        await db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .join(Household, Household.id == OutboxMessage.household_id)
            .where(Household.structure_id == structure_id, OutboxMessage.state == OutboxState.DEAD)
        )
    ) or 0
    return digest


async def _fast_fills(db, sessions, activities, start, end, note) -> list[SessionNote]:  # noqa: ANN001
    """Sessions full since the reported day, filled within FAST_FILL of their opening."""
    found = []
    for session in sessions:
        if session.capacity <= 0:
            continue
        times = (
            await db.scalars(
                select(Booking.confirmed_at)
                .where(Booking.session_id == session.id, Booking.state.in_(PLACE_TAKING))
                .where(Booking.confirmed_at.is_not(None))
                .order_by(Booking.confirmed_at)
                .limit(session.capacity)
            )
        ).all()
        if len(times) < session.capacity:
            continue
        filled = times[-1]
        if not start <= filled < end:
            continue
        opened = activities[session.activity_id].opens_at or times[0]
        if filled - opened <= FAST_FILL:
            minutes = max(0, int((filled - opened).total_seconds() // 60))
            found.append(note(session, minutes=minutes))
    return found

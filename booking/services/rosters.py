"""Who comes: a day's sessions of a structure with their rosters (the lists the staff hold at
the door), read in two queries whatever the number of children."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking import rules
from booking.models import (
    ACTIVE,
    Activity,
    Booking,
    BookingState,
    Category,
    Dossier,
    Guardian,
    Participant,
    Session,
    Structure,
)

#: Bookings a roster lists: the place is the child's (pending payment ones are marked so).
ON_ROSTER = (BookingState.CONFIRMED, BookingState.PENDING_PAYMENT)


@dataclass(frozen=True)
class RosterChild:
    """One line of a roster: what the staff need at the door."""

    booking_id: int
    participant_id: int
    household_id: int
    first_name: str
    last_name: str
    birth_date: date
    age: int  # on the session's (first) day
    school_class: str
    notes: str  # allergies, PAI, who may fetch the child
    phones: tuple[str, ...]  # the guardians' phones
    pending_payment: bool

    @property
    def confirmed(self) -> bool:
        return not self.pending_payment


@dataclass
class SessionRoster:
    """A session with its counts and the children booked on it."""

    session_id: int
    activity_id: int
    activity_name: str
    category: Category
    label: str
    place: str
    day: date
    starts_at: datetime
    ends_at: datetime
    capacity: int
    cancelled_at: datetime | None
    confirmed: int = 0
    pending_payment: int = 0
    held: int = 0  # in a basket, not yet checked out: takes a place, not on the roster
    waitlisted: int = 0
    children: list[RosterChild] = field(default_factory=list)

    @property
    def booked(self) -> int:
        """Children on the roster (confirmed or waiting for their payment)."""
        return self.confirmed + self.pending_payment

    @property
    def places_left(self) -> int:
        return max(self.capacity - self.booked - self.held, 0)

    @property
    def title(self) -> str:
        return f"{self.activity_name} · {self.label}" if self.label else self.activity_name


@dataclass
class DayRosters:
    """A structure's sessions of one day: those that take place, and those the town cancelled."""

    day: date
    sessions: list[SessionRoster]
    cancelled: list[SessionRoster]

    def by_activity(self) -> list[tuple[str, list[SessionRoster]]]:
        """The sessions that take place, grouped by activity (in the order of `sessions`)."""
        groups: dict[int, list[SessionRoster]] = {}
        for item in self.sessions:
            groups.setdefault(item.activity_id, []).append(item)
        return [(items[0].activity_name, items) for items in groups.values()]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a local day starts and ends (23 or 25 hours on daylight-saving days)."""
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


async def structure_zone(db: AsyncSession, structure_id: int) -> ZoneInfo:
    name = await db.scalar(select(Structure.timezone).where(Structure.id == structure_id))
    return ZoneInfo(name or "Europe/Paris")


async def day_rosters(db: AsyncSession, structure_id: int, day: date) -> DayRosters:
    """Every session of the structure that takes place on `day` (a stay spanning it too),
    grouped by activity, with its roster; cancelled sessions apart, without roster.

    Rules: the roster lists confirmed bookings and, marked, those waiting for their payment;
    held places count against capacity; the waitlist is counted. Two queries, no N+1.
    """
    start, end = day_bounds(day, await structure_zone(db, structure_id))
    rosters = await _rosters(
        db, structure_id, and_(Session.starts_at < end, Session.ends_at > start)
    )
    return DayRosters(
        day=day,
        sessions=[item for item in rosters if item.cancelled_at is None],
        cancelled=[item for item in rosters if item.cancelled_at is not None],
    )


async def session_roster(
    db: AsyncSession, structure_id: int, session_id: int
) -> SessionRoster | None:
    """One session's roster, or None when the session is not this structure's."""
    found = await _rosters(db, structure_id, Session.id == session_id)
    return found[0] if found else None


async def _rosters(db: AsyncSession, structure_id: int, which) -> list[SessionRoster]:  # noqa: ANN001
    rows = (
        await db.execute(
            select(
                Session.id,
                Session.activity_id,
                Activity.name,
                Activity.category,
                Session.label,
                Session.place,
                Activity.place,
                Session.day,
                Session.starts_at,
                Session.ends_at,
                Session.capacity,
                Session.cancelled_at,
                Booking.id,
                Booking.state,
                Booking.household_id,
                Participant.id,
                Participant.first_name,
                Participant.last_name,
                Participant.birth_date,
                Participant.school_class,
                Dossier.notes,
                Structure.timezone,
            )
            .join(Activity, Activity.id == Session.activity_id)
            .join(Structure, Structure.id == Activity.structure_id)
            .outerjoin(Booking, and_(Booking.session_id == Session.id, Booking.state.in_(ACTIVE)))
            .outerjoin(Participant, Participant.id == Booking.participant_id)
            .outerjoin(
                Dossier,
                and_(
                    Dossier.participant_id == Booking.participant_id,
                    Dossier.structure_id == structure_id,
                ),
            )
            .where(Activity.structure_id == structure_id, which)
            .order_by(Activity.name, Activity.id, Session.starts_at, Session.id)
        )
    ).all()
    sessions: dict[int, SessionRoster] = {}
    lines: list[tuple[SessionRoster, tuple]] = []
    for row in rows:
        (session_id, activity_id, name, category, label, place, activity_place, day) = row[:8]
        roster = sessions.get(session_id)
        if roster is None:
            zone = ZoneInfo(row[21] or "Europe/Paris")  # times read on the town's clock
            roster = sessions[session_id] = SessionRoster(
                session_id=session_id,
                activity_id=activity_id,
                activity_name=name,
                category=category,
                label=label,
                place=place or activity_place,
                day=day,
                starts_at=row[8].astimezone(zone),
                ends_at=row[9].astimezone(zone),
                capacity=row[10],
                cancelled_at=row[11].astimezone(zone) if row[11] is not None else None,
            )
        state = row[13]
        if state is None:
            continue
        if state is BookingState.WAITLISTED:
            roster.waitlisted += 1
        elif state is BookingState.HELD:
            roster.held += 1
        else:
            if state is BookingState.CONFIRMED:
                roster.confirmed += 1
            else:
                roster.pending_payment += 1
            lines.append((roster, row))
    phones = await _phones(db, {row[14] for _, row in lines})
    for roster, row in lines:
        roster.children.append(
            RosterChild(
                booking_id=row[12],
                participant_id=row[15],
                household_id=row[14],
                first_name=row[16],
                last_name=row[17],
                birth_date=row[18],
                age=rules.age_on(row[18], roster.day),
                school_class=row[19] or "",
                notes=(row[20] or "").strip(),
                phones=phones.get(row[14], ()),
                pending_payment=row[13] is BookingState.PENDING_PAYMENT,
            )
        )
    for roster in sessions.values():
        roster.children.sort(key=lambda child: (child.last_name.casefold(), child.first_name))
    return list(sessions.values())


async def _phones(db: AsyncSession, household_ids: set[int]) -> dict[int, tuple[str, ...]]:
    if not household_ids:
        return {}
    found: dict[int, list[str]] = defaultdict(list)
    rows = await db.execute(
        select(Guardian.household_id, Guardian.phone)
        .where(Guardian.household_id.in_(household_ids), Guardian.phone != "")
        .order_by(Guardian.household_id, Guardian.id)
    )
    for household_id, phone in rows:
        if phone not in found[household_id]:
            found[household_id].append(phone)
    return {key: tuple(value) for key, value in found.items()}

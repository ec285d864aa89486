"""The staff dashboard's figures: fill rates, waitlists, late cancellations, no-shows, money.

Every figure is aggregated by the database (GROUP BY per activity and day, or per month):
a year of bookings of a whole town never comes into Python row by row. Days are folded into
ISO weeks here, a few hundred small rows at most.

Definitions (what the staff guide says):
- fill rate: places taken (held, awaiting payment or confirmed bookings) over the capacity of
  the sessions not cancelled, per activity and ISO week of the session's day;
- waitlist pressure: bookings still waitlisted on those sessions;
- late cancellation: a booking cancelled by the household (a `cancelled` event, whoever
  clicked; the town's own cancellations are `cancelled_by_town` and do not count) less than
  LATE_CANCELLATION_HOURS before the session started, counted in the session's week;
- no-show: attendance marked absent without notice, counted in the session's week;
- paid online: payments the provider settled (state paid; refunds excluded, a payment given
  back no longer counts), per month of settlement in the town's time zone;
- invoiced: monthly invoices issued for that month, less credit notes;
- unpaid links: payment links still open (created, not expired), now.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from booking.models import (
    PLACE_TAKING,
    Activity,
    Attendance,
    AttendanceStatus,
    Booking,
    BookingEvent,
    BookingState,
    EventKind,
    Household,
    Invoice,
    InvoiceKind,
    Payment,
    PaymentPurpose,
    PaymentState,
    Session,
    Structure,
)

LATE_CANCELLATION_HOURS = 48
WEEKS_BEFORE = 12
WEEKS_AFTER = 4
MAX_DAYS = 400  # a school year and a bit: the widest period the page draws
UNPAID_SHOWN = 20


@dataclass
class Cell:
    """One activity's figures for one week (or the sum of all activities)."""

    booked: int = 0
    capacity: int = 0
    waitlisted: int = 0
    late_cancellations: int = 0
    no_shows: int = 0

    @property
    def rate(self) -> float | None:
        """Places taken over capacity, 0..1 (None without sessions)."""
        return self.booked / self.capacity if self.capacity else None

    def add(self, other: Cell) -> None:
        self.booked += other.booked
        self.capacity += other.capacity
        self.waitlisted += other.waitlisted
        self.late_cancellations += other.late_cancellations
        self.no_shows += other.no_shows


@dataclass
class ActivityFigures:
    id: int
    name: str
    weeks: dict[date, Cell] = field(default_factory=dict)

    def week(self, monday: date) -> Cell:
        return self.weeks.get(monday) or Cell()


@dataclass(frozen=True)
class MonthMoney:
    month: date  # the first of the month
    paid_cents: int
    payments: int
    invoiced_cents: int
    invoices: int


@dataclass(frozen=True)
class UnpaidLink:
    payment_id: int
    household_id: int
    household_name: str
    amount_cents: int
    created_at: datetime
    expires_at: datetime | None


@dataclass
class Dashboard:
    start: date
    end: date
    weeks: list[date]
    activities: list[ActivityFigures]
    totals: dict[date, Cell]
    months: list[MonthMoney]
    unpaid_count: int
    unpaid_cents: int
    unpaid: list[UnpaidLink]


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def default_period(today: date) -> tuple[date, date]:
    """The last WEEKS_BEFORE weeks and the next WEEKS_AFTER, whole ISO weeks."""
    first = monday(today) - timedelta(weeks=WEEKS_BEFORE)
    last = monday(today) + timedelta(weeks=WEEKS_AFTER + 1, days=-1)
    return first, last


def clamp_period(start: date, end: date) -> tuple[date, date]:
    """Put the days in order and keep at most MAX_DAYS of them (from `start`)."""
    if end < start:
        start, end = end, start
    return start, min(end, start + timedelta(days=MAX_DAYS - 1))


def _months(start: date, end: date) -> list[date]:
    months, current = [], start.replace(day=1)
    while current <= end:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def _hours_before_start(db: AsyncSession) -> ColumnElement:
    """Hours between a booking event and its session's start, in each dialect's arithmetic."""
    if db.get_bind().dialect.name == "sqlite":
        return (func.julianday(Session.starts_at) - func.julianday(BookingEvent.at)) * 24
    return func.extract("epoch", Session.starts_at - BookingEvent.at) / 3600


async def dashboard(
    db: AsyncSession, structure_id: int, start: date, end: date, now: datetime
) -> Dashboard:
    """The dashboard of one structure for the sessions whose day is in [start, end] and the
    money of the months those days touch. Figures as defined in this module's docstring."""
    start, end = clamp_period(start, end)
    structure = await db.get(Structure, structure_id)
    tz = ZoneInfo(structure.timezone if structure else "Europe/Paris")
    in_period = (
        Activity.structure_id == structure_id,
        Session.day >= start,
        Session.day <= end,
    )
    names = dict(
        (
            await db.execute(
                select(Activity.id, Activity.name).where(Activity.structure_id == structure_id)
            )
        ).all()
    )
    cells: dict[int, dict[date, Cell]] = defaultdict(lambda: defaultdict(Cell))

    # The period's sessions first; bookings are then counted per session on their
    # (session_id, state) index alone: joining them to sessions made SQLite scan every session.
    in_period_sessions = (
        select(Session.id)
        .join(Activity, Activity.id == Session.activity_id)
        .where(*in_period, Session.cancelled_at.is_(None))
    )
    where: dict[int, tuple[int, date]] = {}
    sessions = await db.execute(
        select(Session.id, Session.activity_id, Session.day, Session.capacity)
        .join(Activity, Activity.id == Session.activity_id)
        .where(*in_period, Session.cancelled_at.is_(None))
    )
    for session_id, activity_id, day, capacity in sessions:
        where[session_id] = (activity_id, monday(day))
        cells[activity_id][monday(day)].capacity += capacity

    states = [*PLACE_TAKING, BookingState.WAITLISTED]
    bookings = await db.execute(
        select(Booking.session_id, Booking.state, func.count())
        .where(Booking.session_id.in_(in_period_sessions), Booking.state.in_(states))
        .group_by(Booking.session_id, Booking.state)
    )
    for session_id, state, count in bookings:
        activity_id, week = where[session_id]
        cell = cells[activity_id][week]
        if state == BookingState.WAITLISTED:
            cell.waitlisted += count
        else:
            cell.booked += count

    late = await db.execute(
        select(Session.activity_id, Session.day, func.count(BookingEvent.id))
        .join(Session, Session.id == BookingEvent.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .where(
            *in_period,
            BookingEvent.kind == EventKind.CANCELLED,
            _hours_before_start(db) < LATE_CANCELLATION_HOURS,
        )
        .group_by(Session.activity_id, Session.day)
    )
    for activity_id, day, count in late:
        cells[activity_id][monday(day)].late_cancellations += count

    absent = await db.execute(
        select(Session.activity_id, Session.day, func.count(Attendance.id))
        .join(Session, Session.id == Attendance.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .where(*in_period, Attendance.status == AttendanceStatus.ABSENT)
        .group_by(Session.activity_id, Session.day)
    )
    for activity_id, day, count in absent:
        cells[activity_id][monday(day)].no_shows += count

    weeks = []
    week = monday(start)
    while week <= end:
        weeks.append(week)
        week += timedelta(weeks=1)
    activities = [
        ActivityFigures(activity_id, names.get(activity_id, "?"), dict(by_week))
        for activity_id, by_week in cells.items()
    ]
    activities.sort(key=lambda figures: (figures.name.lower(), figures.id))
    totals: dict[date, Cell] = {week: Cell() for week in weeks}
    for figures in activities:
        for week, cell in figures.weeks.items():
            totals.setdefault(week, Cell()).add(cell)

    months = await _money(db, structure_id, _months(start, end), tz)
    unpaid_count, unpaid_cents, unpaid = await _unpaid(db, structure_id, now)
    return Dashboard(
        start, end, weeks, activities, totals, months, unpaid_count, unpaid_cents, unpaid
    )


async def _money(
    db: AsyncSession, structure_id: int, months: list[date], tz: ZoneInfo
) -> list[MonthMoney]:
    """Paid online per month of settlement (local months, bucketed by instants so that both
    databases agree whatever their time zone support), and invoiced per billed month."""
    edges = [datetime.combine(month, time(), tzinfo=tz) for month in months]
    after_last = (months[-1] + timedelta(days=32)).replace(day=1)
    edges.append(datetime.combine(after_last, time(), tzinfo=tz))
    bucket = case(
        *((Payment.settled_at < edge, index) for index, edge in enumerate(edges[1:])),
        else_=-1,
    )
    paid = await db.execute(
        select(bucket, func.count(Payment.id), func.sum(Payment.amount_cents))
        .join(Household, Household.id == Payment.household_id)
        .where(
            Household.structure_id == structure_id,
            Payment.state == PaymentState.PAID,
            Payment.purpose != PaymentPurpose.REFUND,
            Payment.settled_at >= edges[0],
            Payment.settled_at < edges[-1],
        )
        .group_by(bucket)
    )
    paid_by_month = {index: (count, int(total or 0)) for index, count, total in paid}
    signed = case(
        (Invoice.kind == InvoiceKind.CREDIT_NOTE, -func.abs(Invoice.total_cents)),
        else_=Invoice.total_cents,
    )
    period = [(month.year, month.month) for month in months]
    invoiced = await db.execute(
        select(
            Invoice.year,
            Invoice.month,
            func.count(Invoice.id).filter(Invoice.kind == InvoiceKind.INVOICE),
            func.sum(signed),
        )
        .where(
            Invoice.structure_id == structure_id,
            or_(*((Invoice.year == year) & (Invoice.month == month) for year, month in period)),
        )
        .group_by(Invoice.year, Invoice.month)
    )
    invoiced_by_month = {
        (year, month): (count, int(total or 0)) for year, month, count, total in invoiced
    }
    rows = []
    for index, month in enumerate(months):
        payments, paid_cents = paid_by_month.get(index, (0, 0))
        invoices, invoiced_cents = invoiced_by_month.get((month.year, month.month), (0, 0))
        rows.append(MonthMoney(month, paid_cents, payments, invoiced_cents, invoices))
    return rows


async def _unpaid(
    db: AsyncSession, structure_id: int, now: datetime
) -> tuple[int, int, list[UnpaidLink]]:
    """Payment links still open at `now`: how many, how much, and the oldest ones."""
    open_links = (
        Household.structure_id == structure_id,
        Payment.state == PaymentState.CREATED,
        Payment.purpose != PaymentPurpose.REFUND,
        or_(Payment.expires_at.is_(None), Payment.expires_at > now),
    )
    count, total = (
        await db.execute(
            select(func.count(Payment.id), func.sum(Payment.amount_cents))
            .join(Household, Household.id == Payment.household_id)
            .where(*open_links)
        )
    ).one()
    rows = await db.execute(
        select(
            Payment.id,
            Payment.household_id,
            Household.name,
            Payment.amount_cents,
            Payment.created_at,
            Payment.expires_at,
        )
        .join(Household, Household.id == Payment.household_id)
        .where(*open_links)
        .order_by(Payment.created_at, Payment.id)
        .limit(UNPAID_SHOWN)
    )
    return int(count or 0), int(total or 0), [UnpaidLink(*row) for row in rows]

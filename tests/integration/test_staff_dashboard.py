"""The staff dashboard: fill rates, waitlists, late cancellations, no-shows, money and unpaid
links of a small known town, on SQLite and PostgreSQL, as figures and as the page's tables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from booking.clock import PARIS
from booking.models import (
    Attendance,
    AttendanceStatus,
    Booking,
    BookingEvent,
    BookingState,
    Channel,
    EventKind,
    Invoice,
    InvoiceKind,
    Payment,
    PaymentPurpose,
    PaymentState,
    StaffRole,
)
from booking.services.dashboard import dashboard, default_period
from tests import builders
from tests.staff_support import StaffBrowser, make_staff

MONDAY = date(2027, 3, 1)  # the pinned clock's day
NEXT_MONDAY = date(2027, 3, 8)


@dataclass
class Town:
    structure_id: int
    other_structure_id: int
    canteen_id: int
    leisure_id: int


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


async def _town(database, now: datetime) -> Town:
    """Two activities and one of another town, with bookings, events, attendance and money:

    - Cantine (capacity 4): Tuesday 2 March 3 booked, Thursday 4 March 3 booked (+1
      cancelled), Friday 5 March cancelled by the town (1 booked, not counted): 6 / 8 = 75 %;
    - Mercredis loisirs (capacity 2, waitlist): Wednesday 10 March 2 booked, 2 waitlisted;
    - Thursday's cancellations: one 24 h before (late), one 72 h before (not late), one by the
      town 12 h before (not a household's); attendance on Tuesday: present, absent, excused;
    - payments: 15 € paid in February, 20 € paid at 00:30 on 1 March (23:30 UTC on 28
      February: a March payment), a refund and a refused payment (not counted); open links:
      12 € and 3 € (an expired one and another town's are not counted);
    - invoices: February 42.50 € and a 10 € credit note.
    """
    async with database.writing() as db:
        town = await builders.structure(db)
        other = await builders.structure(db)
        canteen = await builders.activity(db, town, name="Cantine", min_age=0, max_age=None)
        leisure = await builders.activity(
            db, town, name="Mercredis loisirs", waitlist=True, min_age=0, max_age=None
        )
        foreign = await builders.activity(db, other, name="Piscine d'ailleurs")
        tuesday = await builders.session(
            db, canteen, starts_at=_at(date(2027, 3, 2), 12), capacity=4, hours=1
        )
        thursday = await builders.session(
            db, canteen, starts_at=_at(date(2027, 3, 4), 12), capacity=4, hours=1
        )
        friday = await builders.session(
            db, canteen, starts_at=_at(date(2027, 3, 5), 12), capacity=10, hours=1
        )
        friday.cancelled_at = now
        wednesday = await builders.session(
            db, leisure, starts_at=_at(date(2027, 3, 10), 9), capacity=2
        )
        elsewhere = await builders.session(
            db, foreign, starts_at=_at(date(2027, 3, 3), 9), capacity=5
        )
        families = [await builders.family(db, town, name=f"FAMILLE{i}") for i in range(5)]
        stranger = await builders.family(db, other, name="AILLEURS")

        def book(session, family, state=BookingState.CONFIRMED):  # noqa: ANN001, ANN202
            row = Booking(
                session_id=session.id,
                participant_id=family.child.id,
                household_id=family.household.id,
                state=state,
                created_at=now - timedelta(days=10),
            )
            db.add(row)
            return row

        tuesday_bookings = [book(tuesday, families[i]) for i in range(3)]
        for i in range(3):
            book(thursday, families[i])
        late = book(thursday, families[3], BookingState.CANCELLED)
        early = book(thursday, families[4], BookingState.CANCELLED)
        book(friday, families[0])
        for i in range(2):
            book(wednesday, families[i])
        for i in range(2, 4):
            book(wednesday, families[i], BookingState.WAITLISTED)
        book(elsewhere, stranger)
        await db.flush()

        def event(kind, booking, at):  # noqa: ANN001, ANN202
            db.add(
                BookingEvent(
                    at=at,
                    kind=kind,
                    booking_id=booking.id,
                    session_id=booking.session_id,
                    household_id=booking.household_id,
                    actor="test",
                    channel=Channel.WEB,
                    data={},
                )
            )

        event(EventKind.CANCELLED, late, thursday.starts_at - timedelta(hours=24))
        event(EventKind.CANCELLED, early, thursday.starts_at - timedelta(hours=72))
        event(
            EventKind.CANCELLED_BY_TOWN,
            tuesday_bookings[0],
            thursday.starts_at - timedelta(hours=12),
        )
        for booking, status in zip(
            tuesday_bookings,
            (AttendanceStatus.PRESENT, AttendanceStatus.ABSENT, AttendanceStatus.EXCUSED),
            strict=True,
        ):
            db.add(
                Attendance(
                    booking_id=booking.id,
                    session_id=booking.session_id,
                    participant_id=booking.participant_id,
                    household_id=booking.household_id,
                    status=status,
                    marked_at=now,
                )
            )

        home = families[0].household.id

        def payment(
            amount, state, settled=None, purpose=PaymentPurpose.BASKET, expires=None, household=home
        ):  # noqa: ANN001, ANN202, E501
            db.add(
                Payment(
                    household_id=household,
                    purpose=purpose,
                    amount_cents=amount,
                    state=state,
                    created_at=(settled or now) - timedelta(minutes=5),
                    settled_at=settled,
                    expires_at=expires,
                )
            )

        payment(1500, PaymentState.PAID, _at(date(2027, 2, 10), 10))
        payment(2000, PaymentState.PAID, _at(date(2027, 3, 1), 0, 30))
        payment(500, PaymentState.PAID, _at(date(2027, 2, 11), 10), purpose=PaymentPurpose.REFUND)
        payment(999, PaymentState.REFUSED, _at(date(2027, 2, 12), 10))
        payment(1200, PaymentState.CREATED, expires=now + timedelta(hours=1))
        payment(300, PaymentState.CREATED)
        payment(800, PaymentState.CREATED, expires=now - timedelta(hours=1))
        payment(700, PaymentState.CREATED, household=stranger.household.id)
        for number, kind, total in (
            (1, InvoiceKind.INVOICE, 4250),
            (2, InvoiceKind.CREDIT_NOTE, -1000),
        ):
            db.add(
                Invoice(
                    structure_id=town.id,
                    household_id=home,
                    number=f"F2027-{number:05d}",
                    sequence=number,
                    kind=kind,
                    year=2027,
                    month=2,
                    household_name="FAMILLE0",
                    household_reference="REF",
                    lines=[],
                    total_cents=total,
                    issued_at=now,
                )
            )
        return Town(town.id, other.id, canteen.id, leisure.id)


async def test_the_dashboard_counts_fill_waitlist_late_cancellations_and_no_shows(database, clock):
    town = await _town(database, clock.now())
    start, end = default_period(MONDAY)
    async with database.reading() as db:
        board = await dashboard(db, town.structure_id, start, end, clock.now())

    assert (start, end) == (date(2026, 12, 7), date(2027, 4, 4))
    assert len(board.weeks) == 17 and board.weeks[12] == MONDAY
    assert [activity.name for activity in board.activities] == ["Cantine", "Mercredis loisirs"]
    canteen, leisure = board.activities
    this_week = canteen.week(MONDAY)
    assert (this_week.booked, this_week.capacity, this_week.rate) == (6, 8, 0.75)
    assert (this_week.late_cancellations, this_week.no_shows) == (1, 1)
    next_week = leisure.week(NEXT_MONDAY)
    assert (next_week.booked, next_week.capacity, next_week.waitlisted) == (2, 2, 2)
    assert next_week.rate == 1.0
    assert leisure.week(MONDAY).capacity == 0 and leisure.week(MONDAY).rate is None
    assert board.totals[MONDAY].booked == 6 and board.totals[NEXT_MONDAY].waitlisted == 2


async def test_the_dashboard_adds_up_money_per_local_month_and_open_links(database, clock):
    town = await _town(database, clock.now())
    start, end = default_period(MONDAY)
    async with database.reading() as db:
        board = await dashboard(db, town.structure_id, start, end, clock.now())

    months = {row.month: row for row in board.months}
    assert list(months) == [
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
        date(2027, 3, 1),
        date(2027, 4, 1),
    ]
    february, march = months[date(2027, 2, 1)], months[date(2027, 3, 1)]
    assert (february.payments, february.paid_cents) == (1, 1500)
    assert (march.payments, march.paid_cents) == (1, 2000)
    assert (february.invoices, february.invoiced_cents) == (1, 3250)
    assert (march.invoices, march.invoiced_cents) == (0, 0)
    assert (board.unpaid_count, board.unpaid_cents) == (2, 1500)
    assert sorted(link.amount_cents for link in board.unpaid) == [300, 1200]


async def test_the_dashboard_shows_only_the_staffs_structure(database, clock):
    town = await _town(database, clock.now())
    start, end = default_period(MONDAY)
    async with database.reading() as db:
        board = await dashboard(db, town.other_structure_id, start, end, clock.now())
    assert [activity.name for activity in board.activities] == ["Piscine d'ailleurs"]
    assert board.activities[0].week(MONDAY).booked == 1
    assert (board.unpaid_count, board.unpaid_cents) == (1, 700)
    assert all(row.paid_cents == 0 and row.invoiced_cents == 0 for row in board.months)


async def test_a_manager_reads_the_dashboards_tables_and_chart_figures(
    database, clock, staff_client
):
    town = await _town(database, clock.now())
    await make_staff(database, town.structure_id, "gerante", StaffRole.MANAGER, now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("gerante")

    await browser.get("/staff/dashboard")
    assert browser.status == 200
    text = browser.text
    assert "Cantine" in text and "Mercredis loisirs" in text
    assert "Piscine d'ailleurs" not in text and "AILLEURS" not in text
    assert "6 / 8 · 75 %" in text and "2 / 2 · 100 %" in text
    assert "2 liens ouverts, 15,00 € en tout." in text.replace("\u202f", " ").replace("\xa0", " ")
    figures = json.loads(re.search(r'id="figures">(.*?)</script>', browser.page, re.S).group(1))
    assert figures["activities"][0]["fill"][12] == 75.0
    assert figures["activities"][1]["waitlist"][13] == 2
    assert figures["late"][12] == 1 and figures["noshows"][12] == 1
    assert figures["paid"][2:4] == [15.0, 20.0] and figures["invoiced"][2] == 32.5
    assert '<script src="/staff/static/vendor/chart.umd.min.js"></script>' in browser.page

    chart = await staff_client.get("/staff/static/vendor/chart.umd.min.js")
    assert chart.status == 200 and "Chart.js v4" in (await chart.text())[:200]
    script = await staff_client.get("/staff/static/dashboard.js")
    assert script.status == 200


async def test_the_dashboard_period_can_be_chosen(database, clock, staff_client):
    town = await _town(database, clock.now())
    await make_staff(database, town.structure_id, "gerante", StaffRole.MANAGER, now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("gerante")

    await browser.get("/staff/dashboard?from=2027-03-08&to=2027-03-14")
    assert "2 / 2 · 100 %" in browser.text and "6 / 8" not in browser.text
    await browser.get("/staff/dashboard?from=garbage")
    assert (
        browser.status == 200
        and "Date illisible" in browser.text
        and "6 / 8 · 75 %" in browser.text
    )


async def test_an_agent_may_not_see_the_dashboard_and_another_town_sees_none_of_it(
    database, clock, staff_client
):
    town = await _town(database, clock.now())
    await make_staff(database, town.structure_id, "agent", StaffRole.AGENT, now=clock.now())
    await make_staff(database, town.other_structure_id, "voisin", StaffRole.ADMIN, now=clock.now())
    agent = StaffBrowser(staff_client)
    await agent.log_in("agent")
    await agent.get("/staff/dashboard")
    assert agent.status == 403 and "Cantine" not in agent.text

    neighbour = StaffBrowser(staff_client)
    await neighbour.log_in("voisin")
    await neighbour.get("/staff/dashboard?from=2027-03-01&to=2027-03-14")
    assert neighbour.status == 200
    assert "Piscine d'ailleurs" in neighbour.text
    assert "Cantine" not in neighbour.text and "FAMILLE0" not in neighbour.text

"""Attendance (le pointage): staff mark confirmed bookings present, absent or excused within
the day's window (managers may correct later), one mark per booking, audited; absences
without notice per household and month; the tablet pages, with and without JavaScript."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from booking.clock import PARIS
from booking.models import (
    Activity,
    Attendance,
    AttendanceStatus,
    Booking,
    Participant,
    Session,
    StaffAudit,
    StaffRole,
    Structure,
)
from booking.services.attendance import (
    AttendanceRefusal,
    AttendanceRefused,
    absences_of,
    attendance_of,
    mark_all_present,
    mark_attendance,
    session_attendance,
)
from booking.services.staff_accounts import StaffContext
from tests import builders
from tests.rosters_support import TUESDAY_LUNCH, book, canteen_town, child, other_town
from tests.staff_support import StaffBrowser, make_staff

PRESENT, ABSENT, EXCUSED = (
    AttendanceStatus.PRESENT,
    AttendanceStatus.ABSENT,
    AttendanceStatus.EXCUSED,
)
AT_LUNCH = datetime(2027, 3, 2, 12, 0, tzinfo=PARIS)


async def _staff(database, town_id, login="agnes", role=StaffRole.AGENT) -> StaffContext:
    member = await make_staff(database, town_id, login, role, now=AT_LUNCH)
    return StaffContext.of(member)


async def _mark(database, staff, booking_id, status, now=AT_LUNCH, **kwargs):
    async with database.writing() as db:
        return await mark_attendance(db, staff, booking_id, status, now, **kwargs)


async def _marks(database) -> list[tuple[int, AttendanceStatus]]:
    async with database.reading() as db:
        rows = await db.execute(select(Attendance.booking_id, Attendance.status))
        return sorted((booking_id, status) for booking_id, status in rows)


async def _audits(database) -> list[StaffAudit]:
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(StaffAudit)
                .where(StaffAudit.action == "attendance_marked")
                .order_by(StaffAudit.id)
            )
        )


async def _refusal(awaitable) -> AttendanceRefused:
    with pytest.raises(AttendanceRefused) as caught:
        await awaitable
    return caught.value


# Marking -----------------------------------------------------------------------------------


async def test_a_mark_changes_in_place_and_each_change_is_audited(database):
    town = await canteen_town(database)
    agent = await _staff(database, town.town_id)

    await _mark(database, agent, town.lea, ABSENT)
    await _mark(database, agent, town.lea, PRESENT, AT_LUNCH + timedelta(minutes=5))
    await _mark(database, agent, town.lea, PRESENT, AT_LUNCH + timedelta(minutes=6))

    assert await _marks(database) == [(town.lea, PRESENT)]
    audits = await _audits(database)
    assert [(item.data["previous"], item.data["status"]) for item in audits] == [
        (None, "absent"),
        ("absent", "present"),
    ]
    assert {(item.staff_id, item.household_id) for item in audits} == {
        (agent.id, town.lea_household)
    }
    assert audits[0].target == f"booking:{town.lea}"


async def test_two_tablets_marking_one_child_at_once_leave_one_mark(database):
    town = await canteen_town(database)
    agent = await _staff(database, town.town_id)
    other = await _staff(database, town.town_id, "bruno")

    await asyncio.gather(
        _mark(database, agent, town.lea, PRESENT), _mark(database, other, town.lea, ABSENT)
    )

    [(booking_id, status)] = await _marks(database)
    assert booking_id == town.lea and status in (PRESENT, ABSENT)
    assert len(await _audits(database)) == 2


async def test_marks_open_on_the_day_and_close_at_the_towns_hour_the_next_day(database):
    town = await canteen_town(database)
    agent = await _staff(database, town.town_id)
    manager = await _staff(database, town.town_id, "marc", StaffRole.MANAGER)
    monday_night = datetime(2027, 3, 1, 23, 59, tzinfo=PARIS)
    tuesday_morning = datetime(2027, 3, 2, 0, 0, tzinfo=PARIS)
    wednesday_noon = datetime(2027, 3, 3, 12, 0, tzinfo=PARIS)

    early = await _refusal(_mark(database, agent, town.lea, PRESENT, monday_night))
    assert early.code is AttendanceRefusal.TOO_EARLY and early.params["opens"] == tuesday_morning
    await _mark(database, agent, town.lea, PRESENT, tuesday_morning)
    await _mark(database, agent, town.lea, ABSENT, wednesday_noon - timedelta(seconds=1))
    late = await _refusal(_mark(database, agent, town.lea, EXCUSED, wednesday_noon))
    assert late.code is AttendanceRefusal.TOO_LATE and late.params["until"] == wednesday_noon
    await _mark(database, manager, town.lea, EXCUSED, wednesday_noon + timedelta(days=20))

    assert await _marks(database) == [(town.lea, EXCUSED)]


async def test_the_closing_hour_is_the_structures_and_in_its_time_zone(database):
    town = await canteen_town(database, timezone="Indian/Reunion")  # UTC+4, Paris +1 in March
    async with database.writing() as db:
        await db.execute(
            update(Structure).where(Structure.id == town.town_id).values(attendance_until_hour=9)
        )
    agent = await _staff(database, town.town_id)
    closes = datetime(2027, 3, 3, 9, 0, tzinfo=PARIS) + timedelta(hours=-3)  # 9:00 in Réunion

    await _mark(database, agent, town.lea, PRESENT, closes - timedelta(minutes=1))
    late = await _refusal(_mark(database, agent, town.lea, ABSENT, closes))
    assert late.code is AttendanceRefusal.TOO_LATE and late.params["until"] == closes


async def test_only_confirmed_bookings_of_this_session_and_structure_are_marked(database):
    town = await canteen_town(database)
    _, other_lunch, other_booking = await other_town(database)
    agent = await _staff(database, town.town_id)

    foreign = await _refusal(_mark(database, agent, other_booking, PRESENT))
    assert foreign.code is AttendanceRefusal.UNKNOWN_BOOKING
    wrong_session = await _refusal(
        _mark(database, agent, town.lea, PRESENT, session_id=other_lunch)
    )
    assert wrong_session.code is AttendanceRefusal.UNKNOWN_BOOKING
    for booking_id in (town.zoe, town.held, town.waiting):
        refused = await _refusal(_mark(database, agent, booking_id, PRESENT))
        assert refused.code is AttendanceRefusal.NOT_CONFIRMED
    missing = await _refusal(_mark(database, agent, 987654, PRESENT))
    assert missing.code is AttendanceRefusal.UNKNOWN_BOOKING
    async with database.writing() as db:
        await db.execute(
            update(Session).where(Session.id == town.lunch_id).values(cancelled_at=AT_LUNCH)
        )
    cancelled = await _refusal(_mark(database, agent, town.lea, PRESENT))
    assert cancelled.code is AttendanceRefusal.SESSION_CANCELLED

    assert await _marks(database) == []
    assert await _audits(database) == []


async def test_all_present_marks_only_the_unmarked_confirmed_children(database):
    town = await canteen_town(database)
    agent = await _staff(database, town.town_id)
    await _mark(database, agent, town.lea, EXCUSED)

    async with database.writing() as db:
        count = await mark_all_present(db, agent, town.lunch_id, AT_LUNCH)
    assert count == 1
    assert await _marks(database) == [(town.lea, EXCUSED), (town.paolo, PRESENT)]
    async with database.reading() as db:
        sheet = await session_attendance(db, town.town_id, town.lunch_id)
        foreign = await session_attendance(db, town.town_id + 1000, town.lunch_id)
    assert sheet.marks == {town.lea: EXCUSED, town.paolo: PRESENT}
    assert sheet.unmarked == 0 and foreign is None
    other_agent = await _staff(database, (await other_town(database))[0], "oscar")
    async with database.writing() as db:
        refused = await _refusal(mark_all_present(db, other_agent, town.lunch_id, AT_LUNCH))
    assert refused.code is AttendanceRefusal.UNKNOWN_BOOKING


async def test_attendance_of_a_month_gives_each_bookings_mark_of_the_structure(database):
    town = await canteen_town(database)
    other_id, _, other_booking = await other_town(database)
    agent = await _staff(database, town.town_id)
    other_agent = await _staff(database, other_id, "oscar")
    await _mark(database, agent, town.lea, ABSENT)
    await _mark(database, agent, town.paolo, PRESENT)
    await _mark(database, other_agent, other_booking, PRESENT)

    async with database.reading() as db:
        march = await attendance_of(db, town.town_id, 2027, 3)
        april = await attendance_of(db, town.town_id, 2027, 4)
    assert march == {town.lea: ABSENT, town.paolo: PRESENT} and april == {}


async def test_absences_without_notice_are_counted_per_household_and_month(database):
    town = await canteen_town(database)
    agent = await _staff(database, town.town_id)
    async with database.writing() as db:
        canteen = await db.get(Activity, town.canteen_id)
        thursday = await builders.session(
            db, canteen, starts_at=TUESDAY_LUNCH + timedelta(days=2), hours=2
        )
        april = await builders.session(
            db, canteen, starts_at=datetime(2027, 4, 1, 11, 30, tzinfo=PARIS), hours=2
        )
        lea = await db.get(Participant, (await db.get(Booking, town.lea)).participant_id)
        lea_thursday = await book(db, thursday, lea)
        lea_april = await book(db, april, lea)
    await _mark(database, agent, town.lea, ABSENT)
    await _mark(database, agent, lea_thursday.id, ABSENT, AT_LUNCH + timedelta(days=2))
    await _mark(database, agent, lea_april.id, ABSENT, datetime(2027, 4, 1, 12, 0, tzinfo=PARIS))
    await _mark(database, agent, town.paolo, EXCUSED)

    async with database.reading() as db:
        [dupont] = await absences_of(db, town.town_id, 2027, 3)
        other = await absences_of(db, town.town_id + 1000, 2027, 3)
    assert dupont.household_id == town.lea_household and dupont.count == 2
    assert [item.day.isoformat() for item in dupont.absences] == ["2027-03-02", "2027-03-04"]
    assert dupont.children == ["Léa DUPONT"] and other == []


# Pages -------------------------------------------------------------------------------------


async def _browser(database, clock, staff_client, town_id, login="agnes", role=StaffRole.AGENT):
    await make_staff(database, town_id, login, role, now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in(login)
    return browser


async def test_a_tap_marks_a_child_and_the_page_shows_it(database, clock, staff_client):
    town = await canteen_town(database)
    clock.set(AT_LUNCH)
    browser = await _browser(database, clock, staff_client, town.town_id)

    await browser.get("/staff/attendance")
    assert "Cantine · 11:30–13:30" in browser.text and "0 pointés sur 2" in browser.text
    await browser.get(f"/staff/attendance/{town.lunch_id}")
    assert browser.status == 200
    assert browser.page.count('name="status" value="present"') == 2  # Zoé waits for her payment
    assert "paiement en attente : pas de pointage" in browser.text
    assert "⚠ Allergie arachide (PAI)" in browser.text
    assert "attendance.js" in browser.page

    await browser.post(
        f"/staff/attendance/{town.lunch_id}", {"booking_id": town.lea, "status": "absent"}
    )
    assert browser.status == 200 and browser.page.count('aria-pressed="true"') == 1
    assert "Absents : 1" in browser.text and "À pointer : 1" in browser.text
    await browser.post(f"/staff/attendance/{town.lunch_id}", {"all": "present"})
    assert "Présents : 1" in browser.text and "À pointer : 0" in browser.text
    assert await _marks(database) == [(town.lea, ABSENT), (town.paolo, PRESENT)]
    await browser.get("/staff/attendance?day=2027-03-02")
    assert "2 pointés sur 2" in browser.text and "1 présents, 1 absents, 0 excusés" in browser.text


async def test_a_tap_from_javascript_gets_json_and_still_needs_the_csrf_token(
    database, clock, staff_client
):
    town = await canteen_town(database)
    clock.set(AT_LUNCH)
    browser = await _browser(database, clock, staff_client, town.town_id)
    await browser.get(f"/staff/attendance/{town.lunch_id}")
    json_headers = {"Accept": "application/json"}

    response = await staff_client.post(
        f"/staff/attendance/{town.lunch_id}",
        data={"csrf": browser.csrf, "booking_id": str(town.paolo), "status": "excused"},
        headers=json_headers,
    )
    assert response.status == 200
    answer = await response.json()
    assert answer["marks"] == {str(town.paolo): "excused"}
    assert answer["counts"] == {"present": 0, "absent": 0, "excused": 1, "unmarked": 1}

    forged = await staff_client.post(
        f"/staff/attendance/{town.lunch_id}",
        data={"csrf": "forged", "booking_id": str(town.lea), "status": "present"},
        headers=json_headers,
    )
    assert forged.status == 403
    refused = await staff_client.post(
        f"/staff/attendance/{town.lunch_id}",
        data={"csrf": browser.csrf, "booking_id": str(town.zoe), "status": "present"},
        headers=json_headers,
    )
    assert refused.status == 409
    assert (await refused.json())["error"] == "Seule une réservation confirmée peut être pointée."
    assert await _marks(database) == [(town.paolo, EXCUSED)]


async def test_after_the_hour_an_agent_is_told_and_a_manager_may_still_correct(
    database, clock, staff_client
):
    town = await canteen_town(database)
    clock.set(datetime(2027, 3, 3, 12, 30, tzinfo=PARIS))
    agent = await _browser(database, clock, staff_client, town.town_id)
    await agent.get(f"/staff/attendance/{town.lunch_id}")
    assert 'name="status"' not in agent.page
    assert "clos depuis le mercredi 3 mars, 12:00 : seul un responsable" in agent.text
    await agent.post(
        f"/staff/attendance/{town.lunch_id}", {"booking_id": town.lea, "status": "present"}
    )
    assert agent.status == 409
    assert "seul un responsable peut le corriger" in agent.text

    manager = await _browser(database, clock, staff_client, town.town_id, "marc", StaffRole.MANAGER)
    await manager.get(f"/staff/attendance/{town.lunch_id}")
    assert "vous pouvez encore le corriger" in manager.text
    await manager.post(
        f"/staff/attendance/{town.lunch_id}", {"booking_id": town.lea, "status": "present"}
    )
    assert manager.status == 200
    assert await _marks(database) == [(town.lea, PRESENT)]


async def test_the_absences_page_and_csv_list_each_households_absences(
    database, clock, staff_client
):
    town = await canteen_town(database)
    agent = await _staff(database, town.town_id)
    await _mark(database, agent, town.lea, ABSENT)
    await _mark(database, agent, town.paolo, EXCUSED)
    clock.set(AT_LUNCH)
    browser = await _browser(database, clock, staff_client, town.town_id, "marc", StaffRole.MANAGER)

    await browser.get("/staff/attendance/absences")
    assert browser.status == 200
    assert "Absences sans prévenir — mars 2027" in browser.text
    assert "DUPONT" in browser.text and "mar. 2 mars · Léa DUPONT · Cantine" in browser.text
    assert "ROSSI" not in browser.text
    await browser.get("/staff/attendance/absences?month=2027-04")
    assert "Aucune absence sans prévenir ce mois-ci" in browser.text
    await browser.get("/staff/attendance/absences?month=2027-13")
    assert browser.status == 400
    response = await staff_client.get("/staff/attendance/absences.csv?month=2027-03")
    lines = (await response.read()).decode("utf-8-sig").splitlines()
    assert lines[0] == "Référence famille;Famille;Absences du mois;Date;Nom;Prénom;Activité;Séance"
    assert lines[1].split(";")[1:] == ["DUPONT", "1", "2027-03-02", "DUPONT", "Léa", "Cantine", ""]


async def test_an_agent_may_not_see_the_absences_of_households(database, clock, staff_client):
    town = await canteen_town(database)
    browser = await _browser(database, clock, staff_client, town.town_id)
    for path in ("/staff/attendance/absences", "/staff/attendance/absences.csv"):
        await browser.get(path)
        assert browser.status == 403, path


async def test_another_towns_staff_can_neither_see_nor_mark_this_towns_attendance(
    database, clock, staff_client
):
    town = await canteen_town(database)
    agent = await _staff(database, town.town_id)
    await _mark(database, agent, town.lea, ABSENT)
    other_id, other_lunch, _ = await other_town(database)
    clock.set(AT_LUNCH)
    browser = await _browser(database, clock, staff_client, other_id, "oscar", StaffRole.ADMIN)

    await browser.get(f"/staff/attendance/{town.lunch_id}")
    assert browser.status == 404 and "DUPONT" not in browser.page
    await browser.get(f"/staff/attendance/{other_lunch}")  # a CSRF token of this session
    for data in (
        {"booking_id": town.lea, "status": "present"},
        {"all": "present"},
    ):
        await browser.post(f"/staff/attendance/{town.lunch_id}", data)
        assert browser.status == 404 and "DUPONT" not in browser.page
    await browser.post(
        f"/staff/attendance/{other_lunch}", {"booking_id": town.paolo, "status": "present"}
    )
    assert browser.status == 404
    await browser.get("/staff/attendance?day=2027-03-02")
    assert "Cantine d'ailleurs" in browser.text and "0 pointés sur 1" in browser.text
    await browser.get("/staff/attendance/absences?month=2027-03")
    assert "DUPONT" not in browser.text
    response = await staff_client.get("/staff/attendance/absences.csv?month=2027-03")
    assert "DUPONT" not in await response.text()
    assert await _marks(database) == [(town.lea, ABSENT)]


async def test_attendance_needs_a_logged_in_staff_member(database, clock, staff_client):
    town = await canteen_town(database)
    for path in (
        "/staff/attendance",
        f"/staff/attendance/{town.lunch_id}",
        "/staff/attendance/absences",
        "/staff/attendance/absences.csv",
    ):
        response = await staff_client.get(path, allow_redirects=False)
        assert response.status == 303 and "/staff/login" in response.headers["Location"], path
    response = await staff_client.post(
        f"/staff/attendance/{town.lunch_id}",
        data={"booking_id": str(town.lea), "status": "present"},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/staff/login"
    assert await _marks(database) == []


async def test_a_child_booked_twice_that_week_is_one_line_per_session(database):
    """Marks are per booking: the same child on two sessions has two independent marks."""
    town = await canteen_town(database)
    agent = await _staff(database, town.town_id)
    async with database.writing() as db:
        canteen = await db.get(Activity, town.canteen_id)
        wednesday = await builders.session(
            db, canteen, starts_at=TUESDAY_LUNCH + timedelta(days=1), hours=2
        )
        kid = await child(db, await db.get(Structure, town.town_id), "DURAND", "Max")
        first = await book(db, await db.get(Session, town.lunch_id), kid)
        second = await book(db, wednesday, kid)
    await _mark(database, agent, first.id, PRESENT)
    await _mark(database, agent, second.id, ABSENT, AT_LUNCH + timedelta(days=1))
    marks = dict(await _marks(database))
    assert marks[first.id] is PRESENT and marks[second.id] is ABSENT

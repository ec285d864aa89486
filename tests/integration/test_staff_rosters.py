"""Rosters: who comes on a day, session by session, with what the staff need at the door;
the pages, their CSV and their print stylesheet; only the staff member's structure."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import event, update

from booking.clock import PARIS
from booking.models import Session, StaffRole, Structure
from booking.services.rosters import day_rosters, session_roster
from tests import builders
from tests.rosters_support import TUESDAY_LUNCH, book, canteen_town, child, other_town
from tests.staff_support import StaffBrowser, make_staff

TUESDAY = date(2027, 3, 2)


async def test_a_days_roster_lists_booked_children_with_age_class_notes_and_phones(database):
    town = await canteen_town(database)
    async with database.reading() as db:
        rosters = await day_rosters(db, town.town_id, TUESDAY)

    [lunch] = rosters.sessions
    assert lunch.activity_name == "Cantine" and lunch.capacity == 5
    names = [(item.first_name, item.last_name) for item in lunch.children]
    assert names == [("Léa", "DUPONT"), ("Zoé", "MARTIN"), ("Paolo", "ROSSI")]
    lea, zoe, paolo = lunch.children
    assert lea.age == 7 and lea.school_class == "CE1 B"
    assert lea.notes == "Allergie arachide (PAI)" and lea.phones == ("06 12 34 56 78",)
    assert paolo.phones == ("+33 6 98 76 54 32",) and paolo.notes == ""
    assert zoe.pending_payment and not lea.pending_payment
    assert rosters.by_activity() == [("Cantine", [lunch])]


async def test_counts_set_the_booked_against_capacity_with_held_places_and_the_waitlist(
    database,
):
    town = await canteen_town(database, capacity=4)
    async with database.reading() as db:
        lunch = await session_roster(db, town.town_id, town.lunch_id)

    assert (lunch.confirmed, lunch.pending_payment, lunch.held, lunch.waitlisted) == (2, 1, 1, 1)
    assert lunch.booked == 3
    assert lunch.places_left == 0  # the held place is taken too; the cancelled one is not


async def test_cancelled_sessions_are_apart_and_other_days_and_towns_are_left_out(database):
    town = await canteen_town(database)
    await other_town(database)
    async with database.writing() as db:
        canteen = await builders.activity(db, await db.get(Structure, town.town_id))
        closed = await builders.session(db, canteen, starts_at=TUESDAY_LUNCH, label="Sortie")
        closed.cancelled_at = TUESDAY_LUNCH - timedelta(days=1)
        await builders.session(db, canteen, starts_at=TUESDAY_LUNCH + timedelta(days=1))
    async with database.reading() as db:
        rosters = await day_rosters(db, town.town_id, TUESDAY)

    assert [item.session_id for item in rosters.sessions] == [town.lunch_id]
    assert [item.label for item in rosters.cancelled] == ["Sortie"]


async def test_a_stay_spanning_the_day_is_on_it_in_the_towns_time_zone(database):
    async with database.writing() as db:
        town = await builders.structure(db, timezone="Indian/Reunion")  # UTC+4
        camp = await builders.activity(db, town, name="Séjour")
        stay = await builders.session(
            db, camp, starts_at=datetime(2027, 3, 1, 9, 0, tzinfo=PARIS), hours=24 * 4
        )
        # 23:30 in Paris on Tuesday is already Wednesday in La Réunion.
        late = await builders.session(
            db, camp, starts_at=datetime(2027, 3, 2, 23, 30, tzinfo=PARIS), hours=1, label="Nuit"
        )
        kid = await child(db, town, "DUPONT", "Léa")
        await book(db, stay, kid)
    async with database.reading() as db:
        tuesday = await day_rosters(db, town.id, TUESDAY)
        wednesday = await day_rosters(db, town.id, TUESDAY + timedelta(days=1))

    assert [item.session_id for item in tuesday.sessions] == [stay.id]
    assert [child.first_name for child in tuesday.sessions[0].children] == ["Léa"]
    assert {item.session_id for item in wednesday.sessions} == {stay.id, late.id}


async def test_a_roster_of_three_hundred_children_reads_in_a_fixed_number_of_queries(database):
    async with database.writing() as db:
        town = await builders.structure(db)
        canteen = await builders.activity(db, town, name="Cantine")
        lunch = await builders.session(db, canteen, starts_at=TUESDAY_LUNCH, capacity=300)
        for number in range(300):
            await book(db, lunch, await child(db, town, f"NOM{number}", "Enfant", phone="06"))
    statements = []

    def count(_connection, _cursor, statement, *_args) -> None:  # noqa: ANN001, ANN002
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with database.reading() as db:
            rosters = await day_rosters(db, town.id, TUESDAY)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)

    assert len(rosters.sessions[0].children) == 300
    assert len(statements) <= 3  # the town's time zone, the rosters, the guardians' phones


# Pages -------------------------------------------------------------------------------------


async def _agent(database, clock, town_id, login="agnes", role=StaffRole.AGENT):
    await make_staff(database, town_id, login, role, now=clock.now())


async def test_the_today_page_shows_tomorrows_lunch_with_notes_phones_and_a_print_stylesheet(
    database, clock, staff_client
):
    town = await canteen_town(database)
    await _agent(database, clock, town.town_id)
    browser = StaffBrowser(staff_client)
    await browser.log_in("agnes")

    await browser.get("/staff/today")  # Monday: nothing
    assert browser.status == 200
    assert "Aucune séance ce jour-là" in browser.text
    await browser.get("/staff/today?day=2027-03-02")
    text = browser.text
    assert "Qui vient le mardi 2 mars" in text
    assert "Léa DUPONT" in text and "Paolo ROSSI" in text and "Zoé MARTIN" in text
    assert "Inès" not in text and "Hugo" not in text and "Nina" not in text
    assert "⚠ Allergie arachide (PAI)" in text and "CE1 B" in text and "7 ans" in text
    assert "06 12 34 56 78" in text and "paiement en attente" in text
    assert "3 inscrits sur 5 places" in text and "1 en liste d'attente" in text
    assert 'href="/staff/static/rosters-print.css" media="print"' in browser.page
    assert "?day=2027-03-03" in browser.page and "?day=2027-03-01" in browser.page
    stylesheet = await staff_client.get("/staff/static/rosters-print.css")
    assert stylesheet.status == 200 and "header.top" in await stylesheet.text()

    await browser.get("/staff/today?day=mardi")
    assert browser.status == 400


async def test_the_days_csv_opens_in_french_excel(database, clock, staff_client):
    town = await canteen_town(database)
    await _agent(database, clock, town.town_id)
    browser = StaffBrowser(staff_client)
    await browser.log_in("agnes")

    response = await staff_client.get("/staff/today.csv?day=2027-03-02")
    body = await response.read()
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0] == (
        "Date;Activité;Séance;Début;Fin;Nom;Prénom;Âge;Classe;Notes du dossier;Téléphones;Statut"
    )
    assert (
        "2027-03-02;Cantine;;11:30;13:30;DUPONT;Léa;7;CE1 B;Allergie arachide (PAI);" in (lines[1])
    )
    assert lines[1].endswith(";Confirmé")
    assert lines[2].endswith(";Paiement en attente")
    assert "'+33 6 98 76 54 32" in lines[3]  # never read as a formula
    assert len(lines) == 4


async def test_one_sessions_roster_and_its_csv(database, clock, staff_client):
    town = await canteen_town(database)
    await _agent(database, clock, town.town_id)
    browser = StaffBrowser(staff_client)
    await browser.log_in("agnes")

    await browser.get(f"/staff/roster/{town.lunch_id}")
    assert browser.status == 200
    assert "Cantine — mardi 2 mars" in browser.text and "Léa DUPONT" in browser.text
    assert "rosters-print.css" in browser.page
    response = await staff_client.get(f"/staff/roster/{town.lunch_id}.csv")
    lines = (await response.read()).decode("utf-8-sig").splitlines()
    assert [line.split(";")[5] for line in lines[1:]] == ["DUPONT", "MARTIN", "ROSSI"]

    await browser.get("/staff/roster/999999")
    assert browser.status == 404


async def test_another_towns_staff_sees_nothing_of_this_towns_rosters(
    database, clock, staff_client
):
    town = await canteen_town(database)
    other_id, _, _ = await other_town(database)
    await _agent(database, clock, other_id, "ailleurs", StaffRole.ADMIN)
    browser = StaffBrowser(staff_client)
    await browser.log_in("ailleurs")

    for path in (f"/staff/roster/{town.lunch_id}", f"/staff/roster/{town.lunch_id}.csv"):
        await browser.get(path)
        assert browser.status == 404, path
        assert "DUPONT" not in browser.page and "arachide" not in browser.page
    await browser.get("/staff/today?day=2027-03-02")
    assert "Oscar AILLEURS" in browser.text and "DUPONT" not in browser.text
    await browser.get("/staff/today.csv?day=2027-03-02")
    assert "DUPONT" not in browser.page and "AILLEURS" in browser.page


async def test_rosters_need_a_logged_in_staff_member(database, clock, staff_client):
    town = await canteen_town(database)
    for path in (
        "/staff/today",
        "/staff/today.csv",
        f"/staff/roster/{town.lunch_id}",
        f"/staff/roster/{town.lunch_id}.csv",
    ):
        response = await staff_client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/staff/login?next=")


async def test_a_cancelled_session_shows_apart_on_the_page(database, clock, staff_client):
    town = await canteen_town(database)
    async with database.writing() as db:
        await db.execute(
            update(Session)
            .where(Session.id == town.lunch_id)
            .values(cancelled_at=datetime(2027, 2, 27, 10, 0, tzinfo=PARIS))
        )
    await _agent(database, clock, town.town_id)
    browser = StaffBrowser(staff_client)
    await browser.log_in("agnes")
    await browser.get("/staff/today?day=2027-03-02")
    assert "Séances annulées" in browser.text and "annulée le samedi 27 février" in browser.text
    assert "Léa DUPONT" not in browser.text

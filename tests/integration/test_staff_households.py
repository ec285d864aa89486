"""Households in the back office: search, a household's account, creation by form and by CSV
import (all or nothing, errors naming line and field), the login letter's first password,
unlocking a waiting login; every change audited, no other town's household reachable."""

from __future__ import annotations

import re
from datetime import date, timedelta

import aiohttp
from sqlalchemy import func, select

from booking.db import Database
from booking.models import (
    Dossier,
    Guardian,
    Household,
    LoginThrottle,
    NoticeKind,
    Participant,
    StaffAudit,
    StaffRole,
    WalletKind,
)
from booking.passwords import hash_password, verify_password
from booking.refusals import Refused
from booking.services.accounts import authenticate
from booking.services.login_throttles import unknown_login_key
from booking.services.outbox import notify
from booking.services.staff_accounts import StaffContext
from booking.services.staff_households import (
    FieldError,
    HouseholdRejected,
    NewChild,
    NewGuardian,
    NewHousehold,
    create_households,
    first_password,
    household_account,
    import_households,
    search_households,
    set_first_password,
    unlock_login,
)
from tests import builders
from tests.staff_support import StaffBrowser, make_staff

HEADER = (
    "reference;household_name;group;quotient;emails;guardian_first_name;guardian_last_name;"
    "login;email;phone;child_first_name;child_last_name;birth_date;class;missing_items"
)
GOOD_CSV = "\n".join(
    [
        HEADER,
        "F-100;Famille PETIT;resident;650;petit@example.org;Sophie;PETIT;sophie.petit;;"
        "06 11 22 33 44;Chloé;PETIT;2019-04-02;CE1 B;",
        "F-100;;;;;;;;;;Nathan;PETIT;03/09/2021;MS;fiche sanitaire, vaccinations",
        "F-100;;;;;Marc;PETIT;marc.petit;marc@example.org;;;;;;",
        "F-101;Famille NGUYEN;non_resident;;;Linh;NGUYEN;linh.nguyen;;;Anh;NGUYEN;2018-01-15;CE2;",
    ]
)


class Town:
    structure_id: int
    other_id: int
    household_id: int
    guardian_id: int
    other_household_id: int
    other_guardian_id: int
    manager: StaffContext
    neighbour: StaffContext


async def town(database: Database, now) -> Town:
    made = Town()
    async with database.writing() as db:
        ours = await builders.structure(db)
        theirs = await builders.structure(db)
        home = await builders.household(db, ours, name="MARTIN")
        home.emails = "claire@example.org"
        adult = await builders.guardian(db, home, first_name="Claire")
        adult.login = "claire.martin"
        adult.phone = "06 12 34 56 78"
        await builders.participant(db, home, first_name="Zoé")
        neighbour_home = await builders.household(db, theirs, name="MARTINEZ")
        neighbour_adult = await builders.guardian(db, neighbour_home, first_name="Zoé")
        await builders.credit(db, home, 1500)
        made.structure_id, made.other_id = ours.id, theirs.id
        made.household_id, made.guardian_id = home.id, adult.id
        made.other_household_id, made.other_guardian_id = neighbour_home.id, neighbour_adult.id
    made.manager = StaffContext.of(await make_staff(database, ours.id, "gestion", now=now))
    made.neighbour = StaffContext.of(await make_staff(database, theirs.id, "voisin", now=now))
    return made


async def audits(database: Database, action: str) -> list[StaffAudit]:
    async with database.reading() as db:
        return list((await db.scalars(select(StaffAudit).where(StaffAudit.action == action))).all())


async def count(database: Database, model: type) -> int:
    async with database.reading() as db:
        return await db.scalar(select(func.count()).select_from(model))


# Search and account -----------------------------------------------------------------------------


async def test_search_finds_a_household_by_any_name_without_accents_in_its_town_only(
    database, clock
):
    made = await town(database, clock.now())
    async with database.reading() as db:
        for query in ("martin", "ZOE", "claire.martin", "claire@example", "0612", "zoé mart"):
            hits = await search_households(db, made.structure_id, query)
            assert [hit.id for hit in hits] == [made.household_id], query
        assert await search_households(db, made.structure_id, "nobody") == []
        everyone = await search_households(db, made.structure_id, "")
        theirs = await search_households(db, made.other_id, "martin")
    assert [hit.name for hit in everyone] == ["MARTIN"]
    assert [hit.id for hit in theirs] == [made.other_household_id]


async def test_a_households_account_shows_guardians_children_money_and_messages(database, clock):
    made = await town(database, clock.now())
    async with database.writing() as db:
        await notify(
            db,
            household_id=made.household_id,
            kind=NoticeKind.DOSSIER_DECIDED,
            key="test",
            data={"participant": "Zoé", "approved": True},
            now=clock.now(),
        )
    async with database.reading() as db:
        account = await household_account(db, made.structure_id, made.household_id, clock.now())
        assert await household_account(db, made.other_id, made.household_id, clock.now()) is None
    assert [state.guardian.login for state in account.guardians] == ["claire.martin"]
    assert [(child.first_name, dossier.is_complete) for child, dossier in account.children] == [
        ("Zoé", True)
    ]
    assert account.balances[WalletKind.EUROS] == 1500
    assert [entry.amount for entry, _ in account.ledger] == [1500]
    assert [(m.kind, m.channel) for m in account.messages] == [
        (NoticeKind.DOSSIER_DECIDED, "email")
    ]


# Creating households ----------------------------------------------------------------------------


def petit() -> NewHousehold:
    return NewHousehold(
        reference="F-200",
        name="Famille PETIT",
        quotient="650",
        emails="petit@example.org",
        guardians=[NewGuardian("Sophie", "PETIT", "Sophie.Petit", "", "06 11 22 33 44")],
        children=[
            NewChild("Chloé", "PETIT", "2019-04-02", "CE1 B"),
            NewChild("Nathan", "PETIT", "03/09/2021", "", ["fiche sanitaire"]),
        ],
    )


async def test_a_household_is_created_with_guardians_children_and_dossiers(database, clock):
    made = await town(database, clock.now())
    async with database.writing() as db:
        [home] = await create_households(db, made.manager, [petit()], clock.now())
    async with database.reading() as db:
        adult = await db.scalar(select(Guardian).where(Guardian.household_id == home.id))
        children = (
            await db.execute(
                select(Participant, Dossier)
                .join(Dossier, Dossier.participant_id == Participant.id)
                .where(Participant.household_id == home.id)
                .order_by(Participant.birth_date)
            )
        ).all()
    assert home.structure_id == made.structure_id and home.family_quotient == 650
    assert adult.login == "sophie.petit" and adult.must_change_password
    assert adult.phone == "06 11 22 33 44"
    assert not verify_password(adult.password_hash, "")  # nobody logs in before the letter
    assert [
        (c.first_name, c.school_class, d.missing_items, d.is_complete) for c, d in children
    ] == [
        ("Chloé", "CE1 B", [], True),
        ("Nathan", "", ["fiche sanitaire"], False),
    ]
    assert children[1][0].birth_date == date(2021, 9, 3)
    [audit] = await audits(database, "household_created")
    assert audit.staff_id == made.manager.id and audit.household_id == home.id


async def test_a_taken_login_or_reference_and_bad_fields_reject_the_household(database, clock):
    made = await town(database, clock.now())
    async with database.writing() as db:
        reference = (await db.get(Household, made.household_id)).reference
    bad = petit()
    bad.reference = reference
    bad.guardians[0].login = "CLAIRE.MARTIN"
    bad.children[0].birth_date = "31/02/2019"
    bad.children[1].first_name = ""
    try:
        async with database.writing() as db:
            await create_households(db, made.manager, [bad], clock.now())
    except HouseholdRejected as rejected:
        errors = set(rejected.errors)
    else:
        raise AssertionError("created")
    assert errors == {
        FieldError(None, "reference", "taken"),
        FieldError(None, "login", "taken", 1),
        FieldError(None, "birth_date", "invalid", 1),
        FieldError(None, "child_first_name", "required", 2),
    }
    assert await count(database, Household) == 2


# CSV import -------------------------------------------------------------------------------------


async def test_a_csv_import_creates_every_household_of_the_file(database, clock):
    made = await town(database, clock.now())
    async with database.writing() as db:
        homes = await import_households(db, made.manager, "\ufeff" + GOOD_CSV, clock.now())
    assert [home.reference for home in homes] == ["F-100", "F-101"]
    async with database.reading() as db:
        logins = set(
            await db.scalars(select(Guardian.login).where(Guardian.household_id == homes[0].id))
        )
        children = list(
            await db.scalars(
                select(Participant.first_name)
                .where(Participant.household_id == homes[0].id)
                .order_by(Participant.first_name)
            )
        )
        nathan = await db.scalar(
            select(Dossier)
            .join(Participant, Participant.id == Dossier.participant_id)
            .where(Participant.first_name == "Nathan")
        )
    assert logins == {"sophie.petit", "marc.petit"}
    assert children == ["Chloé", "Nathan"]
    assert nathan.missing_items == ["fiche sanitaire", "vaccinations"]
    assert homes[1].group == "non_resident"
    assert len(await audits(database, "household_imported")) == 2


async def test_a_csv_with_any_error_imports_nothing_and_names_each_line_and_field(database, clock):
    made = await town(database, clock.now())
    lines = GOOD_CSV.split("\n")
    lines[2] = lines[2].replace("03/09/2021", "2021-13-40")
    lines[4] = lines[4].replace("linh.nguyen", "claire.martin")  # taken in the database
    lines.append("F-102;Famille DOUBLE;resident;;;Jo;DOUBLE;sophie.petit;;;;;;;")  # in the file
    lines.append("F-103;Famille MAIL;resident;abc;pas-un-mail;Lou;MAIL;lou.mail;;;;;;;")
    text = "\n".join(lines)
    try:
        async with database.writing() as db:
            await import_households(db, made.manager, text, clock.now())
    except HouseholdRejected as rejected:
        errors = [(e.line, e.field, e.code) for e in rejected.errors]
    else:
        raise AssertionError("imported")
    assert errors == [
        (3, "birth_date", "invalid"),
        (5, "login", "taken"),
        (6, "login", "duplicate"),
        (7, "quotient", "invalid"),
        (7, "emails", "invalid"),
    ]
    assert await count(database, Household) == 2
    assert await count(database, Guardian) == 2


async def test_a_csv_without_its_required_columns_is_refused(database, clock):
    made = await town(database, clock.now())
    try:
        async with database.writing() as db:
            await import_households(db, made.manager, "reference,nom\nF-1,PETIT\n", clock.now())
    except HouseholdRejected as rejected:
        errors = {(e.line, e.field, e.code) for e in rejected.errors}
    else:
        raise AssertionError("imported")
    assert errors == {
        (1, "nom", "unknown_column"),
        (1, "household_name", "missing_column"),
        (1, "login", "missing_column"),
    }


# Logins -----------------------------------------------------------------------------------------


def test_a_first_password_is_readable_and_strong_enough():
    passwords = {first_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", password)
        assert any(c.isdigit() for c in password) and any(c.isalpha() for c in password)
        assert not set(password) & set("01lIoO")


async def test_the_letters_first_password_logs_in_and_must_be_changed(database, clock):
    made = await town(database, clock.now())
    password = first_password()
    async with database.writing() as db:
        adult = await set_first_password(
            db,
            made.manager,
            made.household_id,
            made.guardian_id,
            hash_password(password),
            clock.now(),
        )
        assert adult is not None
        assert (
            await set_first_password(
                db, made.manager, made.other_household_id, made.other_guardian_id, "x", clock.now()
            )
            is None
        )
    async with database.writing() as db:
        adult = await authenticate(db, "claire.martin", password, clock.now())
    assert adult.must_change_password
    [audit] = await audits(database, "login_letter")
    assert password not in str(audit.data)


async def test_unlocking_ends_a_logins_wait(database, clock):
    made = await town(database, clock.now())
    for _ in range(5):
        async with database.writing() as db:
            try:  # the count is committed with the refusal, as the chat does
                await authenticate(db, "claire.martin", "wrong-password-1", clock.now())
            except Refused:
                pass
    adult = await builders.reload(database, Guardian, made.guardian_id)
    assert adult.locked_until is not None and adult.locked_until > clock.now()
    async with database.writing() as db:
        db.add(
            LoginThrottle(
                key=unknown_login_key("claire.martin"),
                failures=3,
                next_try_at=clock.now() + timedelta(minutes=5),
                updated_at=clock.now(),
            )
        )
    async with database.writing() as db:
        assert (
            await unlock_login(
                db, made.manager, made.other_household_id, made.other_guardian_id, clock.now()
            )
            is None
        )
        assert await unlock_login(
            db, made.manager, made.household_id, made.guardian_id, clock.now()
        )
    adult = await builders.reload(database, Guardian, made.guardian_id)
    assert adult.failed_logins == 0 and adult.locked_until is None
    assert await count(database, LoginThrottle) == 0
    [audit] = await audits(database, "login_unlocked")
    assert audit.data["failed_logins"] == 5 and audit.household_id == made.household_id


# Pages ------------------------------------------------------------------------------------------


async def test_a_manager_searches_and_opens_a_household(database, clock, staff_client):
    made = await town(database, clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("gestion")
    await browser.get("/staff/households?q=zoe")
    assert browser.status == 200 and "MARTIN" in browser.text and "MARTINEZ" not in browser.text
    await browser.get(f"/staff/households/{made.household_id}")
    assert browser.status == 200
    assert "claire.martin" in browser.text and "06 12 34 56 78" in browser.text
    assert "Zoé" in browser.text and "validé" in browser.text


async def test_a_manager_creates_a_household_with_the_form(database, clock, staff_client):
    await town(database, clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("gestion")
    await browser.get("/staff/households/new")
    form = {
        "household_name": "Famille PETIT",
        "reference": "F-300",
        "group": "resident",
        "quotient": "",
        "emails": "",
        "language": "fr",
        "g1_first_name": "Sophie",
        "g1_last_name": "PETIT",
        "g1_login": "claire.martin",
        "c1_first_name": "Chloé",
        "c1_last_name": "PETIT",
        "c1_birth_date": "2019-04-02",
    }
    await browser.post("/staff/households/new", form)
    assert browser.status == 400
    assert "Responsable 1 — identifiant : déjà utilisé par une autre famille" in browser.text
    assert 'value="Chloé"' in browser.page  # what was typed is kept

    await browser.post("/staff/households/new", {**form, "g1_login": "sophie.petit"})
    assert browser.status == 200 and "Famille créée" in browser.text
    assert "sophie.petit" in browser.text and "Chloé" in browser.text


async def upload(browser: StaffBrowser, text: str) -> None:
    data = aiohttp.FormData()
    data.add_field("csrf", browser.csrf)
    data.add_field("file", text.encode(), filename="familles.csv", content_type="text/csv")
    await browser._read(await browser.client.post("/staff/households/import", data=data))


async def test_a_manager_imports_a_csv_file_or_reads_its_errors(database, clock, staff_client):
    await town(database, clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("gestion")
    await browser.get("/staff/households/import")
    assert "reference;household_name" in browser.text
    await upload(browser, GOOD_CSV.replace("2018-01-15", "hier"))
    assert browser.status == 400
    assert "Ligne 5 — date de naissance : valeur non valable" in browser.text
    assert await count(database, Household) == 2

    await browser.get("/staff/households/import")
    await upload(browser, GOOD_CSV)
    assert browser.status == 200 and "2 familles importées." in browser.text
    assert await count(database, Household) == 4


async def test_the_login_letter_shows_a_first_password_once_and_unlock_works(
    database, clock, staff_client
):
    made = await town(database, clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("gestion")
    await browser.get(f"/staff/households/{made.household_id}")
    response = await staff_client.post(
        f"/staff/households/{made.household_id}/guardians/{made.guardian_id}/letter",
        data={"csrf": browser.csrf},
    )
    page = await response.text()
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    password = re.search(r'class="secret">([a-z2-9-]{14})<', page).group(1)
    assert "claire.martin" in page and str(staff_client.make_url("/")) in page
    adult = await builders.reload(database, Guardian, made.guardian_id)
    assert verify_password(adult.password_hash, password) and adult.must_change_password

    async with database.writing() as db:
        row = await db.get(Guardian, made.guardian_id)
        row.failed_logins = 7
        row.locked_until = clock.now() + timedelta(minutes=10)
    await browser.get(f"/staff/households/{made.household_id}")
    assert "Débloquer l'identifiant" in browser.text
    await browser.post(f"/staff/households/{made.household_id}/guardians/{made.guardian_id}/unlock")
    assert "Identifiant débloqué" in browser.text
    adult = await builders.reload(database, Guardian, made.guardian_id)
    assert adult.locked_until is None and adult.failed_logins == 0


async def test_another_towns_staff_gets_404_and_an_agent_403_on_every_household_url(
    database, clock, staff_client
):
    made = await town(database, clock.now())
    await make_staff(database, made.structure_id, "agent", StaffRole.AGENT, now=clock.now())
    before = await builders.reload(database, Guardian, made.guardian_id)
    letter = f"/staff/households/{made.household_id}/guardians/{made.guardian_id}/letter"
    unlock = f"/staff/households/{made.household_id}/guardians/{made.guardian_id}/unlock"

    neighbour = StaffBrowser(staff_client)
    await neighbour.log_in("voisin")
    await neighbour.get("/staff/households?q=claire")
    assert "Claire" not in neighbour.text and "claire.martin" not in neighbour.text
    await neighbour.get(f"/staff/households/{made.household_id}")
    assert neighbour.status == 404 and "claire.martin" not in neighbour.text
    for path in (letter, unlock):
        await neighbour.get("/staff/households")
        await neighbour.post(path)
        assert neighbour.status == 404, path
        assert "claire.martin" not in neighbour.text
    # A guardian of this town under the neighbour's household id: still 404.
    await neighbour.get("/staff/households")
    await neighbour.post(
        f"/staff/households/{made.other_household_id}/guardians/{made.guardian_id}/letter"
    )
    assert neighbour.status == 404

    agent = StaffBrowser(staff_client)
    await agent.log_in("agent")
    for path in (
        "/staff/households",
        f"/staff/households/{made.household_id}",
        "/staff/households/new",
        "/staff/households/import",
    ):
        await agent.get(path)
        assert agent.status == 403, path
    for path in (letter, unlock, "/staff/households/new", "/staff/households/import"):
        await agent.get("/staff/")
        await agent.post(path, {"household_name": "X"})
        assert agent.status == 403, path

    after = await builders.reload(database, Guardian, made.guardian_id)
    assert after.password_hash == before.password_hash
    assert await count(database, Household) == 2
    assert await audits(database, "login_letter") == []

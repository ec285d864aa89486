"""The admin pages: staff accounts (add, role, disable), catalogue upload, the structure's
settings and the audit of staff changes; admins of one structure only, on SQLite and
PostgreSQL, as services and through the real app."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from booking.catalogue_file import CatalogueError
from booking.models import Activity, StaffAudit, StaffMember, StaffRole, Structure
from booking.refusals import Refused
from booking.services.staff_accounts import (
    StaffContext,
    authenticate_staff,
    open_staff_session,
    staff_session,
)
from booking.services.staff_admin import (
    AdminRefusal,
    AdminRefused,
    change_role,
    create_staff,
    disable_staff,
    enable_staff,
    import_catalogue,
    latest_audit,
    read_catalogue_upload,
    staff_of,
    update_settings,
)
from tests import builders
from tests.staff_support import STAFF_PASSWORD, StaffBrowser, make_staff

IDLE = timedelta(minutes=60)


@pytest.fixture
async def other_client(staff_client: TestClient) -> AsyncIterator[TestClient]:
    """A second browser on the same server (its own cookies: another person logged in)."""
    client = TestClient(staff_client.server)
    await client.start_server()
    yield client
    await client.session.close()  # the server is staff_client's to close


async def _towns(database, clock):
    """Two structures, each with an admin; the first also has an agent."""
    async with database.writing() as db:
        town = await builders.structure(db)
        other = await builders.structure(db)
        slugs = (town.slug, other.slug)
        ids = (town.id, other.id)
    admin = await make_staff(database, ids[0], "chef", StaffRole.ADMIN, now=clock.now())
    agent = await make_staff(database, ids[0], "agnes", StaffRole.AGENT, now=clock.now())
    neighbour = await make_staff(database, ids[1], "voisin", StaffRole.ADMIN, now=clock.now())
    return {
        "town": ids[0],
        "other": ids[1],
        "slug": slugs[0],
        "other_slug": slugs[1],
        "admin": StaffContext.of(admin),
        "agent": StaffContext.of(agent),
        "neighbour": StaffContext.of(neighbour),
    }


def _catalogue(slug: str, code: str = "cantine-test") -> bytes:
    return f"""
structure:
  slug: {slug}
  name: Ville de Test
activities:
  - code: {code}
    name: Cantine de test
    category: restauration
    payment_mode: invoice
    sessions:
      - date: 2027-03-09
        start: "11:30"
        end: "13:30"
        capacity: 40
        price: "3,50"
""".encode()


async def _audit(database, structure_id: int) -> list[StaffAudit]:
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(StaffAudit)
                .where(StaffAudit.structure_id == structure_id)
                .order_by(StaffAudit.id)
            )
        )


# Services ---------------------------------------------------------------------------------


async def test_an_admin_creates_a_staff_account_with_a_first_password_shown_once(database, clock):
    towns = await _towns(database, clock)
    async with database.writing() as db:
        member, password = await create_staff(
            db, towns["admin"], login=" Paul ", role=StaffRole.MANAGER, now=clock.now(),
            name="Paul", email="paul@example.org",
        )  # fmt: skip
    assert member.login == "paul" and member.structure_id == towns["town"]
    assert len(password) == 16
    async with database.writing() as db:
        found = await authenticate_staff(db, "paul", password, clock.now(), client=None)
    assert found.id == member.id
    audit = await _audit(database, towns["town"])
    assert audit[-1].action == "staff_added" and audit[-1].staff_id == towns["admin"].id


async def test_a_password_chosen_by_the_admin_follows_the_parents_rule(database, clock):
    towns = await _towns(database, clock)
    async with database.writing() as db:
        with pytest.raises(AdminRefused) as refused:
            await create_staff(
                db, towns["admin"], login="paul", role=StaffRole.AGENT, now=clock.now(),
                password="short1",
            )  # fmt: skip
    assert refused.value.code is AdminRefusal.WEAK_PASSWORD
    async with database.writing() as db:
        await create_staff(
            db, towns["admin"], login="paul", role=StaffRole.AGENT, now=clock.now(),
            password="cantine-2027",
        )  # fmt: skip
        with pytest.raises(AdminRefused) as taken:
            await create_staff(
                db, towns["admin"], login="PAUL", role=StaffRole.AGENT, now=clock.now()
            )
    assert taken.value.code is AdminRefusal.LOGIN_TAKEN
    async with database.writing() as db:
        assert await authenticate_staff(db, "paul", "cantine-2027", clock.now(), client=None)


async def test_an_admin_changes_a_role_but_not_their_own_nor_another_towns(database, clock):
    towns = await _towns(database, clock)
    async with database.writing() as db:
        await change_role(db, towns["admin"], towns["agent"].id, StaffRole.MANAGER, clock.now())
    async with database.writing() as db:
        with pytest.raises(AdminRefused) as own:
            await change_role(db, towns["admin"], towns["admin"].id, StaffRole.AGENT, clock.now())
        with pytest.raises(AdminRefused) as foreign:
            await change_role(
                db, towns["admin"], towns["neighbour"].id, StaffRole.AGENT, clock.now()
            )
    assert own.value.code is AdminRefusal.NOT_YOURSELF
    assert foreign.value.code is AdminRefusal.UNKNOWN_STAFF
    async with database.reading() as db:
        assert (await db.get(StaffMember, towns["agent"].id)).role is StaffRole.MANAGER
        assert (await db.get(StaffMember, towns["neighbour"].id)).role is StaffRole.ADMIN
    audit = await _audit(database, towns["town"])
    assert audit[-1].action == "staff_role_changed"
    assert audit[-1].data == {"login": "agnes", "before": "agent", "after": "manager"}


async def test_a_disabled_account_loses_its_sessions_and_cannot_log_in(database, clock):
    towns = await _towns(database, clock)
    async with database.writing() as db:
        member = await db.get(StaffMember, towns["agent"].id)
        token = await open_staff_session(db, member, clock.now())
    async with database.writing() as db:
        await disable_staff(db, towns["admin"], towns["agent"].id, clock.now())
    async with database.reading() as db:
        assert await staff_session(db, token, clock.now(), IDLE) is None
    async with database.writing() as db:
        with pytest.raises(Refused):
            await authenticate_staff(db, "agnes", STAFF_PASSWORD, clock.now(), client=None)
        with pytest.raises(AdminRefused) as own:
            await disable_staff(db, towns["admin"], towns["admin"].id, clock.now())
        with pytest.raises(AdminRefused) as foreign:
            await disable_staff(db, towns["admin"], towns["neighbour"].id, clock.now())
    assert own.value.code is AdminRefusal.NOT_YOURSELF
    assert foreign.value.code is AdminRefusal.UNKNOWN_STAFF
    async with database.writing() as db:
        await enable_staff(db, towns["admin"], towns["agent"].id, clock.now())
    async with database.writing() as db:
        assert await authenticate_staff(db, "agnes", STAFF_PASSWORD, clock.now(), client=None)
    assert [row.action for row in await _audit(database, towns["town"])][-2:] == [
        "staff_disabled",
        "staff_enabled",
    ]
    async with database.reading() as db:
        assert [line.login for line in await staff_of(db, towns["town"])] == ["agnes", "chef"]


async def test_settings_change_within_their_ranges_or_not_at_all(database, clock):
    towns = await _towns(database, clock)
    values = {
        "attendance_until_hour": "10",
        "digest_hour": "6",
        "reminder_hour": "18",
        "hold_minutes": "30",
        "invoice_basis": "attendance",
    }
    async with database.writing() as db:
        changes = await update_settings(db, towns["admin"], values, clock.now())
    assert changes == {
        "attendance_until_hour": [12, 10],
        "digest_hour": [7, 6],
        "hold_minutes": [60, 30],
        "invoice_basis": ["bookings", "attendance"],
    }
    for wrong, code in (
        ({"digest_hour": "24"}, AdminRefusal.OUT_OF_RANGE),
        ({"hold_minutes": "0"}, AdminRefusal.OUT_OF_RANGE),
        ({"reminder_hour": "six"}, AdminRefusal.OUT_OF_RANGE),
        ({"invoice_basis": "mood"}, AdminRefusal.BAD_INVOICE_BASIS),
    ):
        async with database.writing() as db:
            with pytest.raises(AdminRefused) as refused:
                await update_settings(
                    db, towns["admin"], {**values, "digest_hour": "5", **wrong}, clock.now()
                )
        assert refused.value.code is code
    async with database.reading() as db:
        town = await db.get(Structure, towns["town"])
        other = await db.get(Structure, towns["other"])
    assert (town.digest_hour, town.hold_minutes, town.invoice_basis) == (6, 30, "attendance")
    assert (other.digest_hour, other.invoice_basis) == (7, "bookings")
    audit = await _audit(database, towns["town"])
    assert [row.action for row in audit].count("settings_changed") == 1


async def test_a_catalogue_is_imported_only_into_the_admins_structure(database, clock):
    towns = await _towns(database, clock)
    spec = await read_catalogue_upload(_catalogue(towns["slug"]))
    async with database.writing() as db:
        report = await import_catalogue(db, towns["admin"], spec, clock.now())
    assert (report.activities_created, report.sessions_created) == (1, 1)

    foreign = await read_catalogue_upload(_catalogue(towns["other_slug"], code="cantine-voisine"))
    new_town = await read_catalogue_upload(_catalogue("brand-new-town", code="cantine-neuve"))
    for spec in (foreign, new_town):
        async with database.writing() as db:
            with pytest.raises(AdminRefused) as refused:
                await import_catalogue(db, towns["admin"], spec, clock.now())
        assert refused.value.code is AdminRefusal.OTHER_STRUCTURE
    async with database.reading() as db:
        codes = {
            code: structure_id
            for code, structure_id in await db.execute(select(Activity.code, Activity.structure_id))
        }
        assert await db.scalar(select(Structure).where(Structure.slug == "brand-new-town")) is None
    assert codes == {"cantine-test": towns["town"]}
    audit = await _audit(database, towns["town"])
    assert audit[-1].action == "catalogue_imported" and audit[-1].data["sessions_created"] == 1


async def test_a_wrong_catalogue_upload_names_each_error_and_its_place(database, clock):
    with pytest.raises(CatalogueError) as broken:
        await read_catalogue_upload(b"structure:\n  slug: x\n  slug: y\n", "ville.yaml")
    assert broken.value.errors[0].startswith("ville.yaml: line 3, column 3")
    with pytest.raises(CatalogueError) as wrong:
        await read_catalogue_upload(_catalogue("x").replace(b"capacity: 40", b"capacity: -1"))
    assert "activities[0] (cantine-test).sessions[0].capacity" in wrong.value.errors[0]


async def test_the_audit_lists_the_structures_latest_changes_first(database, clock):
    towns = await _towns(database, clock)
    clock.advance(timedelta(minutes=5))
    async with database.writing() as db:
        await change_role(db, towns["admin"], towns["agent"].id, StaffRole.MANAGER, clock.now())
    async with database.writing() as db:
        await create_staff(
            db, towns["neighbour"], login="ailleurs", role=StaffRole.AGENT, now=clock.now()
        )
    async with database.reading() as db:
        lines = await latest_audit(db, towns["town"])
    assert lines[0].action == "staff_role_changed" and lines[0].staff_login == "chef"
    assert lines[0].at == clock.now()
    assert [line.data["login"] for line in lines[1:]] == ["agnes", "chef"]  # newest first
    assert all(line.data.get("login") != "ailleurs" for line in lines)


# Pages ------------------------------------------------------------------------------------


async def test_an_admin_adds_an_account_on_the_page_and_it_logs_in(
    database, clock, staff_client, other_client
):
    await _towns(database, clock)
    browser = StaffBrowser(staff_client)
    await browser.log_in("chef")
    await browser.get("/staff/admin/staff")
    assert browser.status == 200 and "agnes" in browser.text and "voisin" not in browser.text

    await browser.post(
        "/staff/admin/staff",
        {
            "login": "zoe",
            "name": "Zoé",
            "email": "",
            "role": "agent",
            "password_choice": "generate",
        },
    )
    assert browser.status == 200 and "Compte zoe créé." in browser.text
    password = re.search(r'<code class="password">([^<]+)</code>', browser.page).group(1)
    await browser.get("/staff/admin/staff")
    assert password not in browser.page  # shown once

    newcomer = StaffBrowser(other_client)
    await newcomer.log_in("zoe", password)
    assert "Bonjour Zoé" in newcomer.text

    await browser.post(
        "/staff/admin/staff",
        {"login": "max", "role": "agent", "password_choice": "set", "password": "court"},
    )
    assert browser.status == 400 and "Mot de passe trop faible" in browser.text


async def test_disabling_an_account_on_the_page_ends_its_session(
    database, clock, staff_client, other_client
):
    towns = await _towns(database, clock)
    agent = StaffBrowser(other_client)
    await agent.log_in("agnes")
    assert "Bonjour Agnes" in agent.text
    admin = StaffBrowser(staff_client)
    await admin.log_in("chef")
    await admin.get("/staff/admin/staff")

    await admin.post(f"/staff/admin/staff/{towns['agent'].id}/disable")
    assert admin.status == 200 and "Modification enregistrée." in admin.text
    assert "Désactivé le" in admin.text

    await agent.get("/staff/")
    assert "Connexion à l'espace des services" in agent.text

    await admin.post(f"/staff/admin/staff/{towns['admin'].id}/disable")
    assert admin.status == 400 and "votre propre compte" in admin.text

    await admin.get("/staff/admin/staff")
    await admin.post(f"/staff/admin/staff/{towns['agent'].id}/role", {"role": "manager"})
    await admin.get("/staff/admin/audit")
    assert "staff_disabled" in admin.text and "staff_role_changed" in admin.text
    assert "chef" in admin.text


async def test_a_catalogue_upload_shows_errors_or_the_report(database, clock, staff_client):
    towns = await _towns(database, clock)
    admin = StaffBrowser(staff_client)
    await admin.log_in("chef")
    await admin.get("/staff/admin/catalogue")
    assert admin.status == 200

    broken = _catalogue(towns["slug"]).replace(b"capacity: 40", b"capacity: -1")
    await admin.post("/staff/admin/catalogue", {"file": _upload(broken)})
    assert admin.status == 400
    assert "activities[0] (cantine-test).sessions[0].capacity: must be ≥ 0" in admin.text

    await admin.post("/staff/admin/catalogue", {"file": _upload(_catalogue(towns["other_slug"]))})
    assert admin.status == 400 and "rien n'a été importé" in admin.text

    await admin.post("/staff/admin/catalogue", {"file": _upload(_catalogue(towns["slug"]))})
    assert admin.status == 200 and "Catalogue importé." in admin.text
    assert "Séances : 1 créées" in admin.text


def _upload(content: bytes) -> io.BytesIO:
    stream = io.BytesIO(content)
    stream.name = "catalogue.yaml"
    return stream


async def test_settings_are_saved_on_the_page_with_their_ranges(database, clock, staff_client):
    towns = await _towns(database, clock)
    admin = StaffBrowser(staff_client)
    await admin.log_in("chef")
    await admin.get("/staff/admin/settings")
    assert admin.status == 200 and 'name="digest_hour"' in admin.page
    values = {
        "attendance_until_hour": "11",
        "digest_hour": "6",
        "reminder_hour": "19",
        "hold_minutes": "45",
        "invoice_basis": "attendance",
    }
    await admin.post("/staff/admin/settings", values)
    assert admin.status == 200 and "Réglages enregistrés." in admin.text
    await admin.post("/staff/admin/settings", {**values, "digest_hour": "25"})
    assert admin.status == 400 and "de 0 à 23" in admin.text
    async with database.reading() as db:
        town = await db.get(Structure, towns["town"])
    assert (town.attendance_until_hour, town.digest_hour, town.reminder_hour) == (11, 6, 19)
    assert (town.hold_minutes, town.invoice_basis) == (45, "attendance")


ADMIN_GETS = [
    "/staff/admin/staff",
    "/staff/admin/catalogue",
    "/staff/admin/settings",
    "/staff/admin/audit",
]


@pytest.mark.parametrize("login", ["agnes", "gerant"])
async def test_agents_and_managers_get_403_on_every_admin_page(
    database, clock, staff_client, login
):
    towns = await _towns(database, clock)
    await make_staff(database, towns["town"], "gerant", StaffRole.MANAGER, now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in(login)
    assert "Administration" not in browser.text  # not in the menu
    for path in ADMIN_GETS:
        await browser.get(path)
        assert browser.status == 403, path
        assert "agnes" not in browser.text or login == "agnes"
    for path, data in (
        ("/staff/admin/staff", {"login": "intrus", "role": "admin"}),
        (f"/staff/admin/staff/{towns['admin'].id}/role", {"role": "agent"}),
        (f"/staff/admin/staff/{towns['admin'].id}/disable", {}),
        ("/staff/admin/settings", {"digest_hour": "3"}),
    ):
        await browser.post(path, data)
        assert browser.status == 403, path
    async with database.reading() as db:
        chef = await db.get(StaffMember, towns["admin"].id)
        assert chef.role is StaffRole.ADMIN and chef.disabled_at is None
        assert await db.scalar(select(StaffMember).where(StaffMember.login == "intrus")) is None


async def test_another_structures_admin_gets_404_for_this_structures_staff(
    database, clock, staff_client
):
    towns = await _towns(database, clock)
    neighbour = StaffBrowser(staff_client)
    await neighbour.log_in("voisin")
    await neighbour.get("/staff/admin/staff")
    assert "agnes" not in neighbour.text and "chef" not in neighbour.text
    for member in (towns["admin"], towns["agent"]):
        for action, data in (("role", {"role": "agent"}), ("disable", {}), ("enable", {})):
            await neighbour.get("/staff/admin/staff")
            await neighbour.post(f"/staff/admin/staff/{member.id}/{action}", data)
            assert neighbour.status == 404, (member.login, action)
            assert member.login not in neighbour.text
    await neighbour.get("/staff/admin/audit")
    assert neighbour.status == 200
    assert "agnes" not in neighbour.text and "chef" not in neighbour.text
    await neighbour.get("/staff/admin/settings")
    await neighbour.post(
        "/staff/admin/settings",
        {
            "attendance_until_hour": "9",
            "digest_hour": "9",
            "reminder_hour": "9",
            "hold_minutes": "9",
            "invoice_basis": "bookings",
        },
    )
    async with database.reading() as db:
        agent = await db.get(StaffMember, towns["agent"].id)
        town = await db.get(Structure, towns["town"])
        other = await db.get(Structure, towns["other"])
    assert agent.role is StaffRole.AGENT and agent.disabled_at is None
    assert town.digest_hour == 7 and other.digest_hour == 9

"""Every back-office page, enumerated from `bot.staff.web.PAGES`, keeps each structure to its
own data: another structure's ids (in the path, a form or a query) find nothing and change
nothing, no page shows another structure's names, every form needs the session's CSRF token,
a visitor without a session is sent to log in, and a role sees only the pages it may.

Structure A is the demo town (with February invoiced and a message sent); B is a small town
built here whose admin tries A's ids. A page added later is covered as soon as it is
registered; a path parameter this test cannot name fails with a message saying what to add.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

import bot.staff.app  # noqa: F401  (its import registers every page in PAGES)
from booking.clock import PARIS
from booking.db import Database
from booking.demo import DEMO_SLUG, STAFF_ACCOUNTS, demo_catalogue, demo_households, load_demo
from booking.models import (
    Activity,
    Base,
    Booking,
    BookingState,
    Dossier,
    Enrolment,
    EnrolmentStatus,
    Guardian,
    Household,
    Participant,
    Session,
    StaffMember,
    StaffRole,
    Structure,
)
from booking.services.invoices import issue_month
from booking.services.staff_accounts import StaffContext
from booking.services.staff_messages import send_message
from bot.staff.web import PAGES, Page
from tests import builders
from tests.rosters_support import book
from tests.staff_support import StaffBrowser, make_staff

TOMORROW = date(2027, 3, 2)  # the pinned Monday's next school day
PARAM = re.compile(r"\{(?P<name>\w+)(?::(?P<pattern>(?:[^{}]|\{[^{}]*\})+))?\}")
CHOICE = re.compile(r"^\w+(?:\|\w+)+$")  # {verdict:approve|refuse}: each word is a route

#: What a path parameter names, by its name, or for a bare `{id}` by the segment before it.
NAMED_KINDS = {
    "session_id": "session",
    "invoice_id": "invoice",
    "household_id": "household",
    "guardian": "guardian",
    "guardian_id": "guardian",
    "booking_id": "booking",
    "activity_id": "activity",
    "dossier_id": "dossier",
    "enrolment_id": "enrolment",
    "staff_id": "staff",
    "participant_id": "participant",
    "message_id": "message",
}
ID_AFTER = {
    "households": "household",
    "guardians": "guardian",
    "dossiers": "dossier",
    "enrolments": "enrolment",
    "staff": "staff",
    "sessions": "session",
    "attendance": "session",
    "roster": "session",
    "invoices": "invoice",
    "bookings": "booking",
    "activities": "activity",
    "children": "participant",
    "messages": "message",
}

#: POST pages without a path parameter that take another record's id in their form: what
#: B's admin sends with A's ids (filled in by `_form_cases`).
FORM_ID_PAGES = {"messages_send", "session_create", "sessions_day_cancel", "sessions_waves_set"}
#: POST pages without a path parameter that only ever act on the staff's own structure.
OWN_STRUCTURE_PAGES = {
    "logout",
    "admin_staff_add",
    "admin_catalogue_import",
    "admin_settings_save",
    "household_create",
    "household_import",
    "invoices_issue",
}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str | None = None  # a record's kind, or None for a choice
    choices: tuple[str, ...] = ()


@dataclass
class Towns:
    """A's and B's ids by kind, A's names (never to be shown to B), B's admin's login."""

    a: dict[str, int]
    b: dict[str, int]
    a_names: list[str]


# Reading PAGES -----------------------------------------------------------------------------


def params_of(item: Page) -> list[Param]:
    """The page's path parameters with what each names; fails on one it cannot name."""
    found = []
    segments = item.path.split("/")
    for index, segment in enumerate(segments):
        for match in PARAM.finditer(segment):
            name, pattern = match.group("name"), match.group("pattern") or ""
            if CHOICE.match(pattern):
                found.append(Param(name, choices=tuple(pattern.split("|"))))
                continue
            kind = NAMED_KINDS.get(name)
            if kind is None and name == "id" and index > 0:
                kind = ID_AFTER.get(segments[index - 1])
            if kind is None:
                pytest.fail(
                    f"{item.method} {item.path}: the isolation test does not know what "
                    f"{{{name}}} names. Add it to NAMED_KINDS (or ID_AFTER for a bare {{id}}) "
                    "in tests/integration/test_staff_isolation.py, with ids of that kind in "
                    "both towns' fixtures."
                )
            found.append(Param(name, kind))
    return found


def fill(item: Page, values: dict[str, str]) -> str:
    """The page's path with each parameter replaced (its regex dropped)."""
    return PARAM.sub(lambda match: values[match.group("name")], item.path)


def path_variants(item: Page, towns: Towns) -> Iterator[str]:
    """Paths of `item` naming at least one of A's records: every mix of A's and B's ids."""
    params = params_of(item)
    options = []
    for param in params:
        if param.kind is None:
            options.append([(param.name, choice, False) for choice in param.choices])
        else:
            mine = [(param.name, str(towns.a[param.kind]), True)]
            if param.kind in towns.b:
                mine.append((param.name, str(towns.b[param.kind]), False))
            options.append(mine)
    for combination in itertools.product(*options):
        if any(is_a for _, _, is_a in combination):
            yield fill(item, {name: value for name, value, _ in combination})


def own_path(item: Page, towns: Towns) -> str:
    """The page's path with B's own ids (the first word of a choice)."""
    values = {}
    for param in params_of(item):
        values[param.name] = param.choices[0] if param.kind is None else str(towns.b[param.kind])
    return fill(item, values)


def pages(method: str, *, with_params: bool) -> list[Page]:
    return [
        item
        for item in PAGES
        if item.method == method and bool(PARAM.search(item.path)) is with_params
    ]


def form_for(ids: dict[str, int]) -> dict[str, Any]:
    """Fields that pass every page's own checks, so that what refuses is the lookup."""
    return {
        "reason": "Vérification",
        "role": "agent",
        "amount": "1,00",
        "line": "0",
        "start": "10:00",
        "end": "11:00",
        "price": "1,00",
        "place": "Ailleurs",
        "label": "Essai",
        "capacity": "99",
        "booking_id": str(ids["booking"]),
        "status": "present",
        "notes": "Rien",
        "missing_items": "",
    }


# The two towns ---------------------------------------------------------------------------


async def _demo_ids(database: Database, now: datetime) -> dict[str, int]:
    """The demo town (A) with February invoiced and a message sent to tomorrow's canteen."""
    assert await load_demo(database, now)
    async with database.writing() as db:
        structure = await db.scalar(select(Structure).where(Structure.slug == DEMO_SLUG))
        manager = await db.scalar(select(StaffMember).where(StaffMember.login == "mairie-gestion"))
        staff = StaffContext.of(manager)
        household = await db.scalar(select(Household).where(Household.reference == "dupont"))
        guardian = await db.scalar(select(Guardian).where(Guardian.household_id == household.id))
        lea = await db.scalar(select(Participant).where(Participant.first_name == "Léa"))
        canteen = await db.scalar(select(Activity).where(Activity.code == "cantine"))
        lunch = await db.scalar(
            select(Session).where(Session.activity_id == canteen.id, Session.day == TOMORROW)
        )
        booking = await db.scalar(
            select(Booking).where(
                Booking.session_id == lunch.id, Booking.state == BookingState.CONFIRMED
            )
        )
        dossier = await db.scalar(select(Dossier).where(Dossier.validated_at.is_(None)))
        enrolment = await db.scalar(
            select(Enrolment).where(Enrolment.status == EnrolmentStatus.PENDING)
        )
        invoices = await issue_month(
            db, structure_id=structure.id, year=2027, month=2, staff=staff, now=now
        )
        message = await send_message(
            db, staff, scope="session", key=str(lunch.id), subject="Menu", text="Frites", now=now
        )
        return {
            "structure": structure.id,
            "household": household.id,
            "guardian": guardian.id,
            "participant": lea.id,
            "session": lunch.id,
            "activity": canteen.id,
            "booking": booking.id,
            "dossier": dossier.id,
            "enrolment": enrolment.id,
            "invoice": invoices[0].id,
            "staff": manager.id,
            "message": message.id,
        }


def _demo_names(now: datetime) -> list[str]:
    """What only A's pages may show: families, children, guardians, staff, town, activities."""
    names = {"Ville de Ribambelle", "École Jean Jaurès", "arachide", "06 12 34"}
    for household in demo_households(now.date()):
        names |= {household.last_name, household.guardian_first_name}
        names |= {child.first_name for child in household.children}
    names |= {name for _, _, name in STAFF_ACCOUNTS} | {login for login, _, _ in STAFF_ACCOUNTS}
    names |= {activity["name"] for activity in demo_catalogue(now)["activities"]}
    return sorted(names)


async def _small_town(database: Database, now: datetime) -> dict[str, int]:
    """B: one family at the pool (a booking tomorrow, one in February, invoiced), a dossier
    to validate, an enrolment to decide, an admin, an agent and a manager, a message sent."""
    async with database.writing() as db:
        town = await builders.structure(db)
        pool = await builders.activity(db, town, name="Piscine municipale")
        judo = await builders.activity(db, town, name="Judo club", enrolment_required=True)
        tomorrow = await builders.session(
            db, pool, starts_at=datetime(2027, 3, 2, 16, 30, tzinfo=PARIS), hours=1
        )
        february = await builders.session(
            db, pool, starts_at=datetime(2027, 2, 16, 16, 30, tzinfo=PARIS), hours=1
        )
        family = await builders.family(db, town, name="NGUYEN")
        family.child.first_name = "Yanis"
        family.guardian.first_name = "Mai"
        sacha = await builders.participant(
            db, family.household, first_name="Sacha", missing=["vaccins"], validated=False
        )
        enrolment = await builders.enrolment(db, family.child, judo, EnrolmentStatus.PENDING)
        booking = await book(db, tomorrow, family.child)
        await book(db, february, family.child)
        dossier = await db.scalar(select(Dossier).where(Dossier.participant_id == sacha.id))
        town_id, household_id = town.id, family.household.id
        ids = {
            "structure": town_id,
            "household": household_id,
            "guardian": family.guardian.id,
            "participant": family.child.id,
            "session": tomorrow.id,
            "activity": pool.id,
            "booking": booking.id,
            "dossier": dossier.id,
            "enrolment": enrolment.id,
        }
    admin = await make_staff(database, town_id, "admin-b", StaffRole.ADMIN, now=now)
    manager = await make_staff(database, town_id, "gestion-b", StaffRole.MANAGER, now=now)
    await make_staff(database, town_id, "agent-b", StaffRole.AGENT, now=now)
    async with database.writing() as db:
        staff = StaffContext.of(await db.get(StaffMember, admin.id))
        invoices = await issue_month(
            db, structure_id=town_id, year=2027, month=2, staff=staff, now=now
        )
        message = await send_message(
            db,
            staff,
            scope="session",
            key=str(ids["session"]),
            subject="Bonnet",
            text="Obligatoire",
            now=now,
        )
    return {**ids, "invoice": invoices[0].id, "staff": manager.id, "message": message.id}


@pytest.fixture
async def towns(database: Database, clock) -> Towns:  # noqa: ANN001
    a = await _demo_ids(database, clock.now())
    b = await _small_town(database, clock.now())
    return Towns(a, b, _demo_names(clock.now()))


async def b_admin(client: TestClient, login: str = "admin-b") -> StaffBrowser:
    browser = StaffBrowser(client)
    await browser.log_in(login)
    assert browser.status == 200 and "Bonjour" in browser.text, browser.text[:300]
    return browser


# Checks ------------------------------------------------------------------------------------


async def snapshot(database: Database) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    async with database.reading() as db:
        return {
            table.name: [
                tuple(row)
                for row in await db.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def changed_tables(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def leaked(towns: Towns, body: str) -> list[str]:
    """A's names found in a response (its HTML as sent, and unescaped)."""
    text = body + "\n" + html.unescape(body)
    return [name for name in towns.a_names if name in text]


async def answer(
    client: TestClient, method: str, path: str, *, follow: bool = False, **kwargs: Any
) -> tuple[int, str]:
    response = await client.request(method, path, allow_redirects=follow, **kwargs)
    body = await response.read()
    return response.status, body.decode("utf-8", errors="replace")


# The tests ---------------------------------------------------------------------------------


async def test_every_page_names_each_path_parameter() -> None:
    """Read PAGES once on its own: a parameter nobody named fails here with what to add."""
    with_params = [item for item in PAGES if PARAM.search(item.path)]
    assert with_params, "no page with a path parameter: is bot.staff.app imported?"
    for item in with_params:
        assert params_of(item)


async def test_pages_given_another_structures_ids_find_nothing_and_change_nothing(
    database: Database, towns: Towns, staff_client: TestClient
) -> None:
    browser = await b_admin(staff_client)
    form = {**form_for(towns.a), "csrf": browser.csrf}
    before = await snapshot(database)
    tried = 0
    for item in [*pages("GET", with_params=True), *pages("POST", with_params=True)]:
        for path in path_variants(item, towns):
            data = form if item.method == "POST" else None
            status, body = await answer(staff_client, item.method, path, data=data)
            tried += 1
            assert status in (403, 404), f"{item.method} {path} ({item.name}): {status}"
            assert leaked(towns, body) == [], f"{item.method} {path} shows {leaked(towns, body)}"
    assert tried >= len(pages("POST", with_params=True)) + len(pages("GET", with_params=True))
    assert changed_tables(before, await snapshot(database)) == []


async def _form_cases(towns: Towns) -> list[tuple[str, str, dict[str, Any]]]:
    """(page name, path, form) where a form field names one of A's records."""
    a = towns.a
    message = {"subject": "Fermeture", "text": "L'école est fermée."}
    wave = {"activity": a["activity"], "opens_at": "2027-04-01T08:00"}
    attendance = next(item for item in PAGES if item.name == "attendance_mark")
    return [
        ("messages_send", "", {"scope": "session", "session": a["session"], **message}),
        ("messages_send", "", {"scope": "session", "session": a["session"], "action": "send", **message}),
        ("messages_send", "", {"scope": "activity", "activity": a["activity"], "action": "send", **message}),
        ("session_create", "", {"activity": a["activity"], "day": "2027-03-20", "start": "10:00", "end": "11:00", "capacity": "5", "price": "1,00"}),
        ("sessions_day_cancel", "", {"day": TOMORROW.isoformat(), "activity": a["activity"], "reason": "Neige"}),
        ("sessions_waves_set", "", {**wave, "what": "opening"}),
        ("sessions_waves_set", "", {**wave, "what": "wave", "group": "resident"}),
        # B's own session, A's booking: the booking is not on that session.
        ("attendance_mark", fill(attendance, {"session_id": str(towns.b["session"])}), {"booking_id": a["booking"], "status": "present"}),
    ]  # fmt: skip


async def test_another_structures_ids_in_a_form_or_a_query_find_nothing(
    database: Database, towns: Towns, staff_client: TestClient
) -> None:
    unknown = (
        {item.name for item in pages("POST", with_params=False)}
        - FORM_ID_PAGES
        - OWN_STRUCTURE_PAGES
    )
    assert not unknown, (
        f"POST pages {sorted(unknown)}: add each to FORM_ID_PAGES (and a case in _form_cases) "
        "if its form names a record, else to OWN_STRUCTURE_PAGES"
    )
    browser = await b_admin(staff_client)
    by_name = {item.name: item for item in PAGES}
    before = await snapshot(database)
    for name, path, form in await _form_cases(towns):
        status, body = await answer(
            staff_client, "POST", path or by_name[name].path, data={**form, "csrf": browser.csrf}
        )
        assert status in (403, 404), f"{name} with {form}: {status}"
        assert leaked(towns, body) == [], f"{name} shows {leaked(towns, body)}"

    a = towns.a
    query = {
        "activity": a["activity"],
        "scope": "session",
        "target": a["session"],
        "session": a["session"],
        "household": a["household"],
        "day": TOMORROW.isoformat(),
        "month": "2027-02",
        "from": "2027-02-01",
        "to": "2027-03-31",
        "q": "Famille",  # every demo household's name starts with it
    }
    for item in pages("GET", with_params=False):
        status, body = await answer(staff_client, "GET", item.path, follow=True, params=query)
        assert status in (200, 400, 404), f"GET {item.path}?…: {status}"
        assert leaked(towns, body) == [], (
            f"GET {item.path} with A's ids shows {leaked(towns, body)}"
        )
    assert changed_tables(before, await snapshot(database)) == []


async def test_no_page_shows_another_structures_names(
    towns: Towns, staff_client: TestClient
) -> None:
    await b_admin(staff_client)
    for item in pages("GET", with_params=False):
        status, body = await answer(staff_client, "GET", item.path, follow=True)  # /staff/admin
        assert status == 200, f"GET {item.path}: {status}"
        assert leaked(towns, body) == [], f"GET {item.path} shows {leaked(towns, body)}"
    # B's own records are there (the pages were not empty by accident).
    response = await staff_client.get("/staff/today", params={"day": TOMORROW.isoformat()})
    assert "Yanis NGUYEN" in await response.text()


async def test_every_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    database: Database, towns: Towns, staff_client: TestClient
) -> None:
    other = await b_admin(staff_client, "gestion-b")  # another session's genuine token
    staff_client.session.cookie_jar.clear()
    browser = await b_admin(staff_client)
    assert other.csrf and other.csrf != browser.csrf
    form = form_for(towns.b)
    before = await snapshot(database)
    for item in PAGES:
        if item.method != "POST":
            continue
        path = own_path(item, towns)
        for token in (None, "", "forged", other.csrf):
            data = form if token is None else {**form, "csrf": token}
            status, _ = await answer(staff_client, "POST", path, data=data)
            assert status == 403, f"POST {path} ({item.name}) with csrf={token!r}: {status}"
    assert changed_tables(before, await snapshot(database)) == []
    await browser.get("/staff/")
    assert "Bonjour Admin-B" in browser.text  # the refused logout left the session open


async def test_a_visitor_without_a_session_is_sent_to_log_in_and_changes_nothing(
    database: Database, towns: Towns, staff_client: TestClient
) -> None:
    before = await snapshot(database)
    for item in PAGES:
        path = own_path(item, towns)
        response = await staff_client.request(
            item.method, path, data=form_for(towns.b) if item.method == "POST" else None,
            allow_redirects=False,
        )  # fmt: skip
        assert response.status == 303, f"{item.method} {path}: {response.status}"
        expected = f"/staff/login?next={quote(path)}" if item.method == "GET" else "/staff/login"
        assert response.headers["Location"] == expected
    assert changed_tables(before, await snapshot(database)) == []


@pytest.mark.parametrize(
    ("login", "role"), [("agent-b", StaffRole.AGENT), ("gestion-b", StaffRole.MANAGER)]
)
async def test_a_role_too_low_is_forbidden_every_page_above_it(
    database: Database, towns: Towns, staff_client: TestClient, login: str, role: StaffRole
) -> None:
    browser = await b_admin(staff_client, login)
    form = {**form_for(towns.b), "csrf": browser.csrf}
    above = [item for item in PAGES if not role.allows(item.role)]
    assert above, f"no page above {role}"
    before = await snapshot(database)
    for item in above:
        path = own_path(item, towns)
        data = form if item.method == "POST" else None
        status, _ = await answer(staff_client, item.method, path, data=data)
        assert status == 403, f"{login} {item.method} {path}: {status}"
    assert changed_tables(before, await snapshot(database)) == []

"""The back office under a year of a town: tomorrow's roster of 300 children and the dashboard.

    .venv/bin/python bench/staff.py [--households 2000] [--runs 30] [--no-postgres] [--no-write]

1. Builds, in a fresh SQLite file under /tmp and (when the server answers) in a scratch
   PostgreSQL database, a town of `--households` households (one or two children each, seven
   schools) and a school year of bookings, inserted in bulk through SQLAlchemy core: each
   school's canteen four days a week for 70 % of the children (5 % cancelled, one in five of
   those late), the evening care twice a week for 30 %, Wednesdays at the leisure centre
   (120 places, a waitlist, paid online), attendance of every past canteen day (3 % absent),
   monthly invoices, a few open payment links. Tomorrow's canteen of the first school has
   about 300 children.
2. Serves the real app (`build_app`, the product's pages and queries, a pinned clock) on
   127.0.0.1, logs a manager in through the login form, and times the pages over HTTP:
   GET /staff/today?day=<tomorrow>, GET /staff/roster/<the 300 children's session> and
   GET /staff/dashboard (its default period: 12 weeks back, 4 ahead), `--runs` times each
   after two warm-up requests.
3. Prints the median and p95 and overwrites the `staff` section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bench.report import machine, percentile, replace_section  # noqa: E402
from booking.clock import PARIS, FrozenClock  # noqa: E402
from booking.db import Database  # noqa: E402
from booking.migrate import upgrade  # noqa: E402
from booking.models import (  # noqa: E402
    Activity,
    Attendance,
    AttendanceStatus,
    Booking,
    BookingEvent,
    BookingState,
    Category,
    Channel,
    Dossier,
    EventKind,
    Guardian,
    Household,
    Invoice,
    InvoiceKind,
    Participant,
    Payment,
    PaymentMode,
    PaymentPurpose,
    PaymentState,
    Session,
    StaffRole,
    Structure,
)
from booking.passwords import hash_password  # noqa: E402
from booking.services.staff_accounts import add_staff  # noqa: E402
from bot.app import build_app  # noqa: E402
from bot.settings import Settings  # noqa: E402

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=PARIS)  # a Monday: tomorrow is a canteen day
FIRST_DAY = date(2026, 3, 2)  # a year back
LAST_DAY = date(2027, 4, 2)  # and a month ahead
SCHOOLS = 7
CANTEEN_PRICE = 350
WEDNESDAY_PLACES = 120
STAFF_LOGIN = "bench-gestion"
STAFF_PASSWORD = "bench-staff-2027"
POSTGRES_URL = os.environ.get(
    "RIBAMBELLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CHUNK = 20_000
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Built:
    households: int
    children: int
    sessions: int
    bookings: int
    attendance: int
    events: int
    payments: int
    invoices: int
    roster_session_id: int
    roster_children: int
    seconds: float


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


def _school_days() -> list[date]:
    days, day = [], FIRST_DAY
    while day <= LAST_DAY:
        if day.weekday() < 5 and day.month != 8:
            days.append(day)
        day += timedelta(days=1)
    return days


async def _insert(db: Any, model: type, rows: list[dict]) -> None:
    """Core executemany on the table (the ORM's bulk path sends one statement per batch)."""
    keys = set().union(*rows) if rows else set()
    for row in rows:  # one executemany needs the same keys in every row
        for key in keys - row.keys():
            default = model.__table__.c[key].default
            row[key] = default.arg if default is not None and default.is_scalar else None
    connection = await db.connection()
    for first in range(0, len(rows), CHUNK):
        await connection.execute(insert(model.__table__), rows[first : first + CHUNK])


async def build(database: Database, households: int) -> Built:
    """The town, in bulk: ids are given here so that no row is read back."""
    started = time.perf_counter()
    rows: dict[type, list[dict]] = {model: [] for model in (Household, Guardian, Participant)}
    structure = {"id": 1, "slug": "bench-staff", "name": "Ville du banc d'essai"}
    activities = []
    for school in range(SCHOOLS):
        activities.append(
            {"id": 1 + school, "code": f"cantine-{school}", "name": f"Cantine école {school + 1}",
             "category": Category.RESTAURATION, "payment_mode": PaymentMode.INVOICE}
        )  # fmt: skip
        activities.append(
            {"id": 101 + school, "code": f"soir-{school}", "name": f"Accueil du soir {school + 1}",
             "category": Category.PERISCOLAIRE, "payment_mode": PaymentMode.INVOICE}
        )  # fmt: skip
    activities.append(
        {"id": 200, "code": "mercredis", "name": "Mercredis loisirs", "category": Category.ALSH,
         "payment_mode": PaymentMode.IMMEDIATE, "waitlist_enabled": True}
    )  # fmt: skip
    for activity in activities:
        activity.update(structure_id=1, min_age=0, max_age=None)

    children: list[tuple[int, int, int]] = []  # (participant id, household id, school)
    dossiers = []
    for h in range(1, households + 1):
        rows[Household].append(
            {"id": h, "structure_id": 1, "reference": f"B{h:05d}", "name": f"FAMILLE{h:05d}"}
        )
        rows[Guardian].append(
            {"id": h, "household_id": h, "login": f"bench{h:05d}", "password_hash": "x",
             "first_name": "Parent", "last_name": f"FAMILLE{h:05d}",
             "phone": f"06 {h % 100:02d} {h // 100:02d} 00 00", "must_change_password": False}
        )  # fmt: skip
        for k in range(1 + h % 2):
            pid = len(children) + 1
            school = pid % SCHOOLS
            children.append((pid, h, school))
            rows[Participant].append(
                {"id": pid, "household_id": h, "first_name": f"Enfant{k}",
                 "last_name": f"FAMILLE{h:05d}", "birth_date": date(2017 + pid % 5, 1 + pid % 12, 1),
                 "school_class": f"CE{1 + pid % 2}"}
            )  # fmt: skip
            dossiers.append(
                {"id": pid, "participant_id": pid, "structure_id": 1, "missing_items": [],
                 "validated_at": NOW - timedelta(days=200),
                 "notes": "allergie arachide" if pid % 40 == 0 else ""}
            )  # fmt: skip

    sessions, bookings, attendance, events, payments = [], [], [], [], []
    canteen_sessions: dict[tuple[int, date], int] = {}
    invoice_counts: dict[tuple[int, int, int], int] = {}
    today = NOW.date()
    for day in _school_days():
        if day.weekday() == 2:
            sid = len(sessions) + 1
            sessions.append(
                {"id": sid, "activity_id": 200, "starts_at": _at(day, 9), "ends_at": _at(day, 17),
                 "day": day, "capacity": WEDNESDAY_PLACES, "price_cents": 800}
            )  # fmt: skip
            continue
        for school in range(SCHOOLS):
            sid = len(sessions) + 1
            canteen_sessions[(school, day)] = sid
            sessions.append(
                {"id": sid, "activity_id": 1 + school, "starts_at": _at(day, 11, 30),
                 "ends_at": _at(day, 13, 30), "day": day, "capacity": 330,
                 "price_cents": CANTEEN_PRICE}
            )  # fmt: skip
            if day.weekday() in (1, 3):
                sessions.append(
                    {"id": sid + 1, "activity_id": 101 + school, "starts_at": _at(day, 16, 30),
                     "ends_at": _at(day, 18, 30), "day": day, "capacity": 200, "price_cents": 250}
                )  # fmt: skip
    for session in sessions:
        session["label"] = ""
    by_activity_day: dict[tuple[int, date], dict] = {
        (s["activity_id"], s["day"]): s for s in sessions
    }

    def book(session: dict, pid: int, hid: int, state: BookingState, n: int) -> int:
        bid = len(bookings) + 1
        bookings.append(
            {"id": bid, "session_id": session["id"], "participant_id": pid, "household_id": hid,
             "state": state, "price_cents": session["price_cents"],
             "created_at": session["starts_at"] - timedelta(days=20 + n % 10),
             "confirmed_at": session["starts_at"] - timedelta(days=20)
             if state == BookingState.CONFIRMED else None}
        )  # fmt: skip
        return bid

    wednesday_count: dict[date, int] = {}
    for n, (pid, hid, school) in enumerate(children):
        eats = (pid // SCHOOLS) % 10 < 7
        evening = (pid // SCHOOLS) % 10 >= 7
        wednesdays = pid % 5 == 0
        for day in _school_days():
            weekday = day.weekday()
            if weekday == 2:
                if not wednesdays:
                    continue
                session = by_activity_day[(200, day)]
                taken = wednesday_count.get(day, 0)
                if taken >= WEDNESDAY_PLACES + 30:
                    continue
                wednesday_count[day] = taken + 1
                if taken < WEDNESDAY_PLACES:
                    book(session, pid, hid, BookingState.CONFIRMED, n)
                    payments.append(
                        {"id": len(payments) + 1, "household_id": hid,
                         "purpose": PaymentPurpose.BASKET, "amount_cents": 800,
                         "state": PaymentState.PAID, "created_at": session["starts_at"] - timedelta(days=20),
                         "settled_at": session["starts_at"] - timedelta(days=20)}
                    )  # fmt: skip
                else:
                    book(session, pid, hid, BookingState.WAITLISTED, n)
                continue
            if eats:
                session = by_activity_day[(1 + school, day)]
                cancelled = (pid + day.toordinal()) % 20 == 0 and day != today + timedelta(days=1)
                state = BookingState.CANCELLED if cancelled else BookingState.CONFIRMED
                bid = book(session, pid, hid, state, n)
                if cancelled:
                    late = (pid + day.toordinal()) % 100 == 0
                    events.append(
                        {"id": len(events) + 1, "kind": EventKind.CANCELLED, "booking_id": bid,
                         "session_id": session["id"], "household_id": hid, "actor": f"household:{hid}",
                         "channel": Channel.WEB, "data": {},
                         "at": session["starts_at"] - timedelta(hours=20 if late else 100)}
                    )  # fmt: skip
                elif day < today:
                    roll = (pid * 7 + day.toordinal()) % 100
                    status = (
                        AttendanceStatus.ABSENT if roll < 3
                        else AttendanceStatus.EXCUSED if roll < 5
                        else AttendanceStatus.PRESENT
                    )  # fmt: skip
                    attendance.append(
                        {"id": len(attendance) + 1, "booking_id": bid, "session_id": session["id"],
                         "participant_id": pid, "household_id": hid, "status": status,
                         "marked_at": session["starts_at"] + timedelta(hours=1)}
                    )  # fmt: skip
                if not cancelled:
                    key = (hid, day.year, day.month)
                    invoice_counts[key] = invoice_counts.get(key, 0) + 1
            if evening and weekday in (1, 3):
                book(by_activity_day[(101 + school, day)], pid, hid, BookingState.CONFIRMED, n)
    for h in range(1, min(households, 60) + 1):  # links sent, not paid yet
        payments.append(
            {"id": len(payments) + 1, "household_id": h, "purpose": PaymentPurpose.BASKET,
             "amount_cents": 800, "state": PaymentState.CREATED,
             "created_at": NOW - timedelta(minutes=h), "expires_at": NOW + timedelta(hours=1)}
        )  # fmt: skip
    invoices = []
    this_month = (today.year, today.month)
    for (hid, year, month), count in sorted(invoice_counts.items()):
        if (year, month) >= this_month:
            continue
        number = len(invoices) + 1
        invoices.append(
            {"id": number, "structure_id": 1, "household_id": hid, "number": f"F{number:06d}",
             "sequence": number, "kind": InvoiceKind.INVOICE, "year": year, "month": month,
             "household_name": f"FAMILLE{hid:05d}", "household_reference": f"B{hid:05d}",
             "lines": [{"label": "Cantine", "count": count, "cents": CANTEEN_PRICE}],
             "total_cents": count * CANTEEN_PRICE,
             "issued_at": _at(date(year, month, 28), 10)}
        )  # fmt: skip

    async with database.writing() as db:
        await _insert(db, Structure, [structure])
        await _insert(db, Activity, activities)
        for model in (Household, Guardian, Participant):
            await _insert(db, model, rows[model])
        await _insert(db, Dossier, dossiers)
        await _insert(db, Session, sessions)
        await _insert(db, Booking, bookings)
        await _insert(db, BookingEvent, events)
        await _insert(db, Attendance, attendance)
        await _insert(db, Payment, payments)
        await _insert(db, Invoice, invoices)
        if not database.is_sqlite:  # ids were given: move the sequences past them
            for table in ("structures", "activities", "households", "guardians", "participants",
                          "dossiers", "sessions", "bookings", "booking_events", "attendance",
                          "payments", "invoices"):  # fmt: skip
                await db.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        await add_staff(
            db, structure_id=1, login=STAFF_LOGIN, role=StaffRole.MANAGER,
            password_hash=hash_password(STAFF_PASSWORD), now=NOW, name="Banc d'essai",
        )  # fmt: skip
    if database.is_sqlite:
        async with database.writing() as db:
            await db.execute(text("ANALYZE"))
    else:  # what autovacuum does after a load: statistics, and the visibility map that
        # lets counts read indexes only; VACUUM runs outside a transaction
        url = database.engine.url.set(drivername="postgresql").render_as_string(False)
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()
    roster_id = canteen_sessions[(0, today + timedelta(days=1))]
    return Built(
        households=households,
        children=len(children),
        sessions=len(sessions),
        bookings=len(bookings),
        attendance=len(attendance),
        events=len(events),
        payments=len(payments),
        invoices=len(invoices),
        roster_session_id=roster_id,
        roster_children=sum(
            1
            for b in bookings
            if b["session_id"] == roster_id and b["state"] == BookingState.CONFIRMED
        ),  # fmt: skip
        seconds=time.perf_counter() - started,
    )


async def time_pages(database: Database, built: Built, runs: int) -> dict[str, list[float]]:
    """Each page `runs` times through the real app over HTTP, after two warm-up requests."""
    app = build_app(
        Settings(database_url="sqlite://unused", public_url="http://127.0.0.1:8099"),
        database=database,
        clock=FrozenClock(NOW),
        run_scheduler=False,
        telegram=False,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    pages = {
        f"GET /staff/today?day={tomorrow}": f"/staff/today?day={tomorrow}",
        "GET /staff/roster/<300 children>": f"/staff/roster/{built.roster_session_id}",
        "GET /staff/dashboard": "/staff/dashboard",
    }
    timings: dict[str, list[float]] = {}
    try:
        # unsafe: keep cookies of an IP address (127.0.0.1), as a browser does
        async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
            login = await (await client.get("/staff/login")).text()
            token = html.unescape(CSRF.search(login).group(1))
            answer = await client.post(
                "/staff/login",
                data={"csrf": token, "login": STAFF_LOGIN, "password": STAFF_PASSWORD},
            )
            if "/staff/login" in str(answer.url):
                raise SystemExit("could not log in to the back office")
            for name, path in pages.items():
                values = []
                for run in range(runs + 2):
                    started = time.perf_counter()
                    response = await client.get(path)
                    body = await response.read()
                    elapsed = time.perf_counter() - started
                    if response.status != 200:
                        print(f"{name}: HTTP {response.status}", file=sys.stderr)
                        break
                    if run >= 2:
                        values.append(elapsed)
                timings[name] = values
                print(f"  {name}: {len(body) // 1024} kB", file=sys.stderr)
    finally:
        await runner.cleanup()
    return timings


async def _postgres_scratch() -> str | None:
    try:
        admin = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    name = f"ribambelle_bench_staff_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return name


async def _drop_postgres(name: str) -> None:
    admin = await asyncpg.connect(POSTGRES_URL, timeout=3)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def run_on(url: str, households: int, runs: int) -> tuple[Built, dict[str, list[float]]]:
    await asyncio.to_thread(upgrade, url)
    database = Database.from_url(url)
    try:
        built = await build(database, households)
        print(
            f"  built in {built.seconds:.1f} s: {built.bookings} bookings, "
            f"{built.attendance} attendance marks; tomorrow's roster: {built.roster_children}",
            file=sys.stderr,
        )
        return built, await time_pages(database, built, runs)
    finally:
        await database.dispose()


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.0f} ms" if values else "–"


async def main_async(args: argparse.Namespace) -> str:
    results: list[tuple[str, Built, dict[str, list[float]]]] = []
    folder = Path(tempfile.mkdtemp(prefix="ribambelle-staff-bench-"))
    print(f"SQLite in {folder}", file=sys.stderr)
    built, timings = await run_on(f"sqlite:///{folder / 'staff.db'}", args.households, args.runs)
    results.append(("SQLite", built, timings))
    scratch = None if args.no_postgres else await _postgres_scratch()
    if scratch:
        print(f"PostgreSQL database {scratch}", file=sys.stderr)
        base, _, _ = POSTGRES_URL.rpartition("/")
        try:
            built, timings = await run_on(f"{base}/{scratch}", args.households, args.runs)
            results.append(("PostgreSQL", built, timings))
        finally:
            if args.keep:
                print(f"kept: {base}/{scratch}", file=sys.stderr)
            else:
                await _drop_postgres(scratch)
    elif not args.no_postgres:
        print(f"PostgreSQL not reachable at {POSTGRES_URL}: SQLite only", file=sys.stderr)

    info = machine()
    first = results[0][1]
    lines = [
        f"A town of {first.households:,} households ({first.children:,} children, seven "
        f"schools) and a school year of bookings: {first.bookings:,} bookings on "
        f"{first.sessions:,} sessions, {first.attendance:,} attendance marks, "
        f"{first.events:,} cancellations, {first.payments:,} payments, {first.invoices:,} "
        f"invoices (built in bulk in {first.seconds:.0f} s on SQLite). Tomorrow's canteen of "
        f"the first school has {first.roster_children} children. Each page is asked "
        f"{args.runs} times over HTTP from the same machine, through the real app (one "
        f"process, a manager logged in), after two warm-up requests; {info['cores']} cores "
        f"({info['cpu']}), Python {info['python']}, SQLite {info['sqlite']}. "
        "Target: under 300 ms each.",
        "",
        "| database | page | median | p95 | max |",
        "|---|---|---|---|---|",
    ]
    for name, _, timings in results:
        for page_name, values in timings.items():
            worst = f"{max(values) * 1000:.0f} ms" if values else "–"
            median = f"{statistics.median(values) * 1000:.0f} ms" if values else "–"
            lines.append(f"| {name} | `{page_name}` | {median} | {_ms(values, 95)} | {worst} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args()
    body = asyncio.run(main_async(args))
    print(body)
    if not args.no_write:
        replace_section(
            ROOT / "docs" / "BENCHMARKS.md",
            "staff",
            body,
            "## Staff back office: roster and dashboard (generated by `bench/staff.py`)",
        )


if __name__ == "__main__":
    main()

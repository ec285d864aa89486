"""The evening reminders: every household told about tomorrow's canteen, in the chat and by mail.

    .venv/bin/python -m bench.broadcast [--households 2000] [--backend sqlite|postgresql|both]

Builds a town of N households (a child booked on the canteen every school day of the week, a
logged-in web chat, an e-mail address) in a scratch database, runs `send_reminders` once at
18:00 the evening before and times the outbox rows it writes, then starts two `OutboxWorker`s,
each in its own process as two servers would run them, and lets them deliver everything at
once: the real web inbox (`WebDelivery`) and the real `Mailer` to an aiosmtpd server on
127.0.0.1. Checks that every row was sent, once, and overwrites its section of
docs/BENCHMARKS.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shlex
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from email.utils import parseaddr
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import event, func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench import report  # noqa: E402
from booking.clock import PARIS, ShiftedClock  # noqa: E402
from booking.db import Database  # noqa: E402
from booking.migrate import upgrade  # noqa: E402
from booking.models import (  # noqa: E402
    Activity,
    Booking,
    BookingState,
    Category,
    Conversation,
    Guardian,
    Household,
    OutboxMessage,
    OutboxState,
    Participant,
    PaymentMode,
    PushedMessage,
    Session,
    Structure,
)
from booking.services.reminders import send_reminders  # noqa: E402
from bot.delivery import Deliveries, Recipient  # noqa: E402
from bot.notify.email import Email, Mailer, SmtpSettings, message_id  # noqa: E402
from bot.notify.worker import Claimed, OutboxWorker  # noqa: E402
from bot.web.delivery import WebDelivery  # noqa: E402
from bot.web.push import WebPushHub  # noqa: E402
from dialogs.replies import Reply  # noqa: E402
from tests.smtp_server import smtp_server  # noqa: E402

DOCS = ROOT / "docs" / "BENCHMARKS.md"
REMINDER_AT = datetime(2027, 3, 1, 18, 0, tzinfo=PARIS)  # a Monday, at the reminder hour
SCHOOLS = ("Jules-Ferry", "Louise-Michel", "Jean-Jaurès", "Marie-Curie")
CANTEEN_DAYS = 5  # each child is booked on the canteen for the next five school days
PUBLIC_URL = "https://ribambelle.example"
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/"
SCRATCH_DATABASE = "ribambelle_bench"
SWEEP_SECONDS = 30  # bot/settings.py: the scheduler runs the notice jobs this often
CHANNELS = ("web", "email")
# Worker time, by step, in the order a row goes through them.
STEPS = {
    "claim": "claim a batch (FOR UPDATE SKIP LOCKED, lease)",
    "tz": "read the household's time zone",
    "render": "render, and read the conversation (web)",
    "web": "web: store in the inbox (`push_message`)",
    "email": "e-mail: SMTP exchange (new connection each)",
    "finish": "mark the row sent",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=2000, help="households (default 2000)")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgresql", "both"), default="both", help="default both"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--batch", type=int, default=50, help="rows per claim (the worker's 50)")
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_SERVER,
        help=f"the PostgreSQL server; the scratch database {SCRATCH_DATABASE} is created on it "
        "and dropped at the end",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    # One delivering process (started by the benchmark itself).
    parser.add_argument("--worker", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--smtp-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser


# The town -------------------------------------------------------------------------------


def school_days(after: date, count: int) -> list[date]:
    """The next `count` days with a canteen: no Wednesday, no weekend (holidays ignored)."""
    days, day = [], after
    while len(days) < count:
        day += timedelta(days=1)
        if day.weekday() not in (2, 5, 6):
            days.append(day)
    return days


async def _insert(db: Any, model: type, rows: list[dict[str, Any]]) -> list[int]:
    """A Core bulk insert; the new ids in the rows' order."""
    table = model.__table__
    result = await db.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return list(result.scalars())


async def build_town(database: Database, households: int, now: datetime) -> dict[str, Any]:
    """A structure, the canteen (4 schools × 5 days) and `households` booked families."""
    started = time.perf_counter()
    days = school_days(now.astimezone(PARIS).date(), CANTEEN_DAYS)
    booked_at = now - timedelta(days=10)
    async with database.writing() as db:
        town = Structure(
            slug="ville-rappels",
            name="Ville des rappels",
            timezone="Europe/Paris",
            reminder_hour=now.astimezone(PARIS).hour,
        )
        db.add(town)
        await db.flush()
        canteen = Activity(
            structure_id=town.id,
            code="cantine",
            name="Restauration scolaire",
            category=Category.RESTAURATION,
            min_age=3,
            max_age=12,
            payment_mode=PaymentMode.INVOICE,
            booking_deadline_days=2,
            cancellation_deadline_days=1,  # until 20:00 the day before: the reminder offers it
            cancellation_deadline_time=time_of_day(20, 0),
        )
        db.add(canteen)
        await db.flush()
        sessions = {
            (day, school): Session(
                activity_id=canteen.id,
                starts_at=datetime.combine(day, time_of_day(11, 45), tzinfo=PARIS),
                ends_at=datetime.combine(day, time_of_day(13, 30), tzinfo=PARIS),
                day=day,
                label=f"École {name}",
                place=f"Restaurant scolaire {name}",
                capacity=households,
                price_cents=420,
            )
            for day in days
            for school, name in enumerate(SCHOOLS)
        }
        db.add_all(sessions.values())
        await db.flush()
        numbers = range(households)
        household_ids = await _insert(
            db,
            Household,
            [
                {
                    "structure_id": town.id,
                    "reference": f"RAPPEL-{n:05d}",
                    "name": f"FAMILLE{n:05d}",
                    "group": "resident",
                    "emails": f"famille{n:05d}@example.org",
                    "language": "fr",
                    "notify_channels": ["web", "telegram", "email"],
                }
                for n in numbers
            ],
        )
        guardian_ids = await _insert(
            db,
            Guardian,
            [
                {
                    "household_id": household_ids[n],
                    "login": f"famille{n:05d}",
                    "password_hash": "never-logs-in",
                    "first_name": f"Parent{n:05d}",
                    "last_name": f"FAMILLE{n:05d}",
                    "email": f"famille{n:05d}@example.org",
                    "must_change_password": False,
                }
                for n in numbers
            ],
        )
        child_ids = await _insert(
            db,
            Participant,
            [
                {
                    "household_id": household_ids[n],
                    "first_name": f"Enfant{n:05d}",
                    "last_name": f"FAMILLE{n:05d}",
                    "birth_date": date(2017 + n % 6, 1 + n % 12, 1 + n % 28),
                }
                for n in numbers
            ],
        )
        await _insert(
            db,
            Conversation,
            [
                {
                    "channel": "web",
                    "key": uuid.uuid4().hex,
                    "state": {"locale": "fr"},
                    "version": 3,
                    "household_id": household_ids[n],
                    "guardian_id": guardian_ids[n],
                    "last_message_id": 0,
                    "created_at": booked_at,
                    "updated_at": booked_at,
                }
                for n in numbers
            ],
        )
        bookings = [
            {
                "session_id": sessions[day, n % len(SCHOOLS)].id,
                "participant_id": child_ids[n],
                "household_id": household_ids[n],
                "state": BookingState.CONFIRMED,
                "price_cents": 420,
                "coupons": 0,
                "supplement_codes": [],
                "created_at": booked_at,
                "confirmed_at": booked_at,
            }
            for day in days
            for n in numbers
        ]
        await db.execute(insert(Booking.__table__), bookings)
    return {
        "households": households,
        "sessions": len(sessions),
        "bookings": len(bookings),
        "tomorrow": days[0].isoformat(),
        "seconds": time.perf_counter() - started,
    }


# Counting statements --------------------------------------------------------------------

_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


def statement_kind(statement: str) -> str:
    verb = statement.split(None, 1)[0].upper()
    if verb in ("BEGIN", "COMMIT", "ROLLBACK"):
        return verb
    table = _TABLE.search(statement)
    return f"{verb} {table.group(1) if table else '?'}"


class Statements:
    """SQL statements of one engine while installed: count and time by kind, transactions."""

    def __init__(self, database: Database) -> None:
        self.engine = database.engine.sync_engine
        self.count: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.transactions = 0

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        event.listen(self.engine, "begin", self._begin)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)
        event.remove(self.engine, "begin", self._begin)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        kind = statement_kind(statement)
        self.count[kind] += 1
        self.seconds[kind] += time.perf_counter() - conn.info.pop("bench_started")

    def _begin(self, conn) -> None:  # noqa: ANN001
        self.transactions += 1

    @property
    def total(self) -> int:
        """Statements sent, BEGIN left out (SQLite's is ours, PostgreSQL's is the driver's)."""
        return sum(n for kind, n in self.count.items() if kind != "BEGIN")

    @property
    def sql_seconds(self) -> float:
        return sum(s for kind, s in self.seconds.items() if kind != "BEGIN")


async def write_reminders(database: Database, now: datetime) -> dict[str, Any]:
    """One run of the reminder job, as the scheduler runs it: one write transaction."""
    with Statements(database) as statements:
        started = time.perf_counter()
        async with database.writing() as db:
            written = await send_reminders(db, now)
        seconds = time.perf_counter() - started
    return {
        "written": written,
        "seconds": seconds,
        "statements": statements.total,
        "sql_seconds": statements.sql_seconds,
        "begin_seconds": statements.seconds.get("BEGIN", 0.0),
        "by_kind": dict(statements.count),
    }


# One delivering process -----------------------------------------------------------------


class TimedWorker(OutboxWorker):
    """The product's worker, timing each step of a row (the subclass only measures)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spent: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.claims = 0

    async def _claim(self) -> list[Claimed]:
        started = time.perf_counter()
        rows = await super()._claim()
        self.spent["claim"] += time.perf_counter() - started
        self.claims += 1
        return rows

    async def _deliver(self, row: Claimed) -> None:
        started = time.perf_counter()
        await super()._deliver(row)
        self.spent[f"row {row.channel}"] += time.perf_counter() - started
        self.rows[row.channel] += 1

    async def _tz(self, household_id: int) -> Any:
        started = time.perf_counter()
        try:
            return await super()._tz(household_id)
        finally:
            self.spent["tz"] += time.perf_counter() - started

    async def _finish(self, row: Claimed, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        await super()._finish(row, *args, **kwargs)
        self.spent["finish"] += time.perf_counter() - started

    async def _retry(self, row: Claimed, error: Exception) -> None:
        started = time.perf_counter()
        await super()._retry(row, error)
        self.spent["retry"] += time.perf_counter() - started


class TimedWeb:
    """The real `WebDelivery`, timed, remembering the keys it was asked to deliver."""

    channel = "web"

    def __init__(self, inner: WebDelivery, spent: Counter[str], keys: list[str]) -> None:
        self.inner, self.spent, self.keys = inner, spent, keys

    async def send(self, recipient: Recipient, reply: Reply, key: str | None = None) -> None:
        started = time.perf_counter()
        try:
            await self.inner.send(recipient, reply, key)
        finally:
            self.spent["web"] += time.perf_counter() - started
        self.keys.append(key or "")


class TimedMailer:
    """The real `Mailer`, timed, remembering the keys it sent."""

    def __init__(self, inner: Mailer, spent: Counter[str], keys: list[str]) -> None:
        self.inner, self.spent, self.keys = inner, spent, keys

    async def send(self, email: Email) -> None:
        started = time.perf_counter()
        try:
            await self.inner.send(email)
        finally:
            self.spent["email"] += time.perf_counter() - started
        self.keys.append(email.message_id_key or "")


async def worker_process(args: argparse.Namespace) -> None:
    """Wait for "go" on stdin, deliver until nothing is due, write the figures to --out."""
    database = Database.from_url(args.database_url)
    clock = ShiftedClock(REMINDER_AT + timedelta(seconds=5))
    sent: dict[str, list[str]] = {"web": [], "email": []}
    done: list[tuple[str, float]] = []
    deliveries = Deliveries(database, clock)
    worker = TimedWorker(
        database, clock, deliveries, public_url=PUBLIC_URL, name=args.worker, batch=args.batch
    )
    deliveries.register(
        TimedWeb(WebDelivery(WebPushHub(), database, clock), worker.spent, sent["web"])
    )
    worker.mailer = TimedMailer(
        Mailer(SmtpSettings.from_url(args.smtp_url), clock=clock), worker.spent, sent["email"]
    )

    async def finished(row: Claimed) -> None:
        done.append((row.channel, time.monotonic()))

    worker.after_delivery = finished
    async with database.reading() as db:  # the pool's first connection, before the clock runs
        await db.execute(select(1))
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    cpu, started = time.process_time(), time.monotonic()
    with Statements(database) as statements:
        claimed = 0
        while found := await worker.run_once():
            claimed += found
    figures = {
        "name": args.worker,
        "claimed": claimed,
        "claims": worker.claims,
        "rows": dict(worker.rows),
        "started": started,
        "ended": time.monotonic(),
        "cpu": time.process_time() - cpu,
        "done": done,
        "spent": dict(worker.spent),
        "statements": statements.total,
        "transactions": statements.transactions,
        "begin_wait": statements.seconds.get("BEGIN", 0.0),
        "sent": sent,
    }
    await database.dispose()
    await asyncio.to_thread(Path(args.out).write_text, json.dumps(figures), encoding="utf-8")


# Delivering with several processes ------------------------------------------------------


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields[:8]) - idle, sum(fields[:8])


async def deliver(url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start the worker processes, say go to all at once, wait until each has nothing left."""
    async with smtp_server() as smtp:
        processes, outputs = [], []
        for n in range(1, args.workers + 1):
            out = workdir / f"worker-{n}.json"
            with (workdir / f"worker-{n}.log").open("w") as log:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bench.broadcast",
                        "--worker",
                        f"bench-worker-{n}",
                        "--database-url",
                        url,
                        "--smtp-url",
                        smtp.url,
                        "--batch",
                        str(args.batch),
                        "--out",
                        str(out),
                        cwd=ROOT,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=log,
                    )
                )
            outputs.append(out)
        for n, process in enumerate(processes, 1):
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            if line.strip() != b"ready":
                raise RuntimeError(f"worker {n} did not start; see {workdir}/worker-{n}.log")
        busy, total = _machine_cpu()
        own_cpu = time.process_time()
        go = time.monotonic()
        for process in processes:
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        codes = await asyncio.gather(*(process.wait() for process in processes))
        ended = time.monotonic()
        busy_after, total_after = _machine_cpu()
        smtp_cpu = time.process_time() - own_cpu
        if any(codes):
            raise RuntimeError(f"a worker failed ({codes}); see {workdir}/worker-*.log")
        received = Counter(str(message["Message-ID"]) for message in smtp.messages)
        domain = parseaddr(SmtpSettings.from_url(smtp.url).sender)[1].rpartition("@")[2]
    workers = [json.loads(out.read_text(encoding="utf-8")) for out in outputs]
    done = [(channel, at - go) for w in workers for channel, at in w["done"]]
    return {
        "wall": ended - go,
        "last": max((at for _, at in done), default=0.0),
        "done": done,
        "workers": workers,
        "received": received,
        "domain": domain,
        "smtp_cpu": smtp_cpu,
        "machine_busy": (busy_after - busy) / (total_after - total) if total_after > total else 0,
    }


async def check(url: str, delivery: dict[str, Any]) -> dict[str, Any]:
    """Every row sent, each key delivered once at its destination, nothing missing."""
    database = Database.from_url(url)
    try:
        async with database.reading() as db:
            rows = (
                await db.execute(
                    select(OutboxMessage.channel, OutboxMessage.delivery_key, OutboxMessage.state)
                )
            ).all()
            inbox = Counter((await db.scalars(select(PushedMessage.delivery_key))).all())
            crowded = await db.scalar(select(func.count()).where(Conversation.last_message_id > 1))
            households = await db.scalar(select(func.count(Household.id)))
    finally:
        await database.dispose()
    by_channel = {c: {key for channel, key, _ in rows if channel == c} for c in CHANNELS}
    states = Counter(state.value for _, _, state in rows)
    received = delivery["received"]
    mail_ids = {message_id(key, delivery["domain"]): key for key in by_channel["email"]}
    attempts = Counter(
        key for w in delivery["workers"] for keys in w["sent"].values() for key in keys
    )
    return {
        "rows": len(rows),
        "by_channel": {c: len(keys) for c, keys in by_channel.items()},
        "households": households or 0,
        "states": dict(states),
        "not_sent": len(rows) - states.get(OutboxState.SENT.value, 0),
        "sent_twice_by_workers": sum(1 for n in attempts.values() if n > 1),
        "inbox_messages": sum(inbox.values()),
        "inbox_duplicates": sum(n - 1 for n in inbox.values() if n > 1) + (crowded or 0),
        "inbox_missing": len(by_channel["web"] - set(inbox)),
        "mails_received": sum(received.values()),
        "mail_duplicates": sum(n - 1 for n in received.values() if n > 1),
        "mail_missing": len(set(mail_ids) - set(received)),
        "mail_unexpected": len(set(received) - set(mail_ids)),
    }


# One backend ----------------------------------------------------------------------------


@asynccontextmanager
async def scratch_database(backend: str, args: argparse.Namespace) -> AsyncIterator[str]:
    """A migrated, empty database: a temporary SQLite file, or `ribambelle_bench`."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{args.workdir / 'broadcast.db'}"
        return
    server = make_url(args.postgres_url)
    admin = None
    for name in ("postgres", "test"):
        try:
            admin = await asyncpg.connect(
                server.set(drivername="postgresql", database=name).render_as_string(False),
                timeout=5,
            )
            break
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            failure = error
    if admin is None:
        raise SystemExit(f"PostgreSQL is not reachable at {args.postgres_url}: {failure}")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{SCRATCH_DATABASE}"')
        yield server.set(
            drivername="postgresql+asyncpg", database=SCRATCH_DATABASE
        ).render_as_string(False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)')
        await admin.close()


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    async with scratch_database(backend, args) as url:
        await asyncio.to_thread(upgrade, url)
        database = Database.from_url(url)
        try:
            town = await build_town(database, args.households, REMINDER_AT)
            print(
                f"[{backend}] town: {town['households']} households, {town['bookings']} "
                f"bookings on {town['sessions']} canteen sessions ({town['seconds']:.1f} s)"
            )
            writing = await write_reminders(database, REMINDER_AT)
            print(
                f"[{backend}] send_reminders: {writing['written']} outbox rows in "
                f"{writing['seconds']:.2f} s: {writing['written'] / writing['seconds']:.0f} rows/s"
            )
            delivery = await deliver(url, args, args.workdir / backend)
            print(f"[{backend}] delivered in {delivery['wall']:.1f} s")
            again = await write_reminders(database, REMINDER_AT + timedelta(seconds=SWEEP_SECONDS))
        finally:
            await database.dispose()
        checked = await check(url, delivery)
    return {
        "backend": backend,
        "database": "SQLite file (WAL)"
        if backend == "sqlite"
        else f"PostgreSQL {await _postgres_version(url)} (local, synchronous_commit on)",
        "town": town,
        "writing": writing,
        "again": again,
        "delivery": delivery,
        "check": checked,
    }


async def _postgres_version(url: str) -> str:
    database = Database.from_url(url)
    try:
        async with database.reading() as db:
            version = await db.scalar(select(func.current_setting("server_version")))
    except Exception:
        version = "?"
    finally:
        await database.dispose()
    return str(version).split()[0]


# Figures --------------------------------------------------------------------------------


def figures(run: dict[str, Any]) -> dict[str, Any]:
    """What the report shows, from one backend's run."""
    d, w = run["delivery"], run["writing"]
    workers = d["workers"]
    spent: Counter[str] = Counter()
    for worker in workers:
        spent.update(worker["spent"])
    rows = {c: sum(w_["rows"].get(c, 0) for w_ in workers) for c in CHANNELS}
    delivered = sum(rows.values())
    # The render step is what is left of a row once its timed parts are taken out.
    row_time = sum(spent.get(f"row {c}", 0.0) for c in CHANNELS)
    spent["render"] = max(
        0.0, row_time - sum(spent.get(k, 0.0) for k in ("tz", "web", "email", "finish", "retry"))
    )
    busy = spent["claim"] + row_time
    last = {
        c: max((at for channel, at in d["done"] if channel == c), default=0.0) for c in CHANNELS
    }
    return {
        "written": w["written"],
        "write_rate": w["written"] / w["seconds"] if w["seconds"] else 0.0,
        "write_sql_share": w["sql_seconds"] / w["seconds"] if w["seconds"] else 0.0,
        "delivered": delivered,
        "rate": delivered / d["last"] if d["last"] else 0.0,
        "rows": rows,
        "channel_rate": {c: rows[c] / last[c] if last[c] else 0.0 for c in CHANNELS},
        "row_ms": {
            c: spent.get(f"row {c}", 0.0) / rows[c] * 1000 if rows[c] else 0 for c in CHANNELS
        },
        "send_ms": {c: spent.get(c, 0.0) / rows[c] * 1000 if rows[c] else 0 for c in CHANNELS},
        "spent": spent,
        "busy": busy,
        "shares": {step: spent.get(step, 0.0) / busy if busy else 0.0 for step in STEPS},
        "claimed": [worker["claimed"] for worker in workers],
        "claims": sum(worker["claims"] for worker in workers),
        "statements_per_row": sum(x["statements"] for x in workers) / delivered if delivered else 0,
        "transactions_per_row": sum(x["transactions"] for x in workers) / delivered
        if delivered
        else 0,
        "begin_wait": sum(worker["begin_wait"] for worker in workers),
        "worker_cpu": sum(worker["cpu"] for worker in workers),
        "duplicates": run["check"]["sent_twice_by_workers"]
        + run["check"]["inbox_duplicates"]
        + run["check"]["mail_duplicates"],
        "lost": run["check"]["not_sent"]
        + run["check"]["inbox_missing"]
        + run["check"]["mail_missing"],
    }


def _print(run: dict[str, Any]) -> None:
    f, c, d = figures(run), run["check"], run["delivery"]
    print(
        f"\n{run['database']}, {run['town']['households']} households\n"
        f"  writing: {f['written']} rows in {run['writing']['seconds']:.2f} s = "
        f"{f['write_rate']:.0f} rows/s ({run['writing']['statements']} statements, "
        f"{f['write_sql_share']:.0%} of the time in SQL); the next sweep, nothing new: "
        f"{run['again']['seconds']:.2f} s, {run['again']['written']} rows\n"
        f"  delivery: {f['delivered']} in {d['last']:.1f} s = {f['rate']:.0f}/s; "
        + ", ".join(
            f"{ch} {f['rows'][ch]} ({f['channel_rate'][ch]:.0f}/s, {f['row_ms'][ch]:.1f} ms "
            f"a row, {f['send_ms'][ch]:.1f} ms sending)"
            for ch in CHANNELS
        )
        + f"\n  claimed per worker: {f['claimed']}; {f['transactions_per_row']:.1f} "
        f"transactions and {f['statements_per_row']:.1f} statements a row; "
        f"BEGIN waits {f['begin_wait']:.1f} s in all\n"
        f"  worker time: "
        + ", ".join(f"{step} {share:.0%}" for step, share in f["shares"].items())
        + f"\n  CPU: workers {f['worker_cpu']:.1f} s, SMTP server {d['smtp_cpu']:.1f} s, "
        f"machine {d['machine_busy']:.0%} busy\n"
        f"  check: states {c['states']}, sent twice by the workers {c['sent_twice_by_workers']}, "
        f"inbox {c['inbox_messages']} (duplicates {c['inbox_duplicates']}, missing "
        f"{c['inbox_missing']}), mails {c['mails_received']} (duplicates {c['mail_duplicates']}, "
        f"missing {c['mail_missing']}) -> duplicates {f['duplicates']}, lost {f['lost']}"
    )


def markdown(runs: list[dict[str, Any]], command: str, when: str) -> str:
    m = report.machine()
    fs = [figures(run) for run in runs]
    households = runs[0]["town"]["households"]
    header = "| figure | " + " | ".join(run["database"].split(" (")[0] for run in runs) + " |"
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['os']}; Python {m['python']}, SQLite "
        f"{m['sqlite']}, SQLAlchemy {m['sqlalchemy']}, aiohttp {m['aiohttp']}. The workers, "
        "the SMTP server and PostgreSQL share the machine. Databases: "
        + "; ".join(run["database"] for run in runs)
        + f". Run on {when}.",
        "",
        f"Town: {households} households, each with a child booked on the canteen for the "
        f"next {CANTEEN_DAYS} school days ({runs[0]['town']['bookings']} bookings, "
        f"{len(SCHOOLS)} schools), a logged-in web chat and an e-mail address. At 18:00 the "
        "evening before, `send_reminders` runs once in one write transaction, as the "
        f"scheduler does; then {len(runs[0]['delivery']['workers'])} `OutboxWorker`s, each "
        f"in its own process (claiming batches of {runs[0]['batch']} rows), deliver every "
        "row at once: the real web inbox (`WebDelivery`, no socket open) and the real "
        "`Mailer` to an aiosmtpd server on 127.0.0.1 (the test suite's, in the benchmark's "
        "process).",
        "",
        header,
        "|---|" + "---|" * len(runs),
    ]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row(
        "outbox rows written by `send_reminders`",
        [
            f"{f['written']} in {run['writing']['seconds']:.2f} s"
            for f, run in zip(fs, runs, strict=True)
        ],
    )
    row("**rows written per second**", [f"**{f['write_rate']:.0f}**" for f in fs])
    row(
        "statements in that transaction; share of its time in SQL",
        [
            f"{run['writing']['statements']} ({run['writing']['statements'] / max(1, households):.1f}"
            f" a household); {f['write_sql_share']:.0%}"
            for f, run in zip(fs, runs, strict=True)
        ],
    )
    row(
        f"the scheduler's next sweep ({SWEEP_SECONDS} s later), nothing new",
        [f"{run['again']['written']} rows, {run['again']['seconds']:.2f} s" for run in runs],
    )
    row(
        "**deliveries per second** (all channels)",
        [f"**{f['rate']:.0f}** ({f['delivered']} rows)" for f in fs],
    )
    for channel, name in (("web", "web inbox"), ("email", "e-mail")):
        row(
            f"{name}: deliveries/s; per row, of which sending",
            [
                f"{f['channel_rate'][channel]:.0f}/s; {f['row_ms'][channel]:.1f} ms, "
                f"{f['send_ms'][channel]:.1f} ms"
                for f in fs
            ],
        )
    row(
        "**time until the last delivery**",
        [f"**{run['delivery']['last']:.1f} s**" for run in runs],
    )
    row(
        "rows claimed by each worker (claims)",
        [f"{' / '.join(map(str, f['claimed']))} ({f['claims']})" for f in fs],
    )
    row(
        "per row: transactions, statements",
        [f"{f['transactions_per_row']:.1f}, {f['statements_per_row']:.1f}" for f in fs],
    )
    row(
        "waiting for SQLite's write lock (BEGIN IMMEDIATE, both workers)",
        [
            f"{f['begin_wait']:.1f} s" if run["backend"] == "sqlite" else "–"
            for f, run in zip(fs, runs, strict=True)
        ],
    )
    row(
        "CPU: workers, SMTP server; machine busy",
        [
            f"{f['worker_cpu']:.1f} s, {run['delivery']['smtp_cpu']:.1f} s; "
            f"{run['delivery']['machine_busy']:.0%}"
            for f, run in zip(fs, runs, strict=True)
        ],
    )
    row(
        "rows SENT / not sent",
        [f"{r['check']['states'].get('sent', 0)} / {r['check']['not_sent']}" for r in runs],
    )
    row(
        "inbox messages / mails received",
        [f"{r['check']['inbox_messages']} / {r['check']['mails_received']}" for r in runs],
    )
    row(
        "**duplicates** (a key sent twice by the workers, in the inbox, in the mailbox)",
        [
            f"**{f['duplicates']}** ({r['check']['sent_twice_by_workers']}, "
            f"{r['check']['inbox_duplicates']}, {r['check']['mail_duplicates']})"
            for f, r in zip(fs, runs, strict=True)
        ],
    )
    row(
        "**lost** (not sent, missing from the inbox, from the mailbox)",
        [
            f"**{f['lost']}** ({r['check']['not_sent']}, {r['check']['inbox_missing']}, "
            f"{r['check']['mail_missing']})"
            for f, r in zip(fs, runs, strict=True)
        ],
    )
    lines += [
        "",
        "Where the workers' time goes (both workers' busy time, summed):",
        "",
        "| step | " + " | ".join(run["database"].split(" (")[0] for run in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for step, label in STEPS.items():
        row(
            label,
            [f"{f['spent'].get(step, 0.0):.1f} s ({f['shares'][step]:.0%})" for f in fs],
        )
    lines += ["", interpretation(runs, fs)]
    return "\n".join(lines)


def interpretation(runs: list[dict[str, Any]], fs: list[dict[str, Any]]) -> str:
    """What the figures say, in sentences built from them."""
    sentences = []
    for run, f in zip(runs, fs, strict=True):
        name = run["database"].split(" (")[0]
        top = sorted(f["shares"].items(), key=lambda item: -item[1])[:2]
        cores = int(report.machine()["cores"])
        cpu_share = (f["worker_cpu"] + run["delivery"]["smtp_cpu"]) / (
            run["delivery"]["wall"] * cores
        )
        sentences.append(
            f"On {name}, writing the outbox spends {f['write_sql_share']:.0%} of its "
            f"{run['writing']['seconds']:.1f} s in SQL, three statements a household "
            "(the household, its conversations, one INSERT … ON CONFLICT DO NOTHING)"
            + (
                ", all inside the one write transaction: SQLite's write lock is held that long, "
                "so a parent booking at 18:00 waits behind it, and again at every sweep until "
                f"midnight ({run['again']['seconds']:.1f} s each, writing nothing)"
                if run["backend"] == "sqlite"
                else f"; the sweeps after it redo the same work for nothing "
                f"({run['again']['seconds']:.1f} s every {SWEEP_SECONDS} s until midnight)"
            )
            + f". Delivering, the workers' time goes first to {STEPS[top[0][0]]} "
            f"({top[0][1]:.0%}) and then to {STEPS[top[1][0]]} ({top[1][1]:.0%}); each worker "
            f"handles its batch one row after another, {f['transactions_per_row']:.1f} "
            "transactions a row, and the processes measured used "
            f"{cpu_share:.0%} of the {cores} cores (the machine was "
            f"{run['delivery']['machine_busy']:.0%} busy, the database server included)."
        )
    return "\n\n".join(sentences)


def _command(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "-m", "bench.broadcast", "--households", str(args.households)]
    parts += ["--backend", args.backend]
    if args.workers != 2:
        parts += ["--workers", str(args.workers)]
    if args.batch != 50:
        parts += ["--batch", str(args.batch)]
    return shlex.join(parts)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    runs = []
    for backend in backends:
        (args.workdir / backend).mkdir(parents=True, exist_ok=True)
        run = await run_backend(backend, args)
        run["batch"] = args.batch
        _print(run)
        runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        logging.basicConfig(level=logging.WARNING)
        asyncio.run(worker_process(args))
        return 0
    args.workdir = Path(tempfile.mkdtemp(prefix="ribambelle-broadcast-"))
    print(f"work directory: {args.workdir}")
    runs = asyncio.run(main_async(args))
    Path(args.workdir, "run.json").write_text(
        json.dumps(runs, default=str, indent=1), encoding="utf-8"
    )
    if not args.no_write:
        body = markdown(runs, _command(args), datetime.now().astimezone().strftime("%Y-%m-%d"))
        report.replace_section(
            DOCS, "broadcast", body, "## Reminder broadcast (generated by `bench/broadcast.py`)"
        )
        print(f"written to {DOCS.relative_to(ROOT)}")
    print(f"details: {args.workdir}/run.json, worker logs in {args.workdir}/*/")
    clean = all(figures(run)["duplicates"] == 0 and figures(run)["lost"] == 0 for run in runs)
    return 0 if clean else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

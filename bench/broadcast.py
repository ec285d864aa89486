"""The evening reminders: every household told about tomorrow's canteen, in the chat and by mail.

    .venv/bin/python -m bench.broadcast [--households 2000] [--backend sqlite|postgresql|both]

Builds a town of N households (a child booked on the canteen every school day of the week, a
logged-in web chat, an e-mail address) in a scratch database, runs the reminder job once at
18:00 the evening before, as the scheduler does (`notice_jobs_once`: `send_reminders`' plan,
written in small transactions), and times the outbox rows it writes; then starts two
`OutboxWorker`s, each in its own process as two servers would run them, and lets them deliver
everything at once: the real web inbox (`WebDelivery`) and the real `Mailer` to an aiosmtpd
server on 127.0.0.1. Checks that every row was sent, once, and overwrites its section of
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
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
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
from booking.clock import PARIS, FrozenClock, ShiftedClock  # noqa: E402
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
from bot.delivery import Deliveries, Recipient  # noqa: E402
from bot.notify.email import Email, Mailer, SmtpSettings, message_id  # noqa: E402
from bot.notify.worker import Claimed, OutboxWorker  # noqa: E402
from bot.scheduler import NOTICE_CHUNK, notice_jobs_once  # noqa: E402
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
    "claim": "claiming a batch (FOR UPDATE SKIP LOCKED, lease)",
    "tz": "reading the household's time zone",
    "render": "rendering, and reading the conversation (web)",
    "web": "storing in the web inbox (`push_message`)",
    "email": "the SMTP exchange (a new connection each)",
    "finish": "marking the row sent",
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
    """SQL statements of one engine while installed: count and time by kind, transactions,
    and how long each transaction that wrote stayed open (SQLite: holding the write lock)."""

    def __init__(self, database: Database) -> None:
        self.engine = database.engine.sync_engine
        self.count: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.transactions = 0
        self.writes: list[float] = []

    def __enter__(self) -> Statements:
        for name, listener in self._listeners():
            event.listen(self.engine, name, listener)
        return self

    def __exit__(self, *_exc: object) -> None:
        for name, listener in self._listeners():
            event.remove(self.engine, name, listener)

    def _listeners(self) -> list[tuple[str, Any]]:
        return [
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("begin", self._begin),
            ("commit", self._end),
            ("rollback", self._end),
        ]

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        kind = statement_kind(statement)
        self.count[kind] += 1
        self.seconds[kind] += time.perf_counter() - conn.info.pop("bench_started")
        if kind.split()[0] in ("INSERT", "UPDATE", "DELETE"):
            conn.info["bench_wrote"] = True

    def _begin(self, conn) -> None:  # noqa: ANN001
        self.transactions += 1
        conn.info["bench_begun"] = time.perf_counter()
        conn.info.pop("bench_wrote", None)

    def _end(self, conn) -> None:  # noqa: ANN001
        begun = conn.info.pop("bench_begun", None)
        if conn.info.pop("bench_wrote", False) and begun is not None:
            self.writes.append(time.perf_counter() - begun)

    @property
    def total(self) -> int:
        """Statements sent, BEGIN left out (SQLite's is ours, PostgreSQL's is the driver's)."""
        return sum(n for kind, n in self.count.items() if kind != "BEGIN")

    @property
    def sql_seconds(self) -> float:
        return sum(s for kind, s in self.seconds.items() if kind != "BEGIN")


async def write_reminders(database: Database, now: datetime) -> dict[str, Any]:
    """The notice jobs at `now` as the scheduler runs them (`notice_jobs_once`: the reminders
    planned in a read, written to the outbox in small transactions), timed."""
    with Statements(database) as statements:
        started, cpu = time.perf_counter(), time.process_time()
        written = await notice_jobs_once(database, FrozenClock(now))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "written": written,
        "seconds": seconds,
        "cpu": cpu,
        "statements": statements.total,
        "sql_seconds": statements.sql_seconds,
        "begin_seconds": statements.seconds.get("BEGIN", 0.0),
        "write_transactions": len(statements.writes),
        "longest_write": max(statements.writes, default=0.0),
        "by_kind": dict(statements.count),
    }


# One delivering process -----------------------------------------------------------------


class Meter:
    """Wall time and event-loop CPU by step. A worker handles one row at a time and nothing
    else runs on its loop, so the loop thread's CPU during a step is that step's."""

    def __init__(self) -> None:
        self.wall: Counter[str] = Counter()
        self.cpu: Counter[str] = Counter()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.wall[name] += time.perf_counter() - wall
            self.cpu[name] += time.thread_time() - cpu


class TimedWorker(OutboxWorker):
    """The product's worker, timing each step of a row (the subclass only measures)."""

    def __init__(self, *args: Any, meter: Meter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meter = meter
        self.rows: Counter[str] = Counter()
        self.claims = 0

    async def _claim(self) -> list[Claimed]:
        with self.meter.step("claim"):
            rows = await super()._claim()
        self.claims += 1
        return rows

    async def _deliver(self, row: Claimed) -> None:
        with self.meter.step(f"row {row.channel}"):
            await super()._deliver(row)
        self.rows[row.channel] += 1

    async def _tz(self, household_id: int) -> Any:
        with self.meter.step("tz"):
            return await super()._tz(household_id)

    async def _finish(self, row: Claimed, *args: Any, **kwargs: Any) -> None:
        with self.meter.step("finish"):
            await super()._finish(row, *args, **kwargs)

    async def _retry(self, row: Claimed, error: Exception) -> None:
        with self.meter.step("retry"):
            await super()._retry(row, error)


class TimedWeb:
    """The real `WebDelivery`, timed, remembering the keys it was asked to deliver."""

    channel = "web"

    def __init__(self, inner: WebDelivery, meter: Meter, keys: list[str]) -> None:
        self.inner, self.meter, self.keys = inner, meter, keys

    async def send(self, recipient: Recipient, reply: Reply, key: str | None = None) -> None:
        with self.meter.step("web"):
            await self.inner.send(recipient, reply, key)
        self.keys.append(key or "")


class TimedMailer:
    """The real `Mailer`, timed, remembering the keys it sent."""

    def __init__(self, inner: Mailer, meter: Meter, keys: list[str]) -> None:
        self.inner, self.meter, self.keys = inner, meter, keys

    async def send(self, email: Email) -> None:
        with self.meter.step("email"):
            await self.inner.send(email)
        self.keys.append(email.message_id_key or "")


async def worker_process(args: argparse.Namespace) -> None:
    """Wait for "go" on stdin, deliver until nothing is due, write the figures to --out."""
    database = Database.from_url(args.database_url)
    clock = ShiftedClock(REMINDER_AT + timedelta(seconds=5))
    sent: dict[str, list[str]] = {"web": [], "email": []}
    done: list[tuple[str, float]] = []
    meter = Meter()
    deliveries = Deliveries(database, clock)
    deliveries.register(TimedWeb(WebDelivery(WebPushHub(), database, clock), meter, sent["web"]))
    mailer = TimedMailer(
        Mailer(SmtpSettings.from_url(args.smtp_url), clock=clock), meter, sent["email"]
    )
    worker = TimedWorker(
        database,
        clock,
        deliveries,
        public_url=PUBLIC_URL,
        mailer=mailer,
        name=args.worker,
        batch=args.batch,
        meter=meter,
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
        "spent": dict(meter.wall),
        "spent_cpu": dict(meter.cpu),
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
async def scratch_database(
    backend: str, args: argparse.Namespace
) -> AsyncIterator[tuple[str, str]]:
    """An empty database and its description: a temporary SQLite file, or `ribambelle_bench`
    created on the PostgreSQL server (through its `postgres` or `test` database) and dropped."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{args.workdir / 'broadcast.db'}", "SQLite file (WAL)"
        return
    server = make_url(args.postgres_url)
    admin, failure = None, None
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
        version = str(await admin.fetchval("SHOW server_version")).split()[0]
        commit = await admin.fetchval("SHOW synchronous_commit")
        await admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{SCRATCH_DATABASE}"')
        url = server.set(drivername="postgresql+asyncpg", database=SCRATCH_DATABASE)
        yield (
            url.render_as_string(False),
            f"PostgreSQL {version} (same machine, TCP, synchronous_commit {commit})",
        )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)')
        await admin.close()


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    async with scratch_database(backend, args) as (url, description):
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
                f"[{backend}] reminder job: {writing['written']} outbox rows in "
                f"{writing['seconds']:.2f} s"
            )
            delivery = await deliver(url, args, args.workdir / backend)
            print(f"[{backend}] delivered in {delivery['wall']:.1f} s")
            again = await write_reminders(database, REMINDER_AT + timedelta(seconds=SWEEP_SECONDS))
        finally:
            await database.dispose()
        checked = await check(url, delivery)
    return {
        "backend": backend,
        "database": description,
        "batch": args.batch,
        "town": town,
        "writing": writing,
        "again": again,
        "delivery": delivery,
        "check": checked,
    }


# Figures --------------------------------------------------------------------------------


def _per(total: float, count: int) -> float:
    return total / count if count else 0.0


def figures(run: dict[str, Any]) -> dict[str, Any]:
    """What the report shows, from one backend's run."""
    d, w, c = run["delivery"], run["writing"], run["check"]
    workers = d["workers"]
    wall: Counter[str] = Counter()
    cpu: Counter[str] = Counter()
    for worker in workers:
        wall.update(worker["spent"])
        cpu.update(worker["spent_cpu"])
    rows = {ch: sum(x["rows"].get(ch, 0) for x in workers) for ch in CHANNELS}
    delivered = sum(rows.values())
    # The render step is what is left of a row once its timed parts are taken out.
    for spent in (wall, cpu):
        spent["render"] = max(
            0.0,
            sum(spent.get(f"row {ch}", 0.0) for ch in CHANNELS)
            - sum(spent.get(k, 0.0) for k in ("tz", "web", "email", "finish", "retry")),
        )
    busy = wall["claim"] + sum(wall.get(f"row {ch}", 0.0) for ch in CHANNELS)
    applies = {"web": rows["web"], "email": rows["email"]}
    last = {ch: max((at for x, at in d["done"] if x == ch), default=0.0) for ch in CHANNELS}
    return {
        "written": w["written"],
        "write_rate": _per(w["written"], w["seconds"]),
        "write_sql_share": _per(w["sql_seconds"], w["seconds"]),
        "write_cpu_share": _per(w["cpu"], w["seconds"]),
        "delivered": delivered,
        "rate": _per(delivered, d["last"]),
        "rows": rows,
        "channel_rate": {ch: _per(rows[ch], last[ch]) for ch in CHANNELS},
        "row_ms": {ch: _per(wall.get(f"row {ch}", 0.0), rows[ch]) * 1000 for ch in CHANNELS},
        "row_cpu_ms": {
            ch: _per(cpu.get(f"row {ch}", 0.0) + _per(cpu["claim"], delivered) * rows[ch], rows[ch])
            * 1000
            for ch in CHANNELS
        },
        "wall": wall,
        "shares": {step: _per(wall.get(step, 0.0), busy) for step in STEPS},
        "step_cpu_ms": {
            step: _per(cpu.get(step, 0.0), applies.get(step, delivered)) * 1000 for step in STEPS
        },
        "claimed": [x["claimed"] for x in workers],
        "claims": sum(x["claims"] for x in workers),
        "statements_per_row": _per(sum(x["statements"] for x in workers), delivered),
        "transactions_per_row": _per(sum(x["transactions"] for x in workers), delivered),
        "begin_wait": sum(x["begin_wait"] for x in workers),
        "worker_cpu": sum(x["cpu"] for x in workers),
        "cpu_ms_per_row": _per(sum(x["cpu"] for x in workers), delivered) * 1000,
        "duplicates": c["sent_twice_by_workers"] + c["inbox_duplicates"] + c["mail_duplicates"],
        "lost": c["not_sent"] + c["inbox_missing"] + c["mail_missing"],
    }


def _print(run: dict[str, Any]) -> None:
    f, c, d, w = figures(run), run["check"], run["delivery"], run["writing"]
    print(
        f"\n{run['database']}, {run['town']['households']} households\n"
        f"  writing: {f['written']} rows in {w['seconds']:.2f} s = {f['write_rate']:.0f} rows/s "
        f"({w['statements']} statements; {f['write_sql_share']:.0%} of the time in SQL, CPU "
        f"{f['write_cpu_share']:.0%} of it; {w['write_transactions']} write transactions, the "
        f"longest {w['longest_write'] * 1000:.0f} ms); the next sweep: {run['again']['written']} rows "
        f"in {run['again']['seconds']:.2f} s\n"
        f"  delivery: {f['delivered']} in {d['last']:.1f} s = {f['rate']:.0f}/s; "
        + ", ".join(
            f"{ch} {f['rows'][ch]} ({f['channel_rate'][ch]:.0f}/s, {f['row_ms'][ch]:.1f} ms "
            f"and {f['row_cpu_ms'][ch]:.1f} ms of loop CPU a row)"
            for ch in CHANNELS
        )
        + f"\n  claimed per worker: {f['claimed']}; {f['transactions_per_row']:.1f} "
        f"transactions and {f['statements_per_row']:.1f} statements a row; "
        f"BEGIN {f['begin_wait']:.1f} s in all\n"
        "  worker time: "
        + ", ".join(
            f"{step} {share:.0%} ({f['step_cpu_ms'][step]:.1f} ms CPU)"
            for step, share in f["shares"].items()
        )
        + f"\n  CPU: workers {f['worker_cpu']:.1f} s ({f['cpu_ms_per_row']:.1f} ms a row), "
        f"SMTP server {d['smtp_cpu']:.1f} s, machine {d['machine_busy']:.0%} busy\n"
        f"  check: states {c['states']}, sent twice by the workers {c['sent_twice_by_workers']}, "
        f"inbox {c['inbox_messages']} (duplicates {c['inbox_duplicates']}, missing "
        f"{c['inbox_missing']}), mails {c['mails_received']} (duplicates {c['mail_duplicates']}, "
        f"missing {c['mail_missing']}) -> duplicates {f['duplicates']}, lost {f['lost']}"
    )


def _short(run: dict[str, Any]) -> str:
    return run["database"].split(" (")[0]


def markdown(runs: list[dict[str, Any]], command: str, when: str) -> str:
    """The broadcast section: the command, the machine, the figures, what they say."""
    m = report.machine()
    fs = [figures(run) for run in runs]
    first = runs[0]
    households = first["town"]["households"]
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['os']}; Python {m['python']}, SQLite "
        f"{m['sqlite']}, SQLAlchemy {m['sqlalchemy']}, aiohttp {m['aiohttp']}. The workers, "
        "the SMTP server and the database share the machine. Databases: "
        + "; ".join(run["database"] for run in runs)
        + f". Run on {when}.",
        "",
        f"Town: {households} households, each with a child booked on the canteen for the "
        f"next {CANTEEN_DAYS} school days ({first['town']['bookings']} bookings in "
        f"{len(SCHOOLS)} schools), a logged-in web chat and an e-mail address: two outbox rows "
        "each. At 18:00 the evening before the reminder job runs once as the scheduler runs "
        "it (`bot.scheduler.notice_jobs_once`: `send_reminders`' plan read in one transaction, "
        f"the outbox rows written in transactions of {NOTICE_CHUNK} notices); then "
        f"{len(first['delivery']['workers'])} `OutboxWorker`s, each in its own process, "
        "claiming batches of "
        f"{first['batch']} rows, deliver everything at once: the real web inbox (`WebDelivery`, "
        "no socket open) and the real `Mailer` to an aiosmtpd server on 127.0.0.1 (the test "
        "suite's, in the benchmark's own process).",
        "",
        "| figure | " + " | ".join(_short(run) for run in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    pairs = list(zip(fs, runs, strict=True))
    row(
        "outbox rows written by the reminder job",
        [f"{f['written']} in {r['writing']['seconds']:.2f} s" for f, r in pairs],
    )
    row("**rows written per second**", [f"**{f['write_rate']:.0f}**" for f in fs])
    row(
        "write transactions; the longest (on SQLite, the write lock held that long)",
        [
            f"{r['writing']['write_transactions']}; {r['writing']['longest_write'] * 1000:.0f} ms"
            for r in runs
        ],
    )
    row(
        "statements a household; share of the time in SQL / on the CPU",
        [
            f"{_per(r['writing']['statements'], households):.1f}; "
            f"{f['write_sql_share']:.0%} / {f['write_cpu_share']:.0%}"
            for f, r in pairs
        ],
    )
    row(
        f"the scheduler's next sweep ({SWEEP_SECONDS} s later)",
        [f"{r['again']['written']} rows in {r['again']['seconds']:.2f} s" for r in runs],
    )
    row(
        "**deliveries per second** (both channels)",
        [f"**{f['rate']:.0f}** ({f['delivered']} rows)" for f in fs],
    )
    for channel, name in (("web", "web inbox"), ("email", "e-mail")):
        row(
            f"{name}: deliveries/s; per row, wall / event-loop CPU",
            [
                f"{f['channel_rate'][channel]:.0f}/s; {f['row_ms'][channel]:.1f} / "
                f"{f['row_cpu_ms'][channel]:.1f} ms"
                for f in fs
            ],
        )
    row("**time until the last delivery**", [f"**{r['delivery']['last']:.1f} s**" for r in runs])
    row(
        "rows claimed by each worker (claims in all)",
        [f"{' / '.join(map(str, f['claimed']))} ({f['claims']})" for f in fs],
    )
    row(
        "transactions, statements per row",
        [f"{f['transactions_per_row']:.1f}, {f['statements_per_row']:.1f}" for f in fs],
    )
    row(
        "in BEGIN IMMEDIATE (SQLite's write lock, both workers)",
        [f"{f['begin_wait']:.1f} s" if r["backend"] == "sqlite" else "–" for f, r in pairs],
    )
    row(
        "CPU: workers (per row), SMTP server; whole machine busy",
        [
            f"{f['worker_cpu']:.1f} s ({f['cpu_ms_per_row']:.1f} ms), "
            f"{r['delivery']['smtp_cpu']:.1f} s; {r['delivery']['machine_busy']:.0%}"
            for f, r in pairs
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
        "**duplicates** (a key sent twice by the workers; in the inbox; in the mailbox)",
        [
            f"**{f['duplicates']}** ({r['check']['sent_twice_by_workers']}; "
            f"{r['check']['inbox_duplicates']}; {r['check']['mail_duplicates']})"
            for f, r in pairs
        ],
    )
    row(
        "**lost** (not sent; missing from the inbox; from the mailbox)",
        [
            f"**{f['lost']}** ({r['check']['not_sent']}; {r['check']['inbox_missing']}; "
            f"{r['check']['mail_missing']})"
            for f, r in pairs
        ],
    )
    lines += [
        "",
        "Where the workers' time goes: both workers' busy time by step, and the event loop's "
        "CPU per row the step applies to:",
        "",
        "| step | " + " | ".join(_short(run) for run in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for step, label in STEPS.items():
        row(
            label,
            [
                f"{f['wall'].get(step, 0.0):.1f} s ({f['shares'][step]:.0%}), "
                f"{f['step_cpu_ms'][step]:.1f} ms"
                for f in fs
            ],
        )
    lines += ["", interpretation(runs, fs)]
    return "\n".join(lines)


def interpretation(runs: list[dict[str, Any]], fs: list[dict[str, Any]]) -> str:
    """What the figures say, in sentences built from them (and only what they show)."""
    cores = int(report.machine()["cores"])
    out = []
    for run, f in zip(runs, fs, strict=True):
        w, d = run["writing"], run["delivery"]
        households = run["town"]["households"]
        python_bound = f["write_cpu_share"] > 0.7 and f["write_sql_share"] < 0.5
        writing = (
            f"**{_short(run)}.** The reminder job spends {f['write_sql_share']:.0%} of its "
            f"{w['seconds']:.1f} s in SQL statements and the process is on the CPU "
            f"{f['write_cpu_share']:.0%} of the time: "
            + (
                f"it is bound by Python, about {_per(w['cpu'], households) * 1000:.1f} ms a "
                f"household for {_per(w['statements'], households):.1f} ORM statements "
                "(`notify` reads the household and its conversations, then inserts with ON "
                "CONFLICT DO NOTHING), not by the database"
                if python_bound
                else "the database takes a good part of it"
            )
            + f". Its longest write transaction lasts {w['longest_write'] * 1000:.0f} ms"
            + (
                " (a booking made meanwhile waits up to that long for SQLite's write lock)"
                if run["backend"] == "sqlite"
                else ""
            )
            + (
                f"; the next sweep finds nothing to write, in {run['again']['seconds']:.2f} s."
                if run["again"]["written"] == 0
                else f"; the next sweep writes {run['again']['written']} more rows."
            )
        )
        top = sorted(f["shares"].items(), key=lambda item: -item[1])[:3]
        busy = d["machine_busy"]
        delivering = (
            " Delivering, each worker takes its batch one row at a time: "
            f"{f['transactions_per_row']:.1f} transactions and {f['cpu_ms_per_row']:.1f} ms "
            "of its own CPU a row, the time going to "
            + ", ".join(f"{STEPS[step]} ({share:.0%})" for step, share in top)
            + (
                f", and {f['shares']['tz']:.0%} to {STEPS['tz']}, the same for every row"
                if "tz" not in dict(top) and f["shares"]["tz"] >= 0.05
                else ""
            )
            + (
                f"; {f['begin_wait']:.1f} s of the workers' time is spent in BEGIN IMMEDIATE, "
                "mostly waiting for the other worker's write transaction"
                if run["backend"] == "sqlite"
                else ""
            )
            + ". "
            + (
                f"With the SMTP server and the database on the same {cores} cores the machine "
                f"was {busy:.0%} busy, so the rate is what the CPU allows: less work a row "
                "(fewer transactions, no time-zone read, one SMTP connection for a batch) is "
                "what would raise it."
                if busy >= 0.8
                else f"The machine was {busy:.0%} busy: the rate is bound by each row's round "
                "trips, so delivering a batch concurrently would raise it."
            )
        )
        out.append(writing + delivering)
    return "\n\n".join(out)


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

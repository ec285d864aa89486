"""An opening morning: N parents book the last places of a popular Wednesday at once.

    .venv/bin/python bench/rush.py [--parents 500] [--places 50] [--profile]

Builds a generated town in a fresh SQLite file (or --database-url), measures the raw
sqlite3 booking transaction on a copy, starts the real server in its own process, lets every
parent run a full booking journey over the WebSocket at once, checks the database for
overbooking, and writes the figures to docs/BENCHMARKS.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shlex
import socket
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench import raw_sqlite, report  # noqa: E402
from bench.clients import Plan, rush  # noqa: E402
from bench.town import Town, build_town, opening_instant  # noqa: E402
from booking.db import Database, normalise_url  # noqa: E402
from booking.migrate import upgrade  # noqa: E402
from booking.models import Booking, BookingState, Session  # noqa: E402

DOCS = ROOT / "docs" / "BENCHMARKS.md"
DEFAULT_DAY = date(2027, 3, 1)  # a Monday; the popular Wednesday is 2027-03-10


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=500, help="households (default 500)")
    parser.add_argument("--places", type=int, default=50, help="places on the popular day")
    parser.add_argument(
        "--database-url", help="an empty database (default: a fresh SQLite file under /tmp)"
    )
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="auto",
        choices=("auto", "pyinstrument", "cprofile"),
        help="profile the server (pyinstrument when installed, else cProfile); the figures "
        "go to the profile section of docs/BENCHMARKS.md",
    )
    parser.add_argument(
        "--log-in-first",
        type=int,
        default=0,
        metavar="N",
        help="parents log in first, N at a time, and wait for the opening; then they all "
        "book at once (the booking phase is measured apart)",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="mean time a parent takes before each tap (uniform, ±50%%; default 0: none)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


async def _prepare(url: str, parents: int, places: int, now: datetime) -> Town:
    await asyncio.to_thread(upgrade, url)
    database = Database.from_url(url)
    try:
        return await build_town(database, parents=parents, places=places, now=now)
    finally:
        await database.dispose()


def _raw_rates(db_path: Path, town: Town, workdir: Path) -> dict[str, float]:
    """The booking transaction through sqlite3, on two copies of the untouched town."""
    plain = raw_sqlite.booking_rate(
        raw_sqlite.copy_database(db_path, workdir / "raw-booking.db"), town.session_ids
    )
    with_turn = raw_sqlite.booking_rate(
        raw_sqlite.copy_database(db_path, workdir / "raw-turn.db"),
        town.session_ids,
        with_turn=True,
    )
    print(
        f"raw sqlite3: {plain.per_second:.0f} booking transactions/s "
        f"({plain.transactions} in {plain.seconds:.2f} s); with the conversation read and "
        f"saved: {with_turn.per_second:.0f}/s"
    )
    return {"booking": plain.per_second, "booking_turn": with_turn.per_second}


class Server:
    """`bench.server` in its own process, logging to a file."""

    def __init__(self, url: str, port: int, now: datetime, profile: str, workdir: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = workdir / "server.log"
        self.command = [
            sys.executable,
            "-m",
            "bench.server",
            "--database-url",
            url,
            "--port",
            str(port),
            "--now",
            now.isoformat(),
            "--profile",
            profile,
            "--out",
            str(workdir),
        ]
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Server:
        with self.log_path.open("w") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command, cwd=ROOT, stdout=log, stderr=log
            )
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if self.process.returncode is not None:
                    raise RuntimeError(f"the server stopped; see {self.log_path}")
                try:
                    async with http.get(self.base + "/healthz") as response:
                        if response.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the server did not start; see {self.log_path}")

    async def __aexit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def post(self, path: str) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.post(self.base + path) as response:
                return await response.json()


async def _check(url: str, session_id: int) -> dict[str, int]:
    """Count the popular session's bookings in the database, by state; no double booking."""
    database = Database.from_url(url)
    try:
        async with database.reading() as db:
            rows = await db.execute(
                select(Booking.state, func.count(Booking.id))
                .where(Booking.session_id == session_id)
                .group_by(Booking.state)
            )
            states = {state: count for state, count in rows}
            capacity = await db.scalar(select(Session.capacity).where(Session.id == session_id))
            doubles = await db.scalar(
                select(func.count()).select_from(
                    select(Booking.participant_id)
                    .where(Booking.session_id == session_id)
                    .group_by(Booking.participant_id)
                    .having(func.count(Booking.id) > 1)
                    .subquery()
                )
            )
    finally:
        await database.dispose()
    taking = sum(
        states.get(state, 0)
        for state in (BookingState.HELD, BookingState.PENDING_PAYMENT, BookingState.CONFIRMED)
    )
    return {
        "capacity": capacity or 0,
        "taking": taking,
        "confirmed": states.get(BookingState.CONFIRMED, 0),
        "held": states.get(BookingState.HELD, 0),
        "pending": states.get(BookingState.PENDING_PAYMENT, 0),
        "waitlisted": states.get(BookingState.WAITLISTED, 0),
        "overbooked": max(0, taking - (capacity or 0)),
        "participants_booked_twice": doubles or 0,
    }


def _profile_kind(choice: str | None) -> str:
    if choice is None:
        return "none"
    if choice == "auto":
        return "pyinstrument" if importlib.util.find_spec("pyinstrument") else "cprofile"
    return choice


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="ribambelle-rush-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'rush.db'}"
    now = opening_instant(DEFAULT_DAY)
    print(f"work directory: {workdir}")
    started = time.perf_counter()
    town = await _prepare(url, args.parents, args.places, now)
    print(
        f"town: {args.parents} households, popular day {town.popular_day} with "
        f"{town.places} places ({time.perf_counter() - started:.1f} s)"
    )
    db_path = _sqlite_path(url)
    raw = _raw_rates(db_path, town, workdir) if db_path is not None else None
    profile = _profile_kind(args.profile)
    plan_port = args.port or _free_port()
    async with Server(url, plan_port, now, profile, workdir) as server:
        plan = Plan(server.base, town.password, town.activity_name, town.popular_day, args.think)
        # With a login phase, the profiler starts at the opening: it shows the booking turns.
        deferred = profile != "none" and args.log_in_first > 0
        await server.post("/_bench/start" + ("?profile=0" if deferred else ""))
        print(f"rush: {args.parents} parents at once on {server.base} …")
        phases = await rush(
            plan,
            town.logins,
            logged_in_first=args.log_in_first,
            on_opening=(lambda: server.post("/_bench/profile")) if deferred else None,
        )
        stats = await server.post("/_bench/stop")
    check = await _check(url, town.popular_session_id)
    return {
        "command": _command(args),
        "date": datetime.now().astimezone().strftime("%Y-%m-%d"),
        "machine": report.machine(),
        "database": "SQLite file (WAL)" if db_path is not None else make_url(url).drivername,
        "parents": args.parents,
        "places": args.places,
        "profile": profile,
        "town": {
            "activities": town.activities_in_catalogue,
            "sessions": town.sessions_in_catalogue,
            "popular_day": town.popular_day.isoformat(),
        },
        "raw": raw,
        "log_in_first": args.log_in_first,
        "think": args.think,
        "client": report.client_figures(phases),
        "server": stats,
        "database_check": check,
        "workdir": str(workdir),
    }


def _command(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "bench/rush.py", "--parents", str(args.parents)]
    parts += ["--places", str(args.places)]
    if args.log_in_first:
        parts += ["--log-in-first", str(args.log_in_first)]
    if args.think:
        parts += ["--think", f"{args.think:g}"]
    if args.database_url:
        parts += ["--database-url", make_url(args.database_url).render_as_string()]
    if args.profile:
        parts += ["--profile", args.profile] if args.profile != "auto" else ["--profile"]
    return shlex.join(parts)


def _print(run: dict[str, Any]) -> None:
    c, db = run["client"], run["database_check"]
    p = report.percentile
    print(
        f"\n{c['phase']} phase: {c['turns']} turns in {c['wall']:.1f} s: "
        f"{c['turns_per_second']:.0f} turns/s\n"
        f"turn latency without logins: p50 {report.ms(p(c['others'], 50))} ms, "
        f"p95 {report.ms(p(c['others'], 95))} ms, p99 {report.ms(p(c['others'], 99))} ms\n"
        f"login turns (argon2): p50 {report.ms(p(c['logins'], 50))} ms, "
        f"p95 {report.ms(p(c['logins'], 95))} ms, p99 {report.ms(p(c['logins'], 99))} ms\n"
        f"journeys: {dict(c['results'])}\n"
        f"database: {db['taking']} bookings for {db['capacity']} places, "
        f"overbooking {db['overbooked']}, waitlisted {db['waitlisted']}, "
        f"booked twice {db['participants_booked_twice']}\n"
        f"errors: {sum(c['errors'].values())} {dict(c['errors'])}"
    )
    if c["failures"]:
        for detail, count in c["failures"].most_common(5):
            print(f"  {count} × {detail}")
    cpu = run["server"].get("cpu_seconds_by_thread", {})
    print("server CPU: " + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items()))


def _write(run: dict[str, Any]) -> None:
    body = report.markdown(run)
    if run["profile"] == "none":
        name, heading = "rush", "## Rush: every parent at once"
        if run["log_in_first"]:
            name, heading = "rush-opening", "## Opening: logged in first, then all book at once"
        if run["think"]:
            name, heading = f"{name}-think", f"{heading}, taking {run['think']:g} s per tap"
        report.replace_section(DOCS, name, body, heading)
        return
    profile = run["server"].get("profile", {})
    extra = [
        "",
        f"Profiler: {profile.get('kind')} on the server's event-loop thread "
        "(its overhead slows the run; the figures above are for the profiled run).",
    ]
    if profile.get("kind") == "pyinstrument":
        extra += _pyinstrument_tables(profile)
    elif profile.get("kind") == "cprofile":
        extra += _cprofile_tables(profile["file"])
    extra += [
        "",
        "Statements of one turn of each kind (normalised; `(…)` is an IN list):",
        "",
        report.sql_markdown(
            run["server"],
            [
                "button:login",
                "text@login_password",
                "button:book",
                "button:activity",
                "button:day",
                "button:recap",
                "button:confirm",
                "button:join_waitlist",
            ],
        ),
    ]
    report.replace_section(
        DOCS, "rush-profile", body + "\n" + "\n".join(extra), "## Profile of one run"
    )


def _pyinstrument_tables(profile: dict[str, Any]) -> list[str]:
    rows = profile.get("by_function", [])
    duration = profile.get("duration") or 1
    own = [row for row in rows if row.get("by") != "incl"][:25]
    ours = [
        row
        for row in rows
        if row.get("by") == "incl"
        and any(part in row["function"] for part in ("bot/", "dialogs/", "booking/"))
    ][:30]
    lines = [
        "",
        f"Top functions by own time (pyinstrument, {duration:.1f} s sampled on the event loop):",
        "",
        "| own s | share | function |",
        "|---|---|---|",
    ]
    lines += [
        f"| {row['self']:.2f} | {row['self'] / duration:.1%} | `{row['function']}`"
        + (" (idle: the loop waits for I/O)" if row["function"].startswith("epoll.poll") else "")
        + " |"
        for row in own
    ]
    lines += [
        "",
        "Where the samples' stacks start (SQL runs in SQLAlchemy's greenlets, whose stacks "
        "start apart from the product's frames):",
        "",
        "| s | share | stack bottom |",
        "|---|---|---|",
    ]
    lines += [
        f"| {top['seconds']:.2f} | {top['seconds'] / duration:.1%} | `{top['function']}` |"
        for top in profile.get("stacks", [])
    ]
    lines += [
        "",
        "Product functions by inclusive time (SQL execution excluded, see above):",
        "",
        "| inclusive s | share | function |",
        "|---|---|---|",
    ]
    lines += [
        f"| {row['inclusive']:.2f} | {row['inclusive'] / duration:.1%} | `{row['function']}` |"
        for row in ours
    ]
    return lines


def _cprofile_tables(path: str) -> list[str]:
    import pstats

    stats = pstats.Stats(path)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(values[2] for values in entries.values()) or 1

    def name(key: tuple[str, int, str]) -> str:
        file, line, function = key
        for marker in ("site-packages/", "/work/main/", "lib/python3"):
            if marker in file:
                file = file.split(marker, 1)[1]
        return f"{function} ({file}:{line})"

    by_own = sorted(entries.items(), key=lambda item: -item[1][2])[:25]
    ours = sorted(
        (
            item
            for item in entries.items()
            if any(f"/{pkg}/" in item[0][0] for pkg in ("bot", "dialogs", "booking"))
        ),
        key=lambda item: -item[1][3],
    )[:30]
    lines = [
        "",
        f"Top functions by own time (cProfile, {total:.1f} s of CPU in the event loop):",
        "",
        "| own s | calls | function |",
        "|---|---|---|",
    ]
    lines += [f"| {v[2]:.2f} | {v[1]} | `{name(k)}` |" for k, v in by_own]
    lines += [
        "",
        "Product functions by cumulative time:",
        "",
        "| cum s | calls | function |",
        "|---|---|---|",
    ]
    lines += [f"| {v[3]:.2f} | {v[1]} | `{name(k)}` |" for k, v in ours]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run = asyncio.run(main_async(args))
    _print(run)
    Path(run["workdir"], "run.json").write_text(
        json.dumps(run, default=str, indent=1), encoding="utf-8"
    )
    if not args.no_write:
        _write(run)
        print(f"written to {DOCS.relative_to(ROOT)}")
    print(f"details: {run['workdir']}/run.json, server log {run['workdir']}/server.log")
    return 0 if run["database_check"]["overbooked"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

"""What one SQL statement costs the event loop: the product's path against the bare drivers.

    .venv/bin/python bench/statement_cost.py [--inline]

2,000 statements in a row in one `Database.writing()` unit of work on a small generated town,
then the same select through raw aiosqlite and the stdlib sqlite3 module. With --inline,
aiosqlite's calls run on the event loop instead of its thread (patched in this process only),
to show what the thread hops cost.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiosqlite  # noqa: E402
import aiosqlite.core  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bench.rush import DEFAULT_DAY  # noqa: E402
from bench.town import build_town, opening_instant  # noqa: E402
from booking.db import Database, _configure_sqlite  # noqa: E402
from booking.migrate import upgrade  # noqa: E402
from booking.models import Participant  # noqa: E402

COUNT = 2000


async def _inline(self, function, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    if not self._connection:
        raise ValueError("Connection closed")
    return function(*args, **kwargs)


async def measure(inline: bool) -> list[tuple[str, float, float]]:
    workdir = Path(tempfile.mkdtemp(prefix="ribambelle-statements-"))
    path = workdir / "statements.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    database = Database.from_url(url)
    await build_town(database, parents=50, places=10, now=opening_instant(DEFAULT_DAY))
    await database.dispose()
    if inline:
        # sqlite3 objects may then be used from the loop's thread, not only aiosqlite's.
        aiosqlite.core.Connection._execute = _inline
        engine = create_async_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        database = Database(engine)
    else:
        database = Database.from_url(url)
    rows = []
    cases = [
        (
            "ORM select of a participant by id",
            lambda s, i: s.scalar(select(Participant).where(Participant.id == i % 50 + 1)),
        ),
        ("text('SELECT 1')", lambda s, i: s.execute(text("SELECT 1"))),
    ]
    for name, statement in cases:
        async with database.writing() as session:
            await statement(session, 0)
            wall, cpu = time.perf_counter(), time.thread_time()
            for index in range(COUNT):
                await statement(session, index)
            rows.append(
                (
                    f"{name}, AsyncSession" + (" (aiosqlite inline)" if inline else ""),
                    (time.perf_counter() - wall) / COUNT,
                    (time.thread_time() - cpu) / COUNT,
                )
            )
    await database.dispose()
    if not inline:
        async with aiosqlite.connect(path) as connection:
            wall, cpu = time.perf_counter(), time.thread_time()
            for index in range(COUNT):
                cursor = await connection.execute(
                    "SELECT first_name FROM participants WHERE id = ?", (index % 50 + 1,)
                )
                await cursor.fetchone()
            rows.append(
                (
                    "raw aiosqlite execute + fetchone",
                    (time.perf_counter() - wall) / COUNT,
                    (time.thread_time() - cpu) / COUNT,
                )
            )
        connection = sqlite3.connect(path)
        wall, cpu = time.perf_counter(), time.thread_time()
        for index in range(COUNT):
            connection.execute(
                "SELECT first_name FROM participants WHERE id = ?", (index % 50 + 1,)
            ).fetchone()
        rows.append(
            (
                "stdlib sqlite3",
                (time.perf_counter() - wall) / COUNT,
                (time.thread_time() - cpu) / COUNT,
            )
        )
        connection.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inline", action="store_true", help="aiosqlite without its thread")
    args = parser.parse_args()
    print("| path | µs per statement, wall | µs, event-loop CPU |\n|---|---|---|")
    for name, wall, cpu in asyncio.run(measure(args.inline)):
        print(f"| {name} | {wall * 1e6:.0f} | {cpu * 1e6:.0f} |")


if __name__ == "__main__":
    main()

"""What one turn costs without contention: journeys run one after another through the engine.

    .venv/bin/python bench/turn_costs.py [--parents 30] [--profile book,activity,day]

No server and no concurrency: each turn of each parent's journey goes through
`Engine.handle` in this process, on the same generated town as the rush. Prints, per kind
of turn, the wall time, the CPU of the event loop's thread and the SQL statements; with
--profile, a pyinstrument tree of the turns named (pip install pyinstrument).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.report import percentile  # noqa: E402
from bench.rush import DEFAULT_DAY  # noqa: E402
from bench.town import build_town, opening_instant  # noqa: E402
from booking.clock import ShiftedClock  # noqa: E402
from booking.db import Database  # noqa: E402
from booking.migrate import upgrade  # noqa: E402
from dialogs.engine import Engine, Incoming, TurnResult  # noqa: E402


def _button(result: TurnResult, accept: Any) -> str:
    for reply in reversed(result.replies):
        for row in reply.buttons:
            for button in row:
                if accept(button.label):
                    return button.payload
    raise LookupError([reply.text for reply in result.replies])


def _day(result: TurnResult, day: Any) -> str | None:
    for reply in reversed(result.replies):
        if reply.calendar is not None:
            for week in reply.calendar.weeks:
                for cell in week:
                    if cell is not None and cell.day == day:
                        return cell.payload
    return None


async def measure(parents: int, profile: set[str]) -> tuple[dict[str, dict[str, list]], str]:
    workdir = Path(tempfile.mkdtemp(prefix="ribambelle-turns-"))
    url = f"sqlite+aiosqlite:///{workdir / 'turns.db'}"
    await asyncio.to_thread(upgrade, url)
    database = Database.from_url(url)
    now = opening_instant(DEFAULT_DAY)
    town = await build_town(database, parents=parents, places=max(1, parents // 3), now=now)
    engine = Engine(database, ShiftedClock(now))
    statements = [0]

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def count(*_args: Any) -> None:
        statements[0] += 1

    figures: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")

    async def turn(label: str, key: str, **incoming: str) -> TurnResult:
        on = profiler is not None and label in profile
        if on:
            profiler.start()
        wall, cpu, before = time.perf_counter(), time.thread_time(), statements[0]
        result = await engine.handle("web", key, Incoming(**incoming))
        figures[label]["wall"].append(time.perf_counter() - wall)
        figures[label]["cpu"].append(time.thread_time() - cpu)
        figures[label]["statements"].append(statements[0] - before)
        if on:
            profiler.stop()
        return result

    for index, login in enumerate(town.logins):
        key = f"turn-costs-{index}"
        result = await turn("start", key, text="")
        result = await turn("login", key, button=_button(result, lambda x: x == "Se connecter"))
        result = await turn("login id", key, text=login)
        result = await turn("password (argon2)", key, text=town.password)
        result = await turn("book", key, button=_button(result, lambda x: x == "Réserver"))
        activity = _button(result, lambda x: x == town.activity_name)
        result = await turn("activity", key, button=activity)
        result = await turn("day", key, button=_day(result, town.popular_day) or "")
        try:
            waitlist = _button(result, lambda x: x.startswith("Liste d'attente"))
        except LookupError:
            recap = _button(result, lambda x: x.startswith("Récapitulatif"))
            result = await turn("recap", key, button=recap)
            await turn("confirm", key, button=_button(result, lambda x: x == "Confirmer"))
        else:
            await turn("waitlist", key, button=waitlist)
    await database.dispose()
    text = ""
    if profiler is not None:
        text = profiler.output_text(unicode=True, color=False, show_all=False)
    return figures, text


def table(figures: dict[str, dict[str, list]]) -> str:
    lines = [
        "| turn | count | wall p50 ms | event-loop CPU p50 ms | SQL statements |",
        "|---|---|---|---|---|",
    ]
    for label, values in figures.items():
        lines.append(
            f"| {label} | {len(values['wall'])} | {percentile(values['wall'], 50) * 1000:.1f} | "
            f"{percentile(values['cpu'], 50) * 1000:.1f} | "
            f"{sum(values['statements']) / len(values['statements']):.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=30)
    parser.add_argument("--profile", default="", help="turns to profile, e.g. book,activity,day")
    args = parser.parse_args()
    labels = {label for label in args.profile.split(",") if label}
    figures, text = asyncio.run(measure(args.parents, labels))
    print(table(figures))
    if text:
        print(text)


if __name__ == "__main__":
    main()

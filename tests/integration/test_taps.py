"""Tapping alone beats a portal: the everyday tasks of bench/taps.py, held to their targets."""

from __future__ import annotations

from bench.taps import PORTAL_CLICKS, count_tasks
from booking.clock import FrozenClock
from booking.db import Database
from booking.demo import load_demo


async def test_the_everyday_tasks_take_fewer_taps_than_a_portal(
    sqlite_database: Database, clock: FrozenClock
):
    assert await load_demo(sqlite_database, clock.now())
    counts = {(c.task, c.how): c for c in await count_tasks(sqlite_database, clock)}
    assert counts[("book 3 meal days", "taps")].taps <= 5
    assert counts[("book a month of Wednesdays", "taps")].taps <= 5
    assert counts[("cancel one day", "taps")].taps <= 2
    for task in PORTAL_CLICKS:
        typed = counts[(task, "words")]
        assert (typed.typed, typed.taps) == (1, 1), task  # one sentence, then "Confirmer"
        assert counts[(task, "taps")].taps < PORTAL_CLICKS[task]

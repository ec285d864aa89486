"""Telegram update ids are taken in once, even by two processes at the same moment, and
forgotten after a week, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from booking.clock import FrozenClock
from booking.db import Database
from booking.services.telegram_updates import purge_telegram_updates, take_update

BOT, OTHER_BOT = 123, 456


async def _take(database: Database, bot_id: int, update_id: int, clock: FrozenClock) -> bool:
    async with database.writing() as db:
        return await take_update(db, bot_id, update_id, clock.now())


async def test_an_update_is_taken_in_once_per_bot(database: Database, clock: FrozenClock) -> None:
    assert await _take(database, BOT, 7, clock)
    assert not await _take(database, BOT, 7, clock)  # a webhook retry
    assert await _take(database, BOT, 8, clock)
    assert await _take(database, OTHER_BOT, 7, clock)  # another bot numbers its own updates


async def test_two_processes_taking_the_same_updates_at_once_take_each_once(
    database: Database, database_url: str, clock: FrozenClock
) -> None:
    other_process = Database.from_url(database_url)
    try:
        taken = await asyncio.gather(
            *(
                _take(db, BOT, update_id, clock)
                for update_id in range(10)
                for db in (database, other_process)
            )
        )
    finally:
        await other_process.dispose()
    assert sum(taken) == 10
    assert all(first != second for first, second in zip(taken[::2], taken[1::2], strict=True))


async def test_update_ids_are_forgotten_after_a_week(
    database: Database, clock: FrozenClock
) -> None:
    assert await _take(database, BOT, 1, clock)
    clock.advance(days=6)
    assert await _take(database, BOT, 2, clock)
    clock.advance(days=1, minutes=1)
    async with database.writing() as db:
        assert await purge_telegram_updates(db, clock.now()) == 1
    assert await _take(database, BOT, 1, clock)  # long gone from Telegram's retries
    assert not await _take(database, BOT, 2, clock)
    clock.advance(minutes=1)
    async with database.writing() as db:
        assert await purge_telegram_updates(db, clock.now(), keep=timedelta(0)) == 2

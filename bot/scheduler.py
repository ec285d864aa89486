"""Background sweeps run inside `ribambelle serve`: idempotent, safe with two processes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from booking.clock import Clock
from booking.db import Database
from booking.services.conversations import purge_messages
from booking.services.holds import sweep_expired_holds
from booking.services.reminders import plan_notices, purge_outbox, write_notices
from bot.web.keys import CLOCK, DATABASE, OUTBOX, SETTINGS

log = logging.getLogger(__name__)


async def sweep_holds_once(database: Database, clock: Clock) -> int:
    async with database.writing() as db:
        return await sweep_expired_holds(db, clock.now())


#: Notifications written per write transaction: an evening's reminders for a whole town
#: must not hold SQLite's write lock for seconds while parents book.
NOTICE_CHUNK = 50


async def notice_jobs_once(database: Database, clock: Clock) -> int:
    """Reminders, basket and payment warnings, daily reports: planned in a read, written to
    the outbox in small transactions."""
    now = clock.now()
    async with database.reading() as db:
        notices = await plan_notices(db, now)
    written = 0
    for start in range(0, len(notices), NOTICE_CHUNK):
        async with database.writing() as db:
            written += await write_notices(db, notices[start : start + NOTICE_CHUNK])
    async with database.writing() as db:
        await purge_outbox(db, now)
        await purge_messages(db, now)  # web chat history past its keeping time
    return written


async def run_every(seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
    """Run `job` every `seconds`; a failing run is logged and retried at the next tick."""
    while True:
        try:
            await job()
        except Exception:
            log.exception("background job %s failed", name)
        await asyncio.sleep(seconds)


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    from bot.payments.routes import reconcile_once

    database, clock, settings = app[DATABASE], app[CLOCK], app[SETTINGS]
    tasks = [
        asyncio.create_task(
            run_every(
                settings.sweep_seconds, lambda: sweep_holds_once(database, clock), "sweep_holds"
            )
        ),
        asyncio.create_task(
            run_every(settings.payment_check_seconds, lambda: reconcile_once(app), "payments")
        ),
        asyncio.create_task(
            run_every(settings.sweep_seconds, lambda: notice_jobs_once(database, clock), "notices")
        ),
        asyncio.create_task(app[OUTBOX].run_forever(settings.outbox_seconds)),
    ]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

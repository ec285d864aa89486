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
from booking.services.privacy import PURGE_BATCH, more_to_purge, purge_expired_personal_data
from booking.services.reminders import plan_notices, purge_outbox, write_notices
from bot.staff.digest import send_digests_once
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


#: The retention sweep goes by dates, months apart: once an hour is plenty.
PRIVACY_SWEEP_SECONDS = 3600.0
#: Batches per sweep at most: a first run on years of history spreads over a few sweeps.
MAX_PURGE_ROUNDS = 200


async def privacy_sweep_once(
    database: Database, clock: Clock, retention_months: int, batch: int = PURGE_BATCH
) -> dict[str, int]:
    """Forget what is past its keeping time (docs/privacy.md), one short transaction per
    batch, so that parents booking meanwhile never wait behind it; returns the counts."""
    now = clock.now()
    total: dict[str, int] = {}
    for _ in range(MAX_PURGE_ROUNDS):
        async with database.writing() as db:
            counts = await purge_expired_personal_data(db, now, retention_months, batch=batch)
        for kind, count in counts.items():
            total[kind] = total.get(kind, 0) + count
        if not more_to_purge(counts, batch):
            break
    if any(total.values()):
        log.info("retention sweep: %s", ", ".join(f"{k} {v}" for k, v in total.items() if v))
    return total


#: The staff digest waits for its hour; a minute late is on time.
DIGEST_SWEEP_SECONDS = 60.0


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
        asyncio.create_task(
            run_every(
                DIGEST_SWEEP_SECONDS,
                lambda: send_digests_once(database, clock, app[OUTBOX].mailer),
                "staff_digest",
            )
        ),
        asyncio.create_task(
            run_every(
                PRIVACY_SWEEP_SECONDS,
                lambda: privacy_sweep_once(database, clock, settings.retention_months),
                "retention",
            )
        ),
    ]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

"""Telegram updates taken in once: a webhook retry, or the same update reaching a second
process, finds its `update_id` already recorded and is dropped."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import TelegramUpdate

#: How long an update id is remembered. Telegram retries a webhook call for a few hours at
#: most, and a poller confirms what it took: a week is far beyond any replay.
KEEP_UPDATES = timedelta(days=7)


async def take_update(db: AsyncSession, bot_id: int, update_id: int, now: datetime) -> bool:
    """Record an update before it is handled; False when it was taken in already (skip it).

    An insert that ignores a duplicate key (ON CONFLICT DO NOTHING): of two processes taking
    the same update at once, exactly one gets True, on SQLite and PostgreSQL alike. Taken in
    is not handled: an update whose handling then fails is not retried (at most once).
    """
    insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(TelegramUpdate)
        .values(bot_id=bot_id, update_id=update_id, received_at=now)
        .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
        .returning(TelegramUpdate.update_id)
    )
    return (await db.execute(statement)).first() is not None


async def purge_telegram_updates(
    db: AsyncSession, now: datetime, keep: timedelta = KEEP_UPDATES
) -> int:
    """Forget the updates taken in more than `keep` ago (the retention sweep)."""
    result = await db.execute(delete(TelegramUpdate).where(TelegramUpdate.received_at < now - keep))
    return result.rowcount or 0

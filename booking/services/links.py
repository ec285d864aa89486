"""Linking channels: one-time codes that log another channel in as a guardian; leases."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Conversation, Guardian, Lease, LinkCode

LINK_CODE_LIFETIME = timedelta(minutes=15)


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def create_link_code(db: AsyncSession, guardian_id: int, now: datetime) -> str:
    """A short-lived, single-use code (fits Telegram's 64-character /start parameter)."""
    code = secrets.token_urlsafe(18)
    db.add(
        LinkCode(
            code_hash=_digest(code),
            guardian_id=guardian_id,
            created_at=now,
            expires_at=now + LINK_CODE_LIFETIME,
        )
    )
    return code


async def redeem_link_code(db: AsyncSession, code: str, now: datetime) -> Guardian | None:
    """The guardian of a valid code, which is used up; None for unknown, used or expired."""
    if not code or len(code) > 64:
        return None
    guardian_id = await db.scalar(
        update(LinkCode)
        .where(
            LinkCode.code_hash == _digest(code),
            LinkCode.used_at.is_(None),
            LinkCode.expires_at > now,
        )
        .values(used_at=now)
        .returning(LinkCode.guardian_id)
    )
    return await db.get(Guardian, guardian_id) if guardian_id is not None else None


async def mark_blocked(db: AsyncSession, conversation_id: int, now: datetime) -> None:
    await db.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(blocked_at=now)
    )


async def unmark_blocked(db: AsyncSession, channel: str, key: str) -> None:
    await db.execute(
        update(Conversation)
        .where(Conversation.channel == channel, Conversation.key == key)
        .where(Conversation.blocked_at.is_not(None))
        .values(blocked_at=None)
    )


async def acquire_lease(
    db: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta
) -> str | None:
    """Take or renew the lease; returns None when taken, else the holder that keeps it."""
    lease = await db.scalar(select(Lease).where(Lease.name == name).with_for_update())
    if lease is None:
        db.add(Lease(name=name, holder=holder, expires_at=now + ttl))
        return None
    if lease.holder != holder and lease.expires_at > now:
        return lease.holder
    lease.holder = holder
    lease.expires_at = now + ttl
    return None


async def release_lease(db: AsyncSession, name: str, holder: str) -> None:
    await db.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))

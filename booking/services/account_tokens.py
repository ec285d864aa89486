"""One-time account links (password reset, e-mail change, data export): only a hash of the
token is stored, a link serves once and only until it expires."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import AccountToken

MAX_TOKEN_LENGTH = 128


class Purpose(StrEnum):
    PASSWORD_RESET = "password_reset"
    EMAIL_CHANGE = "email_change"
    DATA_EXPORT = "data_export"


LIFETIMES = {
    Purpose.PASSWORD_RESET: timedelta(minutes=30),
    Purpose.EMAIL_CHANGE: timedelta(hours=24),
    Purpose.DATA_EXPORT: timedelta(hours=1),
}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    db: AsyncSession,
    guardian_id: int,
    purpose: Purpose,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> str:
    """A new token for `purpose`, valid for LIFETIMES[purpose]; the caller puts it in a link.

    Rules: a new password-reset or e-mail-change link replaces the guardian's earlier unused
    ones of the same purpose (only the latest link works).
    """
    if purpose in (Purpose.PASSWORD_RESET, Purpose.EMAIL_CHANGE):
        await db.execute(
            update(AccountToken)
            .where(
                AccountToken.guardian_id == guardian_id,
                AccountToken.purpose == purpose.value,
                AccountToken.used_at.is_(None),
            )
            .values(used_at=now)
        )
    token = secrets.token_urlsafe(32)
    db.add(
        AccountToken(
            token_hash=token_digest(token),
            guardian_id=guardian_id,
            purpose=purpose.value,
            data=data or {},
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    return token


def _valid(token: str, purpose: Purpose, now: datetime) -> list:
    return [
        AccountToken.token_hash == token_digest(token),
        AccountToken.purpose == purpose.value,
        AccountToken.used_at.is_(None),
        AccountToken.expires_at > now,
    ]


def _plausible(token: object) -> bool:
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH


async def peek_token(
    db: AsyncSession, token: object, purpose: Purpose, now: datetime
) -> AccountToken | None:
    """The token's row while it is unused and unexpired (a page showing its form), else None."""
    if not _plausible(token):
        return None
    return await db.scalar(select(AccountToken).where(*_valid(token, purpose, now)))


async def redeem_token(
    db: AsyncSession, token: object, purpose: Purpose, now: datetime
) -> AccountToken | None:
    """Use the token up and return its row; None if unknown, used, expired or of another
    purpose. Atomic: of two requests at once with one token, one only gets the row."""
    if not _plausible(token):
        return None
    token_id = await db.scalar(
        update(AccountToken)
        .where(*_valid(token, purpose, now))
        .values(used_at=now)
        .returning(AccountToken.id)
        .execution_options(synchronize_session=False)
    )
    return await db.get(AccountToken, token_id) if token_id is not None else None


async def tokens_issued(
    db: AsyncSession, guardian_id: int, purpose: Purpose, since: datetime
) -> int:
    """How many links of `purpose` the guardian was sent since `since`, used or not (for
    the caps on how often one may be asked for)."""
    return await db.scalar(
        select(func.count())
        .select_from(AccountToken)
        .where(
            AccountToken.guardian_id == guardian_id,
            AccountToken.purpose == purpose.value,
            AccountToken.created_at > since,
        )
    )


async def purge_tokens(db: AsyncSession, now: datetime, keep: timedelta) -> int:
    """Delete tokens used or expired more than `keep` ago (the retention sweep)."""
    result = await db.execute(
        delete(AccountToken).where(
            or_(AccountToken.expires_at < now - keep, AccountToken.used_at < now - keep)
        )
    )
    return result.rowcount or 0

"""Guardians' accounts: log in with a limit on wrong passwords, first-login password and terms."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Guardian
from booking.passwords import hash_password, needs_rehash, verify_password
from booking.refusals import Refusal, Refused

MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10


async def authenticate(db: AsyncSession, login: str, password: str, now: datetime) -> Guardian:
    """The guardian whose login and password match.

    Rules: an unknown login and a wrong password get the same refusal (no way to probe for
    logins); after MAX_FAILED_LOGINS wrong passwords in a row the account is locked for
    LOCK_DURATION, even to the right password. Hashing runs off the event loop.
    """
    guardian = await db.scalar(
        select(Guardian).where(func.lower(Guardian.login) == login.strip().lower())
    )
    if guardian is not None and guardian.locked_until is not None and now < guardian.locked_until:
        raise Refused(Refusal.ACCOUNT_LOCKED, until=guardian.locked_until)
    stored = guardian.password_hash if guardian is not None else None
    if not await asyncio.to_thread(verify_password, stored, password):
        if guardian is None:
            raise Refused(Refusal.BAD_CREDENTIALS, attempts_left=None)
        guardian.failed_logins += 1
        if guardian.failed_logins >= MAX_FAILED_LOGINS:
            guardian.failed_logins = 0
            guardian.locked_until = now + LOCK_DURATION
            raise Refused(Refusal.ACCOUNT_LOCKED, until=guardian.locked_until)
        raise Refused(
            Refusal.BAD_CREDENTIALS, attempts_left=MAX_FAILED_LOGINS - guardian.failed_logins
        )
    guardian.failed_logins = 0
    guardian.locked_until = None
    if needs_rehash(guardian.password_hash):
        guardian.password_hash = await asyncio.to_thread(hash_password, password)
    return guardian


def password_refusal(password: str) -> Refused | None:
    """A new password has at least MIN_PASSWORD_LENGTH characters, letters and digits."""
    long_enough = len(password) >= MIN_PASSWORD_LENGTH
    mixed = any(c.isalpha() for c in password) and any(c.isdigit() for c in password)
    if not (long_enough and mixed):
        return Refused(Refusal.WEAK_PASSWORD, min_length=MIN_PASSWORD_LENGTH)
    return None


async def change_password(db: AsyncSession, guardian_id: int, new_password: str) -> None:
    refusal = password_refusal(new_password)
    if refusal is not None:
        raise refusal
    guardian = await db.get(Guardian, guardian_id)
    if guardian is None:
        raise Refused(Refusal.BAD_CREDENTIALS, attempts_left=None)
    guardian.password_hash = await asyncio.to_thread(hash_password, new_password)
    guardian.must_change_password = False


async def accept_terms(db: AsyncSession, guardian_id: int, now: datetime) -> None:
    guardian = await db.get(Guardian, guardian_id)
    if guardian is not None and guardian.terms_accepted_at is None:
        guardian.terms_accepted_at = now

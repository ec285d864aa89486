"""Guardians' accounts: log in with a limit on wrong passwords, first-login password and terms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Guardian
from booking.passwords import hash_password, needs_rehash, off_loop, verify_password
from booking.refusals import Refusal, Refused

MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class PasswordCheck:
    """Argon2's work on a typed password, done before the write transaction.

    Argon2 takes about 200 ms of CPU: inside the transaction it would hold the write lock,
    and every other turn would wait behind it. The services below use `matches` only if the
    hash it was computed against is still the one stored; else they verify again.
    """

    checked_hash: str | None  # the hash the password was verified against (None: none known)
    matches: bool
    new_hash: str | None = None  # the password hashed afresh: a rehash, or a new password
    login: str | None = None  # the login it was checked for, normalised

    def verdict(self, stored_hash: str | None, login: str | None = None) -> bool | None:
        """`matches` if checked against `stored_hash` (and `login`), else None: verify again."""
        if self.checked_hash != stored_hash or self.login != login:
            return None
        return self.matches


def _normal_login(login: str) -> str:
    return login.strip().lower()


async def find_guardian(db: AsyncSession, login: str) -> Guardian | None:
    """The guardian of a login, whatever its case and surrounding spaces."""
    return await db.scalar(
        select(Guardian).where(func.lower(Guardian.login) == _normal_login(login))
    )


def _locked(guardian: Guardian | None, now: datetime) -> bool:
    return (
        guardian is not None and guardian.locked_until is not None and now < guardian.locked_until
    )


async def check_password(
    guardian: Guardian | None, login: str, password: str, now: datetime
) -> PasswordCheck | None:
    """Verify a login's password ahead of `authenticate`, with no transaction open.

    Rules: an unknown login is verified against a dummy hash all the same (same time taken);
    a locked account is not verified at all (None: `authenticate` refuses it as it is).

    Args:
        guardian: the guardian `find_guardian` read for `login` (None: unknown login).
        login: the login typed.
        password: the password typed.
        now: the turn's clock.

    Returns:
        The verdict, with the rehashed password when the stored hash's parameters are old.
    """
    if _locked(guardian, now):
        return None
    stored = guardian.password_hash if guardian is not None else None
    matches = await off_loop(verify_password, stored, password)
    new_hash = None
    if matches and stored is not None and needs_rehash(stored):
        new_hash = await off_loop(hash_password, password)
    return PasswordCheck(stored, matches, new_hash, _normal_login(login))


async def check_new_password(
    password: str, candidate_hash: str | None = None
) -> PasswordCheck | None:
    """Hash a new password ahead of its transaction (and verify its confirmation).

    Args:
        password: the new password typed.
        candidate_hash: for a confirmation, the hash of the password typed first.

    Returns:
        For a confirmation, whether it matches the candidate, and its fresh hash when it does
        (and `password_refusal` accepts it). For a first entry, its fresh hash, or None when
        `password_refusal` refuses it (nothing to hash).
    """
    if candidate_hash is not None and not await off_loop(verify_password, candidate_hash, password):
        return PasswordCheck(candidate_hash, False)
    if password_refusal(password) is not None:
        return PasswordCheck(candidate_hash, True) if candidate_hash is not None else None
    new_hash = await off_loop(hash_password, password)
    return PasswordCheck(candidate_hash, candidate_hash is not None, new_hash)


async def password_matches(
    stored_hash: str | None, password: str, checked: PasswordCheck | None = None
) -> bool:
    """Whether `password` matches `stored_hash`: `checked`'s verdict if it was computed
    against that hash, else argon2 now (off the event loop)."""
    verdict = checked.verdict(stored_hash) if checked is not None else None
    if verdict is None:
        verdict = await off_loop(verify_password, stored_hash, password)
    return verdict


async def authenticate(
    db: AsyncSession,
    login: str,
    password: str,
    now: datetime,
    checked: PasswordCheck | None = None,
) -> Guardian:
    """The guardian whose login and password match.

    Rules: an unknown login and a wrong password get the same refusal (no way to probe for
    logins); after MAX_FAILED_LOGINS wrong passwords in a row the account is locked for
    LOCK_DURATION, even to the right password. Hashing runs off the event loop, and before
    the transaction when `checked` (from `check_password`) was computed against the hash
    still stored; the failures are counted here, under the transaction's lock.
    """
    guardian = await find_guardian(db, login)
    if _locked(guardian, now):
        raise Refused(Refusal.ACCOUNT_LOCKED, until=guardian.locked_until)
    stored = guardian.password_hash if guardian is not None else None
    verdict = checked.verdict(stored, _normal_login(login)) if checked is not None else None
    fresh = checked.new_hash if verdict is not None else None
    if verdict is None:
        verdict = await off_loop(verify_password, stored, password)
    if not verdict:
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
        guardian.password_hash = fresh or await off_loop(hash_password, password)
    return guardian


def password_refusal(password: str) -> Refused | None:
    """A new password has at least MIN_PASSWORD_LENGTH characters, letters and digits."""
    long_enough = len(password) >= MIN_PASSWORD_LENGTH
    mixed = any(c.isalpha() for c in password) and any(c.isdigit() for c in password)
    if not (long_enough and mixed):
        return Refused(Refusal.WEAK_PASSWORD, min_length=MIN_PASSWORD_LENGTH)
    return None


async def change_password(
    db: AsyncSession, guardian_id: int, new_password: str, new_hash: str | None = None
) -> None:
    """Replace a guardian's password (the first-login change).

    Rules: the password must pass `password_refusal`. `new_hash` is `new_password` hashed
    before the transaction (`check_new_password`); without it, it is hashed here.
    """
    refusal = password_refusal(new_password)
    if refusal is not None:
        raise refusal
    guardian = await db.get(Guardian, guardian_id)
    if guardian is None:
        raise Refused(Refusal.BAD_CREDENTIALS, attempts_left=None)
    guardian.password_hash = new_hash or await off_loop(hash_password, new_password)
    guardian.must_change_password = False


async def accept_terms(db: AsyncSession, guardian_id: int, now: datetime) -> None:
    guardian = await db.get(Guardian, guardian_id)
    if guardian is not None and guardian.terms_accepted_at is None:
        guardian.terms_accepted_at = now

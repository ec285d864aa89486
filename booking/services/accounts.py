"""Guardians' accounts: log in with growing waits after wrong passwords, first-login password
and terms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Guardian
from booking.passwords import hash_password, needs_rehash, off_loop, verify_password
from booking.refusals import Refusal, Refused
from booking.services.login_throttles import (
    Throttle,
    address_key,
    count_failure,
    unknown_login_key,
    waiting_until,
)

MAX_FAILED_LOGINS = 5  # wrong passwords in a row before each further try waits
FIRST_DELAY = timedelta(minutes=1)  # the wait after the MAX_FAILED_LOGINS-th, then doubled
MAX_DELAY = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10

#: Waits per login (known logins count in `Guardian`, unknown ones in `login_throttles`).
LOGIN_THROTTLE = Throttle(MAX_FAILED_LOGINS, FIRST_DELAY, MAX_DELAY)

#: Waits per client address, whatever the logins tried (credential stuffing tries one password
#: per login: the per-login waits never see it).
#:
#: - Lenient: 20 wrong passwords are free (four parents' worth of typos before a per-login wait)
#:   because a school, a town hall or a mobile operator puts many parents behind one address,
#:   and a wait there keeps all of them out.
#: - Then 1 minute, doubling, at most 15 minutes: never a lock. Someone sharing the address
#:   with a prober waits 15 minutes at most, and a prober gets about four tries an hour.
#: - Forgotten after 6 hours without a wrong password (a night's quiet starts the address
#:   afresh): typos spread over weeks never add up to a wait. A prober pausing for it gains
#:   little: 20 tries per 6 hours, against about 24 trying on at the slowest wait.
#: - A successful login forgives nothing: else a prober owning one account would log into it
#:   between tries and never wait.
ADDRESS_THROTTLE = Throttle(
    wait_from=20,
    first_delay=timedelta(minutes=1),
    max_delay=timedelta(minutes=15),
    forget_after=timedelta(hours=6),
)


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


def retry_delay(failures: int) -> timedelta | None:
    """The wait before the next try after `failures` wrong passwords in a row.

    Rules: none for the first MAX_FAILED_LOGINS - 1; then FIRST_DELAY, doubled at each
    further failure up to MAX_DELAY. A wait, not a lock: once it is over, the right password
    logs in, however many wrong ones a stranger typed (tries during a wait are not counted).
    """
    return LOGIN_THROTTLE.delay(failures)


def _waiting(next_try_at: datetime | None, now: datetime) -> bool:
    return next_try_at is not None and now < next_try_at


def _refusal_after(failures: int, until: datetime | None) -> Refused:
    """The answer to the `failures`-th wrong password in a row, which started a wait `until`."""
    if until is None:
        return Refused(Refusal.BAD_CREDENTIALS, attempts_left=MAX_FAILED_LOGINS - failures)
    return Refused(Refusal.ACCOUNT_LOCKED, until=until)


async def _count_unknown_login(db: AsyncSession, key: str, now: datetime) -> Refused:
    """Count a wrong password for a login that does not exist: it gets the answers a real
    login would (tries left, then waits), so that the answer does not tell which logins exist;
    counted in the database, like a real login, so that several processes answer alike."""
    failures, until = await count_failure(db, key, LOGIN_THROTTLE, now)
    if failures is None:
        return Refused(Refusal.ACCOUNT_LOCKED, until=until)
    return _refusal_after(failures, until)


async def _count_failure(db: AsyncSession, guardian: Guardian, now: datetime) -> Refused:
    """Count a wrong password and start the wait its count calls for; the answer to give.

    One UPDATE … RETURNING, not a read-modify-write: two tries at once both count (on
    PostgreSQL the second waits for the first's row lock, then re-checks the wait).
    """
    not_waiting = or_(Guardian.locked_until.is_(None), Guardian.locked_until <= now)
    failures = await db.scalar(
        update(Guardian)
        .where(Guardian.id == guardian.id, not_waiting)
        .values(failed_logins=Guardian.failed_logins + 1)
        .returning(Guardian.failed_logins)
        .execution_options(synchronize_session=False)
    )
    if failures is None:  # a try committed meanwhile started a wait
        until = await db.scalar(select(Guardian.locked_until).where(Guardian.id == guardian.id))
        return Refused(Refusal.ACCOUNT_LOCKED, until=until)
    delay = retry_delay(failures)
    until = now + delay if delay is not None else None
    if until is not None:
        await db.execute(
            update(Guardian)
            .where(
                Guardian.id == guardian.id,
                or_(Guardian.locked_until.is_(None), Guardian.locked_until < until),
            )
            .values(locked_until=until)
            .execution_options(synchronize_session=False)
        )
    return _refusal_after(failures, until)


def _with_address_wait(refusal: Refused, address_until: datetime | None) -> Refused:
    """The login's answer, or the wait its address must now keep if that one started."""
    if address_until is None:
        return refusal
    login_until = refusal.params.get("until")
    return Refused(Refusal.ACCOUNT_LOCKED, until=max(address_until, login_until or address_until))


async def check_password(
    guardian: Guardian | None, login: str, password: str, now: datetime
) -> PasswordCheck:
    """Verify a login's password ahead of `authenticate`, with no transaction open.

    Rules: an unknown login is verified against a dummy hash, and a login that must wait is
    verified too: the time taken tells neither apart from a wrong password.

    Args:
        guardian: the guardian `find_guardian` read for `login` (None: unknown login).
        login: the login typed.
        password: the password typed.
        now: the turn's clock.

    Returns:
        The verdict, with the rehashed password when the stored hash's parameters are old.
    """
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
    *,
    client: str | None = None,
) -> Guardian:
    """The guardian whose login and password match.

    Rules: an unknown login gets the answers a known one would (same refusal, same tries
    left, same waits, same argon2 work), so that nobody can probe for logins; after
    MAX_FAILED_LOGINS wrong passwords in a row each further try waits `retry_delay`, even
    with the right password. Wrong passwords also count per `client` (ADDRESS_THROTTLE),
    whatever the logins: while its address waits, every try gets the refusal a waiting login
    gets. Failures are counted atomically and shared by every process. Hashing runs off the
    event loop, and before the transaction when `checked` (from `check_password`) was
    computed against the hash still stored.

    Args:
        client: the client's address, or a channel's stand-in for one ("telegram:<chat id>");
            None counts the login only.
    """
    guardian = await find_guardian(db, login)
    stored = guardian.password_hash if guardian is not None else None
    verdict = checked.verdict(stored, _normal_login(login)) if checked is not None else None
    fresh = checked.new_hash if verdict is not None else None
    if verdict is None:
        # Even for a login that must wait: the time taken must not tell it apart.
        verdict = await off_loop(verify_password, stored, password)
    address = address_key(client) if client else None
    unknown = unknown_login_key(_normal_login(login)[:64]) if guardian is None else None
    until = await waiting_until(db, [key for key in (address, unknown) if key], now)
    if guardian is not None and _waiting(guardian.locked_until, now):
        until = max(until or guardian.locked_until, guardian.locked_until)
    if until is not None:
        raise Refused(Refusal.ACCOUNT_LOCKED, until=until)
    if guardian is not None and verdict:
        guardian.failed_logins = 0
        guardian.locked_until = None
        if needs_rehash(guardian.password_hash):
            guardian.password_hash = fresh or await off_loop(hash_password, password)
        return guardian
    address_until = None
    if address is not None:
        address_failures, address_until = await count_failure(db, address, ADDRESS_THROTTLE, now)
        if address_failures is None:  # a try committed meanwhile started the address's wait
            raise Refused(Refusal.ACCOUNT_LOCKED, until=address_until)
    if guardian is None:
        refusal = await _count_unknown_login(db, unknown, now)
    else:
        refusal = await _count_failure(db, guardian, now)
    raise _with_address_wait(refusal, address_until)


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

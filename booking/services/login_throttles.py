"""Growing waits after wrong passwords, counted per key in `login_throttles`: a client address
(or a channel's stand-in for one) and a login that does not exist. A table, not a dict: every
server process sees the same counts."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import LoginThrottle

MAX_KEY_LENGTH = 100
UNKNOWN_LOGIN_PREFIX = "login:"
#: An address is personal data: its count is kept a day after its last wrong password (it
#: is dead after `forget_after` anyway, 6 hours for the login waits).
KEEP_ADDRESSES = timedelta(days=1)
#: A known login's count never fades (only its right password resets it): an unknown one's
#: must not fade soon either, or a prober could tell them apart by coming back later. Its key
#: is a digest, not what was typed.
KEEP_UNKNOWN_LOGINS = timedelta(days=90)


@dataclass(frozen=True)
class Throttle:
    """From the `wait_from`-th wrong password on, each one starts a wait: `first_delay`, doubled
    at each further one up to `max_delay`. With `forget_after`, a count left alone that long
    (no wrong password counted) starts again from one."""

    wait_from: int
    first_delay: timedelta
    max_delay: timedelta
    forget_after: timedelta | None = None

    def delay(self, failures: int) -> timedelta | None:
        """The wait that the `failures`-th wrong password starts (None: no wait)."""
        if failures < self.wait_from:
            return None
        return min(self.max_delay, self.first_delay * 2 ** min(failures - self.wait_from, 16))


def address_key(client: str) -> str:
    """The key a client is counted under: its address, except that an IPv6 address counts with
    its /64 (a subscriber gets a whole /64 and may pick any address in it); stand-ins such as
    "telegram:<chat id>" are kept as they are."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client[:MAX_KEY_LENGTH]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def unknown_login_key(normal_login: str) -> str:
    """The key of a login that does not exist: a digest, since what people type in the login
    field (sometimes their password) is not worth keeping."""
    return UNKNOWN_LOGIN_PREFIX + hashlib.sha256(normal_login.encode()).hexdigest()[:40]


async def waiting_until(db: AsyncSession, keys: list[str], now: datetime) -> datetime | None:
    """The latest end of a wait still running for one of `keys` (None: none waits).

    Queried even for no key: a known login without an address takes the time others take."""
    return await db.scalar(
        select(LoginThrottle.next_try_at)
        .where(LoginThrottle.key.in_(keys), LoginThrottle.next_try_at > now)
        # Latest first: NULLs are filtered out above, so the order is the same on both backends.
        .order_by(LoginThrottle.next_try_at.desc())
        .limit(1)
    )


async def count_failure(
    db: AsyncSession, key: str, throttle: Throttle, now: datetime
) -> tuple[int | None, datetime | None]:
    """Count a wrong password under `key` and start the wait its count calls for.

    One INSERT … ON CONFLICT DO UPDATE … RETURNING: two tries at once both count, on SQLite
    and PostgreSQL alike (the second waits for the first's row, then re-checks the wait).
    Tries during a wait are not counted.

    Returns:
        (the count, the end of the wait it started or None); or (None, the end of the wait)
        when a try committed meanwhile started a wait: this one is refused, uncounted.
    """
    insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    counted = LoginThrottle.failures + 1
    if throttle.forget_after is not None:
        forgotten = LoginThrottle.updated_at < now - throttle.forget_after
        counted = case((forgotten, 1), else_=counted)
    statement = (
        insert(LoginThrottle)
        .values(key=key, failures=1, next_try_at=None, updated_at=now)
        .on_conflict_do_update(
            index_elements=[LoginThrottle.key],
            set_={"failures": counted, "updated_at": now},
            where=or_(LoginThrottle.next_try_at.is_(None), LoginThrottle.next_try_at <= now),
        )
        .returning(LoginThrottle.failures)
    )
    failures = (await db.execute(statement)).scalar()
    if failures is None:
        until = await db.scalar(select(LoginThrottle.next_try_at).where(LoginThrottle.key == key))
        return None, until
    delay = throttle.delay(failures)
    if delay is None:
        return failures, None
    # The row is ours until the transaction ends (row lock, or SQLite's write lock).
    await db.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(next_try_at=now + delay)
        .execution_options(synchronize_session=False)
    )
    return failures, now + delay


async def purge_login_throttles(
    db: AsyncSession,
    now: datetime,
    keep: timedelta = KEEP_ADDRESSES,
    keep_logins: timedelta = KEEP_UNKNOWN_LOGINS,
) -> int:
    """Delete the counts that no wrong password touched for `keep` (`keep_logins` for those of
    unknown logins) and that hold no running wait (the retention sweep)."""
    unknown_login = LoginThrottle.key.startswith(UNKNOWN_LOGIN_PREFIX)
    quiet = or_(
        and_(~unknown_login, LoginThrottle.updated_at < now - keep),
        and_(unknown_login, LoginThrottle.updated_at < now - keep_logins),
    )
    not_waiting = or_(LoginThrottle.next_try_at.is_(None), LoginThrottle.next_try_at <= now)
    result = await db.execute(delete(LoginThrottle).where(quiet, not_waiting))
    return result.rowcount or 0

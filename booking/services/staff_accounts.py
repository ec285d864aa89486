"""Staff accounts of the back office: creation, log in with the parents' waits, browser
sessions with an idle timeout, and the audit of staff changes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    Channel,
    LoginThrottle,
    StaffAudit,
    StaffMember,
    StaffRole,
    StaffSession,
    Structure,
)
from booking.passwords import hash_password, off_loop, verify_password
from booking.refusals import Refusal, Refused
from booking.services.accounts import (
    ADDRESS_THROTTLE,
    FIRST_DELAY,
    MAX_DELAY,
    MAX_FAILED_LOGINS,
    password_refusal,
)
from booking.services.common import Actor
from booking.services.login_throttles import (
    Throttle,
    address_key,
    count_failure,
    waiting_until,
)

#: Wrong passwords of one staff login, counted whether or not the login exists (the answer
#: and the time never tell), with the parents' waits.
STAFF_LOGIN_THROTTLE = Throttle(MAX_FAILED_LOGINS, FIRST_DELAY, MAX_DELAY)


@dataclass(frozen=True)
class StaffContext:
    """Who acts in the back office: read once per request, outside any transaction."""

    id: int
    structure_id: int
    login: str
    name: str
    role: StaffRole
    timezone: str = "Europe/Paris"  # the structure's: the staff read instants on its clock

    @property
    def actor(self) -> Actor:
        """The actor of booking services: events name the staff member (`staff:<login>`)."""
        return Actor(channel=Channel.STAFF, staff=self.login)

    def may(self, role: StaffRole) -> bool:
        return self.role.allows(role)

    @classmethod
    def of(cls, member: StaffMember, timezone: str = "Europe/Paris") -> StaffContext:
        return cls(member.id, member.structure_id, member.login, member.name, member.role, timezone)


def _normal(login: str) -> str:
    return login.strip().lower()


def valid_login(login: str) -> bool:
    """A staff login: 1 to 64 characters, no space (compare it `_normal`-ised)."""
    return 0 < len(login) <= 64 and not any(c.isspace() for c in login)


def _login_key(login: str) -> str:
    return "staff:" + hashlib.sha256(_normal(login)[:64].encode()).hexdigest()[:40]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def find_structure(db: AsyncSession, slug: str) -> Structure | None:
    return await db.scalar(select(Structure).where(Structure.slug == slug))


async def add_staff(
    db: AsyncSession,
    *,
    structure_id: int,
    login: str,
    role: StaffRole,
    password_hash: str,
    now: datetime,
    name: str = "",
    email: str = "",
    by: StaffContext | None = None,
) -> StaffMember:
    """Create a staff account; the login is unique across structures (and case)."""
    login = _normal(login)
    if not valid_login(login):
        raise ValueError(f"not a staff login: {login!r}")
    taken = await db.scalar(select(StaffMember.id).where(func.lower(StaffMember.login) == login))
    if taken is not None:
        raise ValueError(f"the staff login {login!r} is taken")
    member = StaffMember(
        structure_id=structure_id,
        login=login,
        role=role,
        password_hash=password_hash,
        name=name,
        email=email,
        created_at=now,
    )
    db.add(member)
    await db.flush()
    record_staff_change(
        db,
        by,
        now,
        "staff_added",
        f"staff:{member.id}",
        structure_id=structure_id,
        login=login,
        role=role.value,
    )
    return member


async def authenticate_staff(
    db: AsyncSession, login: str, password: str, now: datetime, *, client: str | None
) -> StaffMember:
    """The staff member whose login and password match.

    Rules: as for parents: an unknown login gets the answers and the argon2 work a known one
    gets; from the MAX_FAILED_LOGINS-th wrong password in a row each try waits, also per
    client address (ADDRESS_THROTTLE, shared with the parents' logins); a disabled account
    answers as a wrong password.
    """
    member = await db.scalar(
        select(StaffMember).where(func.lower(StaffMember.login) == _normal(login)[:64])
    )
    stored = member.password_hash if member is not None else None
    verdict = await off_loop(verify_password, stored or None, password)
    keys = [_login_key(login)] + ([address_key(client)] if client else [])
    until = await waiting_until(db, keys, now)
    if until is not None:
        raise Refused(Refusal.ACCOUNT_LOCKED, until=until)
    if member is not None and member.disabled_at is None and verdict:
        await db.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == keys[0])
            .values(failures=0, next_try_at=None)
        )
        return member
    address_until = None
    if client:
        _, address_until = await count_failure(db, keys[1], ADDRESS_THROTTLE, now)
    failures, login_until = await count_failure(db, keys[0], STAFF_LOGIN_THROTTLE, now)
    until = max((u for u in (address_until, login_until) if u is not None), default=None)
    if until is not None:
        raise Refused(Refusal.ACCOUNT_LOCKED, until=until)
    left = MAX_FAILED_LOGINS - (failures or MAX_FAILED_LOGINS)
    raise Refused(Refusal.BAD_CREDENTIALS, attempts_left=max(left, 1))


async def open_staff_session(db: AsyncSession, member: StaffMember, now: datetime) -> str:
    """A new browser session; returns its token (the cookie), only its hash is stored."""
    token = secrets.token_urlsafe(32)
    db.add(
        StaffSession(
            token_hash=_digest(token),
            staff_id=member.id,
            csrf_token=secrets.token_urlsafe(24),
            created_at=now,
            last_seen_at=now,
        )
    )
    return token


async def staff_session(
    db: AsyncSession, token: object, now: datetime, idle: timedelta
) -> tuple[StaffContext, int, str, datetime] | None:
    """(staff, session id, CSRF token, last use) of a cookie, if its session is open, was used
    within `idle` and its account is not disabled. Reads only: see `touch_staff_session`."""
    if not isinstance(token, str) or not 0 < len(token) <= 128:
        return None
    row = (
        await db.execute(
            select(StaffSession, StaffMember, Structure.timezone)
            .join(StaffMember, StaffMember.id == StaffSession.staff_id)
            .join(Structure, Structure.id == StaffMember.structure_id)
            .where(StaffSession.token_hash == _digest(token), StaffSession.ended_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    session, member, timezone = row
    if member.disabled_at is not None or session.last_seen_at < now - idle:
        return None
    staff = StaffContext.of(member, timezone)
    return staff, session.id, session.csrf_token, session.last_seen_at


async def touch_staff_session(db: AsyncSession, session_id: int, now: datetime) -> None:
    """The session was used at `now` (the idle timeout counts from there)."""
    await db.execute(
        update(StaffSession).where(StaffSession.id == session_id).values(last_seen_at=now)
    )


async def end_staff_session(db: AsyncSession, token: object, now: datetime) -> None:
    if isinstance(token, str) and 0 < len(token) <= 128:
        await db.execute(
            update(StaffSession)
            .where(StaffSession.token_hash == _digest(token), StaffSession.ended_at.is_(None))
            .values(ended_at=now)
        )


async def set_staff_password(db: AsyncSession, staff_id: int, password: str) -> None:
    refusal = password_refusal(password)
    if refusal is not None:
        raise refusal
    member = await db.get(StaffMember, staff_id)
    if member is not None:
        member.password_hash = await off_loop(hash_password, password)


def record_staff_change(
    db: AsyncSession,
    staff: StaffContext | None,
    now: datetime,
    action: str,
    target: str = "",
    *,
    structure_id: int | None = None,
    household_id: int | None = None,
    **data: Any,
) -> StaffAudit:
    """Write who changed what outside bookings (bookings have their BookingEvent)."""
    audit = StaffAudit(
        at=now,
        structure_id=structure_id if structure_id is not None else staff.structure_id,
        staff_id=staff.id if staff is not None else None,
        action=action,
        target=target,
        household_id=household_id,
        data=data,
    )
    db.add(audit)
    return audit

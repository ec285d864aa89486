"""The household's account as its guardians see it: who can log in, where e-mails go, and new
e-mail addresses applied only from a link sent to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.email_addresses import valid_address
from booking.models import Guardian, Household, NoticeKind
from booking.services.account_tokens import (
    Purpose,
    issue_token,
    redeem_token,
    token_digest,
    tokens_issued,
)
from booking.services.outbox import send_account_email

MAX_EMAIL_CHANGES = 3  # links per guardian within EMAIL_CHANGE_WINDOW
EMAIL_CHANGE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class GuardianLine:
    id: int
    first_name: str
    last_name: str
    login: str
    email: str


@dataclass(frozen=True)
class HouseholdProfile:
    name: str
    guardians: list[GuardianLine]
    emails: list[str]  # where the household's notifications go


async def household_profile(db: AsyncSession, household_id: int) -> HouseholdProfile:
    """The household's guardians and e-mail addresses (its own only)."""
    household = await db.get(Household, household_id)
    if household is None:
        raise LookupError(household_id)
    guardians = await db.scalars(
        select(Guardian).where(Guardian.household_id == household_id).order_by(Guardian.id)
    )
    return HouseholdProfile(
        household.name,
        [GuardianLine(g.id, g.first_name, g.last_name, g.login, g.email) for g in guardians],
        household.email_list,
    )


def _unique(addresses: list[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for address in addresses:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            kept.append(address)
    return kept


async def request_email_change(
    db: AsyncSession, guardian_id: int, addresses: list[str], now: datetime
) -> list[str] | None:
    """Send the link that applies `addresses` (valid, at least one); where it went, or None
    when the guardian asked too often.

    Rules: nothing changes until the link is opened (`confirm_email_change`), within 24 hours,
    once; the link goes to the addresses that are new (all of them if none is); the current
    addresses are told a change was asked, and to which addresses (a stranger in an open
    session cannot move the account's e-mails unseen); at most MAX_EMAIL_CHANGES links per
    guardian within EMAIL_CHANGE_WINDOW (the chat cannot be made to mail anyone at will).
    """
    guardian = await db.get(Guardian, guardian_id)
    household = await db.get(Household, guardian.household_id) if guardian else None
    if guardian is None or household is None or not addresses:
        raise LookupError(guardian_id)
    since = now - EMAIL_CHANGE_WINDOW
    if await tokens_issued(db, guardian.id, Purpose.EMAIL_CHANGE, since) >= MAX_EMAIL_CHANGES:
        return None
    old = _unique([*household.email_list, guardian.email.strip()])
    known = {address.lower() for address in old}
    fresh = [address for address in addresses if address.lower() not in known] or addresses
    token = await issue_token(db, guardian.id, Purpose.EMAIL_CHANGE, now, {"emails": addresses})
    key = f"email_change:{token_digest(token)[:16]}"
    common = {
        "household_id": household.id,
        "locale": guardian.language or household.language,
        "now": now,
    }
    data = {"emails": addresses, "name": guardian.first_name}
    await send_account_email(
        db,
        kind=NoticeKind.EMAIL_CHANGE,
        key=key,
        addresses=fresh,
        data={**data, "token": token},
        **common,
    )
    sent_to = {address.lower() for address in fresh}
    await send_account_email(
        db,
        kind=NoticeKind.EMAIL_CHANGE_NOTICE,
        key=f"{key}:notice",
        addresses=[address for address in old if address.lower() not in sent_to],
        data=data,
        **common,
    )
    return fresh


def link_addresses(token_data: dict) -> list[str]:
    """The addresses an e-mail change link applies (from its token's `data`)."""
    return [a for a in token_data.get("emails", []) if isinstance(a, str) and valid_address(a)]


async def confirm_email_change(db: AsyncSession, token: object, now: datetime) -> Household | None:
    """Apply the addresses of an e-mail change link; None if unknown, used or expired.

    Rules: the link is used up atomically (it applies once); the addresses become the
    household's, the first one the guardian's own (where a password reset link goes).
    """
    row = await redeem_token(db, token, Purpose.EMAIL_CHANGE, now)
    if row is None:
        return None
    addresses = link_addresses(row.data)
    guardian = await db.get(Guardian, row.guardian_id)
    household = await db.get(Household, guardian.household_id)
    if addresses:
        household.emails = ";".join(addresses)
        guardian.email = addresses[0]
    return household

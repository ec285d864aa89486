"""Password reset by e-mail: a one-time link to the guardian's own addresses, then a new
password under the first login's rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import false, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    AccountToken,
    Conversation,
    Guardian,
    Household,
    NoticeKind,
    OutboxMessage,
)
from booking.services.account_tokens import (
    Purpose,
    issue_token,
    redeem_token,
    token_digest,
    tokens_issued,
)
from booking.services.accounts import change_password, password_refusal
from booking.services.devices import end_devices
from booking.services.outbox import send_account_email

MAX_RESETS = 3  # reset e-mails per guardian within RESET_WINDOW; more are silently dropped
RESET_WINDOW = timedelta(hours=1)
MAX_IDENTIFIER = 254
MAX_GUARDIANS_PER_ADDRESS = 5  # one shared address may serve a few guardians, each gets a link


def reset_addresses(guardian: Guardian, household: Household) -> list[str]:
    """Where a guardian's reset link goes: their own address, else the household's."""
    return [guardian.email.strip()] if guardian.email.strip() else household.email_list


def _addresses_of(guardian: Guardian, household: Household) -> set[str]:
    return {a.lower() for a in [guardian.email.strip(), *household.email_list] if a}


async def _guardians_for(db: AsyncSession, identifier: str) -> list[tuple[Guardian, Household]]:
    """The guardians a login names, or an address of theirs (own or household's); erased
    households left out.

    Both look-ups run whatever was typed: the time taken does not depend on which one finds.
    """
    typed = identifier.strip()[:MAX_IDENTIFIER]
    folded = typed.lower()
    alive = Household.erased_at.is_(None)
    found: dict[int, tuple[Guardian, Household]] = {}
    by_login = await db.execute(
        select(Guardian, Household)
        .join(Household, Household.id == Guardian.household_id)
        .where(func.lower(Guardian.login) == folded, alive)
    )
    for guardian, household in by_login.all():
        found[guardian.id] = (guardian, household)
    by_address = await db.execute(
        select(Guardian, Household)
        .join(Household, Household.id == Guardian.household_id)
        .where(
            alive,
            or_(
                func.lower(Guardian.email) == folded,
                func.lower(Household.emails).contains(folded, autoescape=True),
            ),
        )
        .order_by(Guardian.id)
        .limit(4 * MAX_GUARDIANS_PER_ADDRESS)
    )
    matching = [
        (guardian, household)
        for guardian, household in by_address.all()
        if "@" in folded and folded in _addresses_of(guardian, household)
    ]
    for guardian, household in matching[:MAX_GUARDIANS_PER_ADDRESS]:
        found.setdefault(guardian.id, (guardian, household))
    return list(found.values())


async def request_password_reset(db: AsyncSession, identifier: str, now: datetime) -> int:
    """E-mail a reset link to each guardian the login or address names; how many were sent.

    Rules: the caller answers the same whatever this returns (nobody learns which logins or
    addresses exist); the link goes to `reset_addresses` only (an address typed only names
    the account), serves once and for 30 minutes (`account_tokens`), and replaces the
    guardian's earlier link; at most MAX_RESETS per guardian within RESET_WINDOW, the others
    dropped without a word (nobody floods a parent's mailbox); the e-mail is urgent (no
    quiet hours).
    """
    sent = 0
    since = now - RESET_WINDOW
    for guardian, household in await _guardians_for(db, identifier):
        addresses = reset_addresses(guardian, household)
        if not addresses or (
            await tokens_issued(db, guardian.id, Purpose.PASSWORD_RESET, since) >= MAX_RESETS
        ):
            continue
        token = await issue_token(db, guardian.id, Purpose.PASSWORD_RESET, now)
        sent += await send_account_email(
            db,
            household_id=household.id,
            kind=NoticeKind.PASSWORD_RESET,
            key=f"password_reset:{token_digest(token)[:16]}",
            addresses=addresses,
            locale=guardian.language or household.language,
            data={"token": token, "login": guardian.login, "name": guardian.first_name},
            now=now,
        )
    if not sent:
        await _as_if_sending(db, since, now)
    return sent


async def _as_if_sending(db: AsyncSession, since: datetime, now: datetime) -> None:
    """The statements a link costs (count, replace, write the link and the e-mail), touching
    no row: the time taken does not tell an unknown login, or one past its cap, from one that
    was sent a link (about 4 ms on SQLite, bigger than a turn's noise)."""
    await tokens_issued(db, 0, Purpose.PASSWORD_RESET, since)
    await db.execute(update(AccountToken).where(false()).values(used_at=now))
    for model in (AccountToken, OutboxMessage):
        columns = [c.name for c in model.__table__.columns if not c.primary_key]
        rows = select(*(model.__table__.c[name] for name in columns)).where(false())
        await db.execute(insert(model).from_select(columns, rows))


async def reset_password(
    db: AsyncSession,
    token: object,
    new_password: str,
    now: datetime,
    *,
    new_hash: str | None = None,
    logged_out: Callable[[dict], dict] | None = None,
) -> Guardian | None:
    """Set a new password from a reset link; None if the link is unknown, used or expired.

    Rules: the password passes `password_refusal` (else Refused, and the link still works);
    the link is used up atomically (of two submissions, one only succeeds); the guardian's
    failed logins and wait are cleared; with `logged_out` (the dialogs' logged-out state),
    every conversation logged in as the guardian is logged out: whoever knew the old password
    loses the session it opened.
    """
    refusal = password_refusal(new_password)
    if refusal is not None:
        raise refusal
    row = await redeem_token(db, token, Purpose.PASSWORD_RESET, now)
    if row is None:
        return None
    await change_password(db, row.guardian_id, new_password, new_hash)
    guardian = await db.get(Guardian, row.guardian_id)
    guardian.failed_logins = 0
    guardian.locked_until = None
    if logged_out is not None:
        conversations = await db.scalars(
            select(Conversation.id).where(Conversation.guardian_id == guardian.id)
        )
        await end_devices(db, guardian.household_id, list(conversations), logged_out)
    return guardian

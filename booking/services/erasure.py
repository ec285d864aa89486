"""Erasing a household (the right to erasure): its personal data goes, what the town's
accounting must keep stays under a pseudonym (docs/privacy.md)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    AccountToken,
    Booking,
    BookingState,
    Conversation,
    Dossier,
    Enrolment,
    Guardian,
    Household,
    Invoice,
    LedgerEntry,
    LinkCode,
    OutboxMessage,
    Participant,
    Payment,
    PaymentState,
    PushedMessage,
    SandboxTransaction,
    Session,
    StaffAudit,
    Wallet,
)
from booking.services.privacy import count_of, delete_hidden_messages, household_conversations

#: What an erased guardian's password hash becomes: no password ever verifies against it.
UNUSABLE_PASSWORD = "!erased"


@dataclass(frozen=True)
class Blocker:
    """Why a household cannot be erased yet: `code` and how many rows say so."""

    code: str  # "payment_open", "places_held", "upcoming_bookings"
    count: int


class ErasureBlocked(Exception):
    def __init__(self, blockers: list[Blocker]) -> None:
        super().__init__(", ".join(f"{b.code} ({b.count})" for b in blockers))
        self.blockers = blockers


@dataclass
class Erasure:
    """What `erase_household` did, for the staff member who ran it."""

    household_id: int
    pseudonym: str
    guardians: int = 0
    participants: int = 0
    conversations: int = 0
    messages: int = 0
    notifications: int = 0
    tokens: int = 0
    kept_bookings: int = 0
    kept_payments: int = 0
    kept_ledger_entries: int = 0
    balances: dict[str, int] = field(default_factory=dict)  # non-zero ones, kept


async def erasure_blockers(db: AsyncSession, household_id: int, now: datetime) -> list[Blocker]:
    """What stops an erasure: money in motion, or a child still expected.

    Rules: no payment may be open (a pay link not settled, a refund not sent back yet): its
    result must find the household it belongs to; no place held in a basket or awaiting its
    payment; no booking (confirmed or on a waiting list) for a session not started yet: the
    staff would otherwise expect a child with no name. Balances do not block: they stay in
    the ledger under the pseudonym, for the town's accounting.
    """
    blockers = []
    open_payments = await db.scalar(
        select(func.count(Payment.id)).where(
            Payment.household_id == household_id, Payment.state == PaymentState.CREATED
        )
    )
    if open_payments:
        blockers.append(Blocker("payment_open", open_payments))
    held = await db.scalar(
        select(func.count(Booking.id)).where(
            Booking.household_id == household_id,
            Booking.state.in_((BookingState.HELD, BookingState.PENDING_PAYMENT)),
        )
    )
    if held:
        blockers.append(Blocker("places_held", held))
    upcoming = await db.scalar(
        select(func.count(Booking.id))
        .join(Session, Session.id == Booking.session_id)
        .where(
            Booking.household_id == household_id,
            Booking.state.in_((BookingState.CONFIRMED, BookingState.WAITLISTED)),
            Session.starts_at > now,
        )
    )
    if upcoming:
        blockers.append(Blocker("upcoming_bookings", upcoming))
    return blockers


def reduced_birth_date(born: date) -> date:
    """1 July of the birth year: the school cohort (French classes go by calendar year of
    birth) is kept exactly, and an age in whole years is never more than six months off."""
    return date(born.year, 7, 1)


async def _new_pseudonym(db: AsyncSession) -> str:
    while True:
        pseudonym = f"erased-{secrets.token_hex(4)}"
        if not await db.scalar(select(Household.id).where(Household.reference == pseudonym)):
            return pseudonym


async def erase_household(db: AsyncSession, household_id: int, now: datetime) -> Erasure:
    """Remove a household's personal data; keep its accounting under a pseudonym.

    Rules: refused while `erasure_blockers` finds any (`ErasureBlocked`, nothing changed).
    Names, e-mails, logins and the Telegram chats go; the login can never be used again
    (the password hash cannot verify); birth dates become 1 July of their year
    (`reduced_birth_date`); dossiers lose their free text; conversations and their messages,
    notifications, one-time links and codes are deleted. Bookings, their events, payments,
    receipts, wallets and the ledger stay, under the pseudonym: bookings' counts and the
    town's statistics do not change. Payment details lose the children's names and what the
    bank sent back. Messages no conversation shows anymore (before a later login or logout,
    a shared tablet's) are deleted everywhere.

    Raises:
        LookupError: no such household, or it was erased already.
        ErasureBlocked: money in motion or a booking to come.
    """
    household = await db.scalar(
        select(Household).where(Household.id == household_id).with_for_update()
    )
    if household is None or household.erased_at is not None:
        raise LookupError(household_id)
    blockers = await erasure_blockers(db, household_id, now)
    if blockers:
        raise ErasureBlocked(blockers)
    erasure = Erasure(household_id, await _new_pseudonym(db))
    guardian_ids, names = await _pseudonymise_people(db, household, erasure)
    household.reference = household.name = erasure.pseudonym
    household.emails = ""
    household.notify_channels = []
    household.erased_at = now
    await _pseudonymise_payments(db, household_id, names)
    await _pseudonymise_staff_records(db, household_id, erasure.pseudonym, names)
    await _delete_traces(db, household_id, guardian_ids, erasure)
    await _count_kept(db, erasure)
    await db.flush()
    return erasure


async def _pseudonymise_people(
    db: AsyncSession, household: Household, erasure: Erasure
) -> tuple[list[int], dict[str, str]]:
    """Guardians and participants under the pseudonym; returns the guardians' ids and what
    each child's first name became."""
    pseudonym = erasure.pseudonym
    guardians = list(
        await db.scalars(
            select(Guardian).where(Guardian.household_id == household.id).order_by(Guardian.id)
        )
    )
    for number, guardian in enumerate(guardians, start=1):
        guardian.login = f"{pseudonym}-g{number}"
        guardian.password_hash = UNUSABLE_PASSWORD
        guardian.first_name = f"G{number}"
        guardian.last_name = pseudonym
        guardian.email = ""
        guardian.phone = ""
        guardian.language = None
        guardian.failed_logins = 0
        guardian.locked_until = None
    participants = list(
        await db.scalars(
            select(Participant)
            .where(Participant.household_id == household.id)
            .order_by(Participant.id)
        )
    )
    names: dict[str, str] = {}
    for number, participant in enumerate(participants, start=1):
        names[participant.first_name] = f"P{number}"
        participant.first_name = f"P{number}"
        participant.last_name = pseudonym
        participant.birth_date = reduced_birth_date(participant.birth_date)
        participant.school_class = ""
    participant_ids = [p.id for p in participants]
    await db.execute(
        update(Dossier)
        .where(Dossier.participant_id.in_(participant_ids))
        .values(missing_items=[], notes="", refusal_reason=None)
        .execution_options(synchronize_session=False)
    )
    await db.execute(
        update(Enrolment)
        .where(Enrolment.participant_id.in_(participant_ids))
        .values(refusal_reason=None)
        .execution_options(synchronize_session=False)
    )
    erasure.guardians, erasure.participants = len(guardians), len(participants)
    return [guardian.id for guardian in guardians], names


async def _delete_traces(
    db: AsyncSession, household_id: int, guardian_ids: list[int], erasure: Erasure
) -> None:
    """Conversations and their messages, notices, one-time links and codes."""
    linked = household_conversations(household_id, guardian_ids)
    erasure.messages = count_of(
        await db.execute(
            delete(PushedMessage).where(
                PushedMessage.conversation_id.in_(select(Conversation.id).where(linked))
            )
        )
    )
    erasure.messages += await delete_hidden_messages(db)
    erasure.conversations = count_of(
        await db.execute(
            delete(Conversation).where(linked).execution_options(synchronize_session=False)
        )
    )
    erasure.notifications = count_of(
        await db.execute(delete(OutboxMessage).where(OutboxMessage.household_id == household_id))
    )
    erasure.tokens = count_of(
        await db.execute(delete(AccountToken).where(AccountToken.guardian_id.in_(guardian_ids)))
    ) + count_of(await db.execute(delete(LinkCode).where(LinkCode.guardian_id.in_(guardian_ids))))


async def _count_kept(db: AsyncSession, erasure: Erasure) -> None:
    household_id = erasure.household_id
    erasure.kept_bookings = await db.scalar(
        select(func.count(Booking.id)).where(Booking.household_id == household_id)
    )
    erasure.kept_payments = await db.scalar(
        select(func.count(Payment.id)).where(Payment.household_id == household_id)
    )
    wallets = (
        await db.execute(
            select(Wallet.id, Wallet.kind, Wallet.balance).where(
                Wallet.household_id == household_id
            )
        )
    ).all()
    erasure.kept_ledger_entries = await db.scalar(
        select(func.count(LedgerEntry.id)).where(
            LedgerEntry.wallet_id.in_([wallet_id for wallet_id, _, _ in wallets])
        )
    )
    erasure.balances = {kind.value: balance for _, kind, balance in wallets if balance}


async def _pseudonymise_payments(
    db: AsyncSession, household_id: int, names: dict[str, str]
) -> None:
    """Children's names out of what payments remember of their items (and out of the sandbox
    provider's copy); the bank's answer and the provider's page address dropped."""
    payments = list(await db.scalars(select(Payment).where(Payment.household_id == household_id)))
    references = [p.provider_reference for p in payments if p.provider_reference]
    for payment in payments:
        details = dict(payment.details or {})
        details.pop("redirect_url", None)
        if isinstance(details.get("items"), list):
            details["items"] = [
                {**item, "participant": names.get(str(item.get("participant")), "-")}
                if isinstance(item, dict) and "participant" in item
                else item
                for item in details["items"]
            ]
        ticket = details.get("ticket")
        if isinstance(ticket, dict) and isinstance(ticket.get("provider"), dict):
            provider = {k: v for k, v in ticket["provider"].items() if k != "bank_data"}
            details["ticket"] = {**ticket, "provider": provider}
        payment.details = details
    if not references:
        return
    transactions = await db.scalars(
        select(SandboxTransaction).where(SandboxTransaction.reference.in_(references))
    )
    for transaction in transactions:
        transaction.items = [_replace_names(str(line), names) for line in transaction.items or []]


async def _pseudonymise_staff_records(
    db: AsyncSession, household_id: int, pseudonym: str, names: dict[str, str]
) -> None:
    """Invoices stay (accounting) under the pseudonym, the children's names out of their lines;
    the staff audit keeps who did what and when, not what it said of the household."""
    # Issued invoices never change through the ORM (a credit note corrects them): erasure is
    # the one exception, by statement.
    invoices = (
        await db.execute(
            select(Invoice.id, Invoice.lines).where(Invoice.household_id == household_id)
        )
    ).all()
    for invoice_id, lines in invoices:
        pseudonymised = [
            {
                key: _replace_names(value, names) if isinstance(value, str) else value
                for key, value in line.items()
            }
            if isinstance(line, dict)
            else line
            for line in lines or []
        ]
        await db.execute(
            update(Invoice)
            .where(Invoice.id == invoice_id)
            .values(household_name=pseudonym, household_reference=pseudonym, lines=pseudonymised)
            .execution_options(synchronize_session=False)
        )
    # Append-only rows: likewise, by a statement.
    await db.execute(
        update(StaffAudit)
        .where(StaffAudit.household_id == household_id)
        .values(data={})
        .execution_options(synchronize_session=False)
    )


def _replace_names(text: str, names: dict[str, str]) -> str:
    for name, pseudonym in sorted(names.items(), key=lambda item: -len(item[0])):
        if name:
            text = text.replace(name, pseudonym)
    return text

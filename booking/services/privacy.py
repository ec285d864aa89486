"""Personal data (RGPD): everything held about a household as JSON (the right of access),
and the retention sweep that forgets old conversations, messages and notifications.

Erasure lives in `booking.services.erasure`; docs/privacy.md tells the town's DPO what is
held, why and for how long.
"""

from __future__ import annotations

import json
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, joinedload

from booking.models import (
    AccountToken,
    Activity,
    Attendance,
    Basket,
    Booking,
    BookingEvent,
    BusStop,
    Conversation,
    Dossier,
    Enrolment,
    Guardian,
    Household,
    Invoice,
    LedgerEntry,
    LinkCode,
    OutboxMessage,
    OutboxState,
    Participant,
    Payment,
    PaymentState,
    PushedMessage,
    Session,
    StaffAudit,
    Wallet,
    WalletKind,
)
from booking.money import format_cents
from booking.services.account_tokens import purge_tokens
from booking.services.accounts import find_guardian
from booking.services.login_throttles import purge_login_throttles
from booking.services.receipts import receipt_data
from booking.services.telegram_updates import purge_telegram_updates

FORMAT = "ribambelle-household-export/1"
#: Sections of the export, by the table they come from (tests/integration/test_privacy.py
#: checks that every table holding a household's data is one of them).
SECTIONS = {
    "households": "household",
    "guardians": "guardians",
    "participants": "participants",
    "dossiers": "dossiers",
    "enrolments": "enrolments",
    "baskets": "baskets",
    "bookings": "bookings",
    "booking_events": "booking_events",
    "payments": "payments",
    "wallets": "wallets",
    "ledger_entries": "ledger_entries",
    "conversations": "conversations",
    "pushed_messages": "pushed_messages",
    "outbox": "outbox",
    "account_tokens": "account_tokens",
    "link_codes": "link_codes",
    "attendance": "attendance",
    "invoices": "invoices",
    "staff_audit": "staff_audit",
}
NOTES = {
    "password": "Passwords are held only as an argon2id hash, which is not exported.",
    "tokens": "One-time links and codes are held only as a hash, which is not exported.",
    "money": "Amounts are integer cents (`*_cents`) with the formatted amount beside them; "
    "coupons are whole units.",
    "instants": "Instants are ISO 8601 in the town's time zone, with their offset.",
    "conversations": "A conversation's state is shown without its button table and its "
    "secrets; a web chat's key is a hash of its cookie and is not exported.",
    "receipts": "Receipts are the payments received, listed again under `receipts`.",
}
#: State keys of a conversation never exported: the button table (opaque payloads) and the
#: question in progress, which may hold a new password's hash.
_STATE_HIDDEN = ("nonce", "buttons", "question")
_SECRET_WORDS = ("hash", "password", "token", "secret")


# --- Export ------------------------------------------------------------------------------


async def household_of_login(db: AsyncSession, login: str) -> Household | None:
    """The household of a guardian's login (any case), with its structure."""
    guardian = await find_guardian(db, login)
    if guardian is None:
        return None
    return await _household(db, guardian.household_id)


async def _household(db: AsyncSession, household_id: int) -> Household | None:
    return await db.scalar(
        select(Household)
        .where(Household.id == household_id)
        .options(joinedload(Household.structure))
    )


@dataclass
class _Writer:
    """Turns values into the export's plain JSON: local ISO instants, cents with their text."""

    tz: ZoneInfo
    locale: str

    def instant(self, value: datetime | None) -> str | None:
        return value.astimezone(self.tz).isoformat(timespec="seconds") if value else None

    def day(self, value: date | None) -> str | None:
        return value.isoformat() if value is not None else None

    def money(self, cents: int | None) -> str | None:
        return format_cents(cents, self.locale) if cents is not None else None

    def amount(self, wallet: WalletKind, amount: int) -> dict[str, Any]:
        if wallet is WalletKind.COUPONS:
            return {"coupons": amount}
        return {"amount_cents": amount, "amount": self.money(amount)}


def _public_state(value: Any) -> Any:
    """A conversation's state without secrets (any key naming a hash, password, token…)."""
    if isinstance(value, dict):
        return {
            key: _public_state(item)
            for key, item in value.items()
            if not any(word in str(key).lower() for word in _SECRET_WORDS)
        }
    if isinstance(value, list):
        return [_public_state(item) for item in value]
    return value


def household_conversations(household_id: int, guardian_ids: list[int]) -> ColumnElement[bool]:
    """Conversations logged in to the household, or whose history is the household's."""
    return or_(
        Conversation.household_id == household_id,
        Conversation.guardian_id.in_(guardian_ids),
        Conversation.history_household_id == household_id,
    )


async def export_household(db: AsyncSession, household_id: int, now: datetime) -> dict[str, Any]:
    """Everything held about a household, as plain JSON values (the right of access).

    Sections are named after the tables they come from (`SECTIONS`); nothing of another
    household is in it: a conversation's messages come only from the household's own part of
    its history (since its last login). Password and token hashes are never exported.

    Raises:
        LookupError: no such household.
    """
    household = await _household(db, household_id)
    if household is None:
        raise LookupError(household_id)
    w = _Writer(
        ZoneInfo(household.structure.timezone),
        household.language if household.language in ("fr", "en") else "fr",
    )
    guardians = list(
        await db.scalars(
            select(Guardian).where(Guardian.household_id == household_id).order_by(Guardian.id)
        )
    )
    guardian_ids = [guardian.id for guardian in guardians]
    participants = list(
        await db.scalars(
            select(Participant)
            .where(Participant.household_id == household_id)
            .order_by(Participant.id)
        )
    )
    participant_ids = [participant.id for participant in participants]
    payments = list(
        await db.scalars(
            select(Payment).where(Payment.household_id == household_id).order_by(Payment.id)
        )
    )
    return {
        "format": FORMAT,
        "generated_at": w.instant(now),
        "notes": NOTES,
        "structure": {"name": household.structure.name, "slug": household.structure.slug},
        "household": {
            "id": household.id,
            "reference": household.reference,
            "name": household.name,
            "group": household.group,
            "family_quotient": household.family_quotient,
            "emails": household.email_list,
            "language": household.language,
            "notify_channels": list(household.notify_channels or []),
            "erased_at": w.instant(household.erased_at),
        },
        "guardians": [
            {
                "id": guardian.id,
                "login": guardian.login,
                "first_name": guardian.first_name,
                "last_name": guardian.last_name,
                "email": guardian.email,
                "phone": guardian.phone,
                "language": guardian.language,
                "password": "held hashed (argon2id), not exported",
                "must_change_password": guardian.must_change_password,
                "terms_accepted_at": w.instant(guardian.terms_accepted_at),
                "failed_logins": guardian.failed_logins,
                "locked_until": w.instant(guardian.locked_until),
            }
            for guardian in guardians
        ],
        "participants": [
            {
                "id": participant.id,
                "first_name": participant.first_name,
                "last_name": participant.last_name,
                "birth_date": w.day(participant.birth_date),
                "school_class": participant.school_class,
            }
            for participant in participants
        ],
        "dossiers": await _dossiers(db, w, participant_ids),
        "enrolments": await _enrolments(db, w, participant_ids),
        "baskets": await _baskets(db, w, household_id),
        "bookings": await _bookings(db, w, household_id),
        "booking_events": await _events(db, w, household_id),
        "payments": [_payment(w, payment) for payment in payments],
        "receipts": [
            {**receipt_data(payment), "amount": w.money(payment.amount_cents)}
            for payment in payments
            if payment.state is PaymentState.PAID and payment.receipt_number is not None
        ],
        **await _money(db, w, household_id),
        **await _conversations(db, w, household_id, guardian_ids),
        "outbox": await _outbox(db, w, household_id),
        **await _staff_records(db, w, household_id),
        "account_tokens": [
            {
                "id": token.id,
                "guardian_id": token.guardian_id,
                "purpose": token.purpose,
                "data": token.data,
                "created_at": w.instant(token.created_at),
                "expires_at": w.instant(token.expires_at),
                "used_at": w.instant(token.used_at),
            }
            for token in await db.scalars(
                select(AccountToken)
                .where(AccountToken.guardian_id.in_(guardian_ids))
                .order_by(AccountToken.id)
            )
        ],
        "link_codes": [
            {
                "id": code.id,
                "guardian_id": code.guardian_id,
                "created_at": w.instant(code.created_at),
                "expires_at": w.instant(code.expires_at),
                "used_at": w.instant(code.used_at),
            }
            for code in await db.scalars(
                select(LinkCode).where(LinkCode.guardian_id.in_(guardian_ids)).order_by(LinkCode.id)
            )
        ],
    }


def export_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


async def _staff_records(db: AsyncSession, w: _Writer, household_id: int) -> dict[str, list]:
    """What the town's staff recorded: attendance, invoices, and their changes to the household."""
    attendance = await db.scalars(
        select(Attendance).where(Attendance.household_id == household_id).order_by(Attendance.id)
    )
    invoices = await db.scalars(
        select(Invoice).where(Invoice.household_id == household_id).order_by(Invoice.id)
    )
    audit = await db.scalars(
        select(StaffAudit).where(StaffAudit.household_id == household_id).order_by(StaffAudit.id)
    )
    return {
        "attendance": [
            {
                "booking_id": row.booking_id,
                "session_id": row.session_id,
                "participant_id": row.participant_id,
                "status": row.status.value,
                "marked_at": w.instant(row.marked_at),
            }
            for row in attendance
        ],
        "invoices": [
            {
                "number": invoice.number,
                "kind": invoice.kind.value,
                "month": f"{invoice.year:04d}-{invoice.month:02d}",
                "household_name": invoice.household_name,
                "lines": invoice.lines,
                "total_cents": invoice.total_cents,
                "total": w.money(invoice.total_cents),
                "issued_at": w.instant(invoice.issued_at),
                "sent_at": w.instant(invoice.sent_at),
            }
            for invoice in invoices
        ],
        "staff_audit": [
            {"at": w.instant(row.at), "action": row.action, "target": row.target, "data": row.data}
            for row in audit
        ],
    }


async def _dossiers(db: AsyncSession, w: _Writer, participant_ids: list[int]) -> list[dict]:
    dossiers = await db.scalars(
        select(Dossier).where(Dossier.participant_id.in_(participant_ids)).order_by(Dossier.id)
    )
    return [
        {
            "id": dossier.id,
            "participant_id": dossier.participant_id,
            "missing_items": list(dossier.missing_items or []),
            "notes": dossier.notes,
            "refusal_reason": dossier.refusal_reason,
            "validated_at": w.instant(dossier.validated_at),
            "complete": dossier.is_complete,
        }
        for dossier in dossiers
    ]


async def _enrolments(db: AsyncSession, w: _Writer, participant_ids: list[int]) -> list[dict]:
    rows = await db.execute(
        select(Enrolment, Activity.code, Activity.name)
        .join(Activity, Activity.id == Enrolment.activity_id)
        .where(Enrolment.participant_id.in_(participant_ids))
        .order_by(Enrolment.id)
    )
    return [
        {
            "id": enrolment.id,
            "participant_id": enrolment.participant_id,
            "activity_code": code,
            "activity": name,
            "status": enrolment.status.value,
            "requested_at": w.instant(enrolment.requested_at),
            "decided_at": w.instant(enrolment.decided_at),
            "refusal_reason": enrolment.refusal_reason,
        }
        for enrolment, code, name in rows
    ]


async def _baskets(db: AsyncSession, w: _Writer, household_id: int) -> list[dict]:
    baskets = await db.scalars(
        select(Basket).where(Basket.household_id == household_id).order_by(Basket.id)
    )
    return [
        {
            "id": basket.id,
            "state": basket.state.value,
            "created_at": w.instant(basket.created_at),
            "closed_at": w.instant(basket.closed_at),
        }
        for basket in baskets
    ]


async def _bookings(db: AsyncSession, w: _Writer, household_id: int) -> list[dict]:
    rows = await db.execute(
        select(Booking, Session, Activity.code, Activity.name, BusStop.name)
        .join(Session, Session.id == Booking.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .outerjoin(BusStop, BusStop.id == Booking.bus_stop_id)
        .where(Booking.household_id == household_id)
        .order_by(Session.starts_at, Booking.id)
    )
    return [
        {
            "id": booking.id,
            "participant_id": booking.participant_id,
            "activity_code": code,
            "activity": name,
            "session_id": session.id,
            "day": w.day(session.day),
            "starts_at": w.instant(session.starts_at),
            "ends_at": w.instant(session.ends_at),
            "state": booking.state.value,
            "price_cents": booking.price_cents,
            "price": w.money(booking.price_cents),
            "coupons": booking.coupons,
            "supplements": list(booking.supplement_codes or []),
            "bus_stop": stop,
            "basket_id": booking.basket_id,
            "created_at": w.instant(booking.created_at),
            "held_until": w.instant(booking.held_until),
            "confirmed_at": w.instant(booking.confirmed_at),
            "ended_at": w.instant(booking.ended_at),
        }
        for booking, session, code, name, stop in rows
    ]


async def _events(db: AsyncSession, w: _Writer, household_id: int) -> list[dict]:
    bookings = select(Booking.id).where(Booking.household_id == household_id)
    events = await db.scalars(
        select(BookingEvent)
        .where(
            or_(BookingEvent.household_id == household_id, BookingEvent.booking_id.in_(bookings))
        )
        .order_by(BookingEvent.id)
    )
    return [
        {
            "id": event.id,
            "at": w.instant(event.at),
            "kind": event.kind.value,
            "booking_id": event.booking_id,
            "session_id": event.session_id,
            "actor": event.actor,
            "channel": event.channel.value,
            "data": event.data,
        }
        for event in events
    ]


def _payment(w: _Writer, payment: Payment) -> dict[str, Any]:
    # The provider's page address may be a bearer link: it stays out, like the link's token.
    details = {
        key: value for key, value in (payment.details or {}).items() if key != "redirect_url"
    }
    return {
        "id": payment.id,
        "purpose": payment.purpose.value,
        "state": payment.state.value,
        "amount_cents": payment.amount_cents,
        "amount": w.money(payment.amount_cents),
        "coupons": payment.coupons,
        "currency": payment.currency,
        "provider": payment.provider,
        "provider_reference": payment.provider_reference,
        "receipt_number": payment.receipt_number,
        "refund_of_id": payment.refund_of_id,
        "created_at": w.instant(payment.created_at),
        "expires_at": w.instant(payment.expires_at),
        "settled_at": w.instant(payment.settled_at),
        "details": details,
    }


async def _money(db: AsyncSession, w: _Writer, household_id: int) -> dict[str, list[dict]]:
    wallets = list(
        await db.scalars(
            select(Wallet).where(Wallet.household_id == household_id).order_by(Wallet.id)
        )
    )
    kinds = {wallet.id: wallet.kind for wallet in wallets}
    entries = await db.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.wallet_id.in_(list(kinds)))
        .order_by(LedgerEntry.at, LedgerEntry.id)
    )
    return {
        "wallets": [
            {
                "id": wallet.id,
                "kind": wallet.kind.value,
                **{
                    f"balance_{key}" if key != "coupons" else key: value
                    for key, value in w.amount(wallet.kind, wallet.balance).items()
                },
            }
            for wallet in wallets
        ],
        "ledger_entries": [
            {
                "id": entry.id,
                "wallet_id": entry.wallet_id,
                "wallet": kinds[entry.wallet_id].value,
                "at": w.instant(entry.at),
                "kind": entry.kind.value,
                **w.amount(kinds[entry.wallet_id], entry.amount),
                "label": entry.label,
                "booking_id": entry.booking_id,
                "payment_id": entry.payment_id,
            }
            for entry in entries
        ],
    }


async def _conversations(
    db: AsyncSession, w: _Writer, household_id: int, guardian_ids: list[int]
) -> dict[str, list[dict]]:
    conversations = list(
        await db.scalars(
            select(Conversation)
            .where(household_conversations(household_id, guardian_ids))
            .order_by(Conversation.id)
        )
    )
    # Only the household's part of a history: a shared tablet's earlier messages are
    # another family's.
    own = [c.id for c in conversations if c.history_household_id == household_id]
    messages = await db.scalars(
        select(PushedMessage)
        .join(Conversation, Conversation.id == PushedMessage.conversation_id)
        .where(
            PushedMessage.conversation_id.in_(own),
            PushedMessage.message_id >= Conversation.history_from,
        )
        .order_by(PushedMessage.conversation_id, PushedMessage.message_id)
    )
    return {
        "conversations": [
            {
                "id": conversation.id,
                "channel": conversation.channel,
                "telegram_chat": conversation.key if conversation.channel == "telegram" else None,
                "logged_in": conversation.household_id == household_id,
                "guardian_id": conversation.guardian_id,
                "created_at": w.instant(conversation.created_at),
                "last_used_at": w.instant(conversation.updated_at),
                "blocked_at": w.instant(conversation.blocked_at),
                "state": _public_state(
                    {
                        key: value
                        for key, value in (conversation.state or {}).items()
                        if key not in _STATE_HIDDEN
                    }
                ),
            }
            for conversation in conversations
        ],
        "pushed_messages": [
            {
                "id": message.id,
                "conversation_id": message.conversation_id,
                "message_id": message.message_id,
                "kind": message.kind.value,
                "created_at": w.instant(message.created_at),
                "body": message.body,
            }
            for message in messages
        ],
    }


async def _outbox(db: AsyncSession, w: _Writer, household_id: int) -> list[dict]:
    rows = await db.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.household_id == household_id)
        .order_by(OutboxMessage.id)
    )
    return [
        {
            "id": row.id,
            "kind": row.kind.value,
            "channel": row.channel,
            "address": row.address,
            "locale": row.locale,
            "state": row.state.value,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "created_at": w.instant(row.created_at),
            "sent_at": w.instant(row.sent_at),
            "data": row.data,
        }
        for row in rows
    ]


def count_of(result: Any) -> int:
    """Rows a DELETE or UPDATE touched (0 where the driver cannot tell)."""
    return max(result.rowcount or 0, 0)


async def delete_hidden_messages(db: AsyncSession, batch: int | None = None) -> int:
    """Delete messages no conversation shows anymore: those before its history's start,
    which moves at each login and logout (another family's, on a shared tablet)."""
    hidden = PushedMessage.message_id < (
        select(Conversation.history_from)
        .where(Conversation.id == PushedMessage.conversation_id)
        .scalar_subquery()
    )
    if batch is None:
        return count_of(await db.execute(delete(PushedMessage).where(hidden)))
    return await _delete_batch(db, PushedMessage.id, hidden, batch)


# --- Retention ---------------------------------------------------------------------------

#: Rows deleted per table and per transaction: the sweep never holds a lock for long.
PURGE_BATCH = 500
#: Used or expired one-time links and codes are kept this long (a parent asking "why did my
#: link not work?" the same day); so are login counts left alone (longer than any count is
#: remembered, booking.services.accounts).
KEEP_SPENT = timedelta(days=1)


def months_before(now: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (the 31st becomes the month's last)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return now.replace(year=year, month=month, day=min(now.day, monthrange(year, month)[1]))


async def _delete_batch(
    db: AsyncSession, key: InstrumentedAttribute, condition: ColumnElement[bool], batch: int
) -> int:
    """Delete at most `batch` rows matching `condition`, skipping rows another process holds."""
    ids = list(
        await db.scalars(
            select(key)
            .where(condition)
            .order_by(key)
            .limit(batch)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
        )
    )
    if not ids:
        return 0
    result = await db.execute(
        delete(key.class_)
        .where(key.in_(ids), condition)
        .execution_options(synchronize_session=False)
    )
    return count_of(result)


async def purge_expired_personal_data(
    db: AsyncSession, now: datetime, retention: int, *, batch: int = PURGE_BATCH
) -> dict[str, int]:
    """One batch of the retention sweep; returns how many rows went, per kind.

    Rules: messages kept for the web chat older than `retention` months go; a conversation
    whose last turn is older goes with its messages (a parent back after that logs in again);
    delivered, skipped and dead notifications older go; messages no conversation shows
    anymore go; one-time links and codes used or expired a day ago go; login counts left
    alone for a day go (they hold client addresses); Telegram update ids go after a week.
    Each kind deletes at most `batch` rows (the small tables of links, login counts and
    update ids at once): the caller commits and calls again while `more_to_purge`.
    Idempotent, and two processes at once skip each other's rows.

    Args:
        db: a write transaction.
        now: the sweep's clock.
        retention: months kept (RIBAMBELLE_RETENTION_MONTHS).
        batch: rows per kind in this call.
    """
    cutoff = months_before(now, retention)
    spent = now - KEEP_SPENT
    counts = {
        "pushed_messages": await _delete_batch(
            db, PushedMessage.id, PushedMessage.created_at < cutoff, batch
        ),
        "hidden_messages": await delete_hidden_messages(db, batch),
    }
    idle = list(
        await db.scalars(
            select(Conversation.id)
            .where(Conversation.updated_at < cutoff)
            .order_by(Conversation.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    if idle:
        counts["pushed_messages"] += count_of(
            await db.execute(delete(PushedMessage).where(PushedMessage.conversation_id.in_(idle)))
        )
    counts["conversations"] = (
        count_of(
            await db.execute(
                delete(Conversation)
                .where(Conversation.id.in_(idle), Conversation.updated_at < cutoff)
                .execution_options(synchronize_session=False)
            )
        )
        if idle
        else 0
    )
    done = (OutboxState.SENT, OutboxState.SKIPPED, OutboxState.DEAD)
    counts["outbox"] = await _delete_batch(
        db,
        OutboxMessage.id,
        OutboxMessage.state.in_(done) & (OutboxMessage.created_at < cutoff),
        batch,
    )
    counts["account_tokens"] = await purge_tokens(db, now, KEEP_SPENT)
    counts["link_codes"] = await _delete_batch(
        db, LinkCode.id, or_(LinkCode.expires_at < spent, LinkCode.used_at < spent), batch
    )
    counts["login_throttles"] = await purge_login_throttles(db, now, KEEP_SPENT)
    counts["telegram_updates"] = await purge_telegram_updates(db, now)
    return counts


def more_to_purge(counts: dict[str, int], batch: int = PURGE_BATCH) -> bool:
    """Whether a batch was full, so that another may find more."""
    return any(count >= batch for count in counts.values())

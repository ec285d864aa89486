"""Wallets: prepaid euros, coupons and the invoice account, moved only through the ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import LedgerEntry, LedgerKind, Wallet, WalletKind
from booking.refusals import Refusal, Refused


async def get_wallet(db: AsyncSession, household_id: int, kind: WalletKind) -> Wallet:
    """The household's wallet of that kind, created empty on first use."""
    wallet = await db.scalar(
        select(Wallet).where(Wallet.household_id == household_id, Wallet.kind == kind)
    )
    if wallet is None:
        wallet = Wallet(household_id=household_id, kind=kind, balance=0)
        db.add(wallet)
        await db.flush()
    return wallet


async def post_entry(
    db: AsyncSession,
    *,
    household_id: int,
    kind: WalletKind,
    amount: int,
    entry_kind: LedgerKind,
    at: datetime,
    label: str = "",
    booking_id: int | None = None,
    payment_id: int | None = None,
) -> LedgerEntry:
    """Append a ledger entry and move the balance with it, atomically.

    Rules: a prepaid wallet (euros, coupons) never goes below zero; a debit that would is
    refused with the current balance. The invoice account may go negative (money owed).
    """
    wallet = await get_wallet(db, household_id, kind)
    condition = Wallet.id == wallet.id
    if kind is not WalletKind.ACCOUNT and amount < 0:
        condition = condition & (Wallet.balance + amount >= 0)
    new_balance = await db.scalar(
        update(Wallet)
        .where(condition)
        .values(balance=Wallet.balance + amount)
        .returning(Wallet.balance)
    )
    if new_balance is None:
        await db.refresh(wallet)
        raise Refused(
            Refusal.INSUFFICIENT_BALANCE, wallet=kind.value, balance=wallet.balance, needed=-amount
        )
    wallet.balance = new_balance
    entry = LedgerEntry(
        wallet_id=wallet.id,
        at=at,
        kind=entry_kind,
        amount=amount,
        label=label,
        booking_id=booking_id,
        payment_id=payment_id,
    )
    db.add(entry)
    return entry


async def balances(db: AsyncSession, household_id: int) -> dict[WalletKind, int]:
    rows = await db.execute(
        select(Wallet.kind, Wallet.balance).where(Wallet.household_id == household_id)
    )
    found = {kind: balance for kind, balance in rows}
    return {kind: found.get(kind, 0) for kind in WalletKind}


async def amount_owed(db: AsyncSession, household_id: int) -> int:
    """What the household owes the town (a negative invoice account), in cents."""
    balance = await db.scalar(
        select(Wallet.balance).where(
            Wallet.household_id == household_id, Wallet.kind == WalletKind.ACCOUNT
        )
    )
    return max(0, -(balance or 0))

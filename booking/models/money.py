"""Wallets with their append-only ledgers, and payment records."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from booking.models.base import AppendOnly, Base, enum_column


class WalletKind(enum.StrEnum):
    EUROS = "euros"  # prepaid porte-monnaie, in cents
    COUPONS = "coupons"  # coupons, in units
    ACCOUNT = "account"  # the invoice account: negative balance = owed to the town, in cents


class Wallet(Base):
    """A household balance; `balance` always equals the sum of its ledger entries."""

    __tablename__ = "wallets"
    __table_args__ = (UniqueConstraint("household_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    kind: Mapped[WalletKind] = mapped_column(enum_column(WalletKind))
    balance: Mapped[int] = mapped_column(Integer, default=0)


class LedgerKind(enum.StrEnum):
    TOP_UP = "top_up"
    DEBIT = "debit"
    REFUND = "refund"
    INVOICE = "invoice"
    PAYMENT = "payment"
    ADJUSTMENT = "adjustment"
    PAYOUT = "payout"  # money sent back to the payer's card by the provider


class LedgerEntry(AppendOnly, Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[LedgerKind] = mapped_column(enum_column(LedgerKind))
    amount: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200), default="")
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), nullable=True)


class PaymentState(enum.StrEnum):
    CREATED = "created"
    PAID = "paid"
    REFUSED = "refused"
    ABANDONED = "abandoned"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class PaymentPurpose(enum.StrEnum):
    BASKET = "basket"
    TOP_UP = "top_up"
    DEBT = "debt"
    REFUND = "refund"  # money to send back through the provider (a cancellation)


class Payment(Base):
    """A payment asked of a household through a provider, applied exactly once.

    `token` is the secret of the payment link (/pay/<token>); `provider_reference` is the
    provider's id for it (the sandbox's reference, PayFiP's idop), set when the link is opened.
    A refund through the provider is a row of purpose `refund` pointing at the payment it
    gives back (`refund_of_id`).
    """

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    basket_id: Mapped[int | None] = mapped_column(ForeignKey("baskets.id"), nullable=True)
    purpose: Mapped[PaymentPurpose] = mapped_column(enum_column(PaymentPurpose))
    amount_cents: Mapped[int] = mapped_column(Integer)
    coupons: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    provider: Mapped[str] = mapped_column(String(32), default="sandbox")
    provider_reference: Mapped[str | None] = mapped_column(String(128), unique=True)
    state: Mapped[PaymentState] = mapped_column(
        enum_column(PaymentState), default=PaymentState.CREATED
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    receipt_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    token: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    refund_of_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), nullable=True)


class SandboxTransaction(Base):
    """The built-in sandbox provider's own books: what a real provider keeps on its side."""

    __tablename__ = "sandbox_transactions"

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    merchant: Mapped[str] = mapped_column(String(200))
    items: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    refunded_cents: Mapped[int] = mapped_column(Integer, default=0)
    notify_url: Mapped[str] = mapped_column(String(500))
    return_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)

"""The payment provider interface: what the domain needs from a hosted payment service.

Adapters live in `bot/payments/` (the built-in sandbox, eopayment for PayFiP and the other
French providers). A provider's notification is only a trigger: the domain always asks the
provider for the payment's state (`status`) before it applies anything.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ProviderState(enum.StrEnum):
    PAID = "paid"
    REFUSED = "refused"  # the card was refused
    ABANDONED = "abandoned"  # the payer gave up on the payment page
    PENDING = "pending"  # not known yet: the payer may still be paying
    EXPIRED = "expired"  # the provider forgot it or will never see it paid


@dataclass(frozen=True)
class PaymentOrder:
    """What to ask the provider for: one payment of one household."""

    order_id: str  # our short id, e.g. "RIB000042"; alphanumeric (PayFiP's refdet)
    amount_cents: int
    currency: str
    merchant: str  # the town, shown on the payment page
    items: list[str]  # one line per item, shown on the payment page
    email: str | None
    notify_url: str
    return_url: str
    created_at: datetime
    settings: Mapping[str, Any] = field(default_factory=dict)  # the structure's own options


@dataclass(frozen=True)
class ProviderRedirect:
    reference: str  # the provider's id of this payment
    url: str  # where to send the payer


@dataclass(frozen=True)
class ProviderStatus:
    state: ProviderState
    amount_cents: int | None = None  # as the provider saw it paid (None when it does not say)
    currency: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # kept for the staff, logged


class ProviderError(Exception):
    """The provider did not answer, or answered an error: try again later."""


class RefundNotSupported(ProviderError):
    """This provider (or this configuration) cannot send money back."""


class PaymentProvider(Protocol):
    name: str

    async def create(self, order: PaymentOrder) -> ProviderRedirect: ...

    async def status(
        self, reference: str, *, created_at: datetime, settings: Mapping[str, Any]
    ) -> ProviderStatus: ...

    async def refund(
        self, reference: str, amount_cents: int, *, settings: Mapping[str, Any]
    ) -> None: ...

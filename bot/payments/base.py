"""What a provider adapter adds to `booking.providers.PaymentProvider` for the HTTP side:
reading the provider's notification (which payment it is about, and whether it is genuine)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from booking.providers import PaymentProvider


@dataclass(frozen=True)
class Notification:
    """A provider's call to our notification URL, as received."""

    method: str
    query_string: str
    body: bytes
    headers: Mapping[str, str]


class BadNotification(Exception):
    """Malformed, unsigned where a signature is required, or tampered with: refused (and
    logged). `status` is the HTTP answer: 400 malformed, 403 bad signature."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Providers:
    """The provider adapters this process can talk to, by name."""

    def __init__(self) -> None:
        self._providers: dict[str, PaymentProvider] = {}

    def register(self, provider: PaymentProvider) -> None:
        self._providers[provider.name] = provider

    def get(self, name: str) -> PaymentProvider | None:
        return self._providers.get(name)

"""Process settings, read from the environment once at start-up."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from booking.db import DEFAULT_DATABASE_URL

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "*"})  # listen on every interface


def served_url(host: str, port: int) -> str:
    """The address a browser on this machine opens for a server listening on host:port.

    Every-interface hosts (0.0.0.0, ::) have no address of their own: the loopback stands in.
    """
    if host in WILDCARD_HOSTS:
        host = "::1" if host == "::" else DEFAULT_HOST
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and literal.version == 6:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def trusted_proxies(listed: str) -> frozenset[str]:
    """The comma-separated proxy addresses of RIBAMBELLE_TRUSTED_PROXIES, normalised (a typo
    is an error at start-up, not a proxy silently distrusted)."""
    return frozenset(
        str(ipaddress.ip_address(part.strip())) for part in listed.split(",") if part.strip()
    )


def parse_retention_months(value: str) -> int:
    """RIBAMBELLE_RETENTION_MONTHS: a whole number of months, at least one (a typo is an
    error at start-up, not a sweep that deletes today's conversations)."""
    months = int(value)
    if months < 1:
        raise ValueError(f"RIBAMBELLE_RETENTION_MONTHS must be at least 1, not {months}")
    return months


@dataclass(frozen=True)
class Settings:
    """Every `RIBAMBELLE_*` variable the product reads (listed in the README)."""

    database_url: str = DEFAULT_DATABASE_URL
    now: str | None = None
    public_url: str = served_url(DEFAULT_HOST, DEFAULT_PORT)
    public_url_given: bool = False  # RIBAMBELLE_PUBLIC_URL was set: never derived
    telegram_token: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_max_rate: float = 30.0  # messages per second overall (Telegram's limit)
    telegram_chat_rate: float = 1.0  # messages per second to one chat
    smtp_url: str | None = None
    payment_secret: str | None = None
    payment_sandbox: bool = False  # mount the test-card sandbox even where no town asks for it
    sweep_seconds: float = 30.0
    payment_check_seconds: float = 30.0
    outbox_seconds: float = 5.0
    chat_turns_per_second: float = 5.0
    chat_burst: int = 15
    new_chats_per_minute: int = 60
    chat_idle_days: float = 30.0  # a logged-in web conversation idle longer is logged out
    trusted_proxies: frozenset[str] = frozenset()  # peers whose X-Forwarded-For is believed
    sockets_per_address: int = 20
    sockets_per_conversation: int = 8
    staff_idle_minutes: float = 60.0  # a back-office session unused longer is logged out
    retention_months: int = 13  # conversations, messages and notifications kept (privacy.md)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"RIBAMBELLE_{name}", "").strip()
            return value or None

        return cls(
            database_url=get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            now=get("NOW"),
            public_url=(get("PUBLIC_URL") or served_url(DEFAULT_HOST, DEFAULT_PORT)).rstrip("/"),
            public_url_given=get("PUBLIC_URL") is not None,
            telegram_token=get("TELEGRAM_TOKEN"),
            telegram_webhook_url=get("TELEGRAM_WEBHOOK_URL"),
            telegram_webhook_secret=get("TELEGRAM_WEBHOOK_SECRET"),
            telegram_api_url=get("TELEGRAM_API_URL") or "https://api.telegram.org/bot",
            telegram_max_rate=float(get("TELEGRAM_MAX_RATE") or 30),
            telegram_chat_rate=float(get("TELEGRAM_CHAT_RATE") or 1),
            smtp_url=get("SMTP_URL"),
            payment_secret=get("PAYMENT_SECRET"),
            payment_sandbox=(get("PAYMENT_SANDBOX") or "").lower() in {"1", "true", "yes", "on"},
            sweep_seconds=float(get("SWEEP_SECONDS") or 30),
            payment_check_seconds=float(get("PAYMENT_CHECK_SECONDS") or 30),
            outbox_seconds=float(get("OUTBOX_SECONDS") or 5),
            chat_turns_per_second=float(get("CHAT_TURNS_PER_SECOND") or 5),
            chat_burst=int(get("CHAT_BURST") or 15),
            new_chats_per_minute=int(get("NEW_CHATS_PER_MINUTE") or 60),
            chat_idle_days=float(get("CHAT_IDLE_DAYS") or 30),
            trusted_proxies=trusted_proxies(get("TRUSTED_PROXIES") or ""),
            sockets_per_address=int(get("SOCKETS_PER_ADDRESS") or 20),
            sockets_per_conversation=int(get("SOCKETS_PER_CONVERSATION") or 8),
            staff_idle_minutes=float(get("STAFF_IDLE_MINUTES") or 60),
            retention_months=parse_retention_months(get("RETENTION_MONTHS") or "13"),
            environ={k: v for k, v in env.items() if k.startswith("RIBAMBELLE_")},
        )

    def served_at(self, host: str, port: int) -> Settings:
        """These settings for a server listening on host:port: without RIBAMBELLE_PUBLIC_URL,
        payment links and notifications point to that address (see `served_url`)."""
        if self.public_url_given:
            return self
        return replace(self, public_url=served_url(host, port))

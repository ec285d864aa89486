"""Security records: login throttles per client address, one-time account links (password
reset, e-mail change, data export), and the Telegram updates already handled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from booking.models.base import Base


class LoginThrottle(Base):
    """Wrong passwords in a row from one client address, whatever the logins tried.

    Shared by every server process (a table, not a dict): a prober spreading its tries over
    processes or logins still waits. `key` is the address (or a channel's stand-in for one).
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]


class AccountToken(Base):
    """A one-time link sent to a guardian: only the token's hash is stored.

    `purpose` is "password_reset", "email_change" or "data_export"; `data` holds what the
    link confirms (the new e-mail addresses). Used once (`used_at`), valid until `expires_at`.
    """

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    guardian_id: Mapped[int] = mapped_column(ForeignKey("guardians.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class TelegramUpdate(Base):
    """A Telegram update already taken in: a webhook retry or a second process drops it."""

    __tablename__ = "telegram_updates"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime] = mapped_column(index=True)

"""The outbox worker: claims due notifications, delivers them, retries, dead-letters.

Claiming takes rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL (two workers never take the
same row) and marks them with a lease (`claimed_until`): a worker that dies mid-delivery
leaves its rows to be taken again once the lease runs out, so nothing is lost; the delivery
key lets the web inbox and e-mail readers drop the repeat. SQLite has one writer at a time,
which serialises the claims the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update

from booking.clock import Clock
from booking.db import Database
from booking.models import (
    Conversation,
    Household,
    Invoice,
    NoticeKind,
    OutboxMessage,
    OutboxState,
    Structure,
)
from booking.services.links import mark_blocked
from booking.services.outbox import ACCOUNT_KINDS
from bot.delivery import Deliveries, DeliveryBlocked, Recipient
from bot.notify.email import Attachment, Email, EmailSender, PermanentEmailError
from bot.staff.invoice_pdf import invoice_pdf, pdf_filename
from dialogs.i18n import Translator
from dialogs.notices import render

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
LEASE = timedelta(minutes=2)
#: A batch stops this long before its lease runs out and hands its other rows back, so that
#: no other worker takes a row this one is still about to send.
LEASE_MARGIN = timedelta(seconds=30)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min… up to an hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def _without_link(row: Claimed) -> dict:
    """Once an account e-mail is done with, its one-time link leaves the outbox: only the
    token's hash stays in the database (`account_tokens`), as for every other token."""
    if row.kind not in ACCOUNT_KINDS or "token" not in row.data:
        return {}
    return {"data": {key: value for key, value in row.data.items() if key != "token"}}


class Undeliverable(Exception):
    """The recipient is gone for good (blocked the bot, conversation removed): skip."""


@dataclass
class Claimed:
    id: int
    household_id: int
    kind: str
    channel: str
    address: str
    locale: str
    data: dict
    delivery_key: str
    attempts: int


class OutboxWorker:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        deliveries: Deliveries,
        *,
        public_url: str,
        mailer: EmailSender | None = None,
        name: str | None = None,
        batch: int = 50,
        budget: float = (LEASE - LEASE_MARGIN).total_seconds(),
    ) -> None:
        self.database = database
        self.clock = clock
        self.deliveries = deliveries
        self.public_url = public_url
        self.mailer = mailer
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.batch = batch
        self.budget = budget  # seconds a claimed batch may take before handing the rest back
        self._zones: dict[int, ZoneInfo] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        #: Called after each delivery attempt, for tests (crash injection).
        self.after_delivery: Callable[[Claimed], Awaitable[None]] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                while await self.run_once():
                    pass
            except Exception:
                log.exception("outbox worker %s failed; retrying", self.name)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim a batch of due rows and deliver them; returns how many were claimed."""
        async with self._lock:
            claimed = await self._claim()
            started = time.monotonic()
            for index, row in enumerate(claimed):
                if index and time.monotonic() - started > self.budget:
                    await self._hand_back(claimed[index:])
                    return index
                await self._deliver(row)
            return len(claimed)

    async def _hand_back(self, rows: list[Claimed]) -> None:
        """Release rows not sent in time (a slow relay): any worker may take them now."""
        async with self.database.writing() as db:
            await db.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_([row.id for row in rows]),
                    OutboxMessage.claimed_by == self.name,
                    OutboxMessage.state == OutboxState.PENDING,
                )
                .values(claimed_until=None, claimed_by=None)
            )
        log.info("worker %s handed %d notifications back", self.name, len(rows))

    def _channels(self) -> list[str]:
        return [c for c in ("web", "telegram") if self.deliveries.supports(c)] + ["email"]

    async def _claim(self) -> list[Claimed]:
        now = self.clock.now()
        async with self.database.writing() as db:
            rows = (
                await db.scalars(
                    select(OutboxMessage)
                    .where(
                        # A channel this process cannot reach is left to one that can
                        # (Telegram runs in `serve`, not in `worker`).
                        OutboxMessage.channel.in_(self._channels()),
                        OutboxMessage.state == OutboxState.PENDING,
                        OutboxMessage.next_attempt_at <= now,
                        or_(
                            OutboxMessage.claimed_until.is_(None),
                            OutboxMessage.claimed_until <= now,
                        ),
                    )
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            claimed = []
            for row in rows:
                row.claimed_until = now + LEASE
                row.claimed_by = self.name
                claimed.append(
                    Claimed(
                        row.id,
                        row.household_id,
                        row.kind,
                        row.channel,
                        row.address,
                        row.locale,
                        dict(row.data),
                        row.delivery_key,
                        row.attempts,
                    )
                )
        return claimed

    async def _deliver(self, row: Claimed) -> None:
        try:
            await self._send(row)
        except Undeliverable as gone:
            await self._finish(row, OutboxState.SKIPPED, error=str(gone))
        except PermanentEmailError as refused:
            await self._finish(row, OutboxState.DEAD, error=str(refused))
        except Exception as error:  # a channel down, a timeout: retry later
            log.warning("notification %s (%s) not delivered: %s", row.id, row.channel, error)
            await self._retry(row, error)
        else:
            await self._finish(row, OutboxState.SENT)
        if self.after_delivery is not None:
            await self.after_delivery(row)

    async def _tz(self, household_id: int) -> ZoneInfo:
        if household_id in self._zones:
            return self._zones[household_id]
        if len(self._zones) > 10_000:
            self._zones.clear()
        async with self.database.reading() as db:
            name = await db.scalar(
                select(Structure.timezone)
                .join(Household, Household.structure_id == Structure.id)
                .where(Household.id == household_id)
            )
        zone = self._zones[household_id] = ZoneInfo(name or "Europe/Paris")
        return zone

    async def _send(self, row: Claimed) -> None:
        t = Translator(row.locale)
        rendered = render(row.kind, row.data, t, await self._tz(row.household_id), self.public_url)
        if row.channel == "email":
            if self.mailer is None:
                raise Undeliverable("no SMTP server configured (RIBAMBELLE_SMTP_URL)")
            await self.mailer.send(
                Email(
                    to=row.address.split(";"),
                    subject=rendered.subject,
                    text=rendered.plain(),
                    html=rendered.html(),
                    message_id_key=row.delivery_key,
                    language=row.locale,
                    attachments=await self._attachments(row, t),
                )
            )
            return
        async with self.database.reading() as db:
            conversation = await db.get(Conversation, int(row.address))
        if (
            conversation is None
            or conversation.blocked_at is not None
            or conversation.household_id != row.household_id
        ):
            raise Undeliverable("the conversation is gone or logged out")
        if not self.deliveries.supports(conversation.channel):
            raise RuntimeError(f"channel {conversation.channel} not running in this process")
        recipient = Recipient(conversation.id, conversation.channel, conversation.key, row.locale)
        try:
            await self.deliveries.channel(conversation.channel).send(
                recipient, rendered.reply(row.locale), row.delivery_key
            )
        except DeliveryBlocked:
            async with self.database.writing() as db:
                await mark_blocked(db, conversation.id, self.clock.now())
            raise Undeliverable("the recipient blocked the bot") from None

    async def _attachments(self, row: Claimed, t: Translator) -> list[Attachment]:
        """An invoice's e-mail carries its PDF (the household's own invoice only)."""
        if row.kind != NoticeKind.INVOICE_ISSUED or "invoice_id" not in row.data:
            return []
        async with self.database.reading() as db:
            invoice = await db.get(Invoice, int(row.data["invoice_id"]))
            if invoice is None or invoice.household_id != row.household_id:
                return []
            structure = await db.get(Structure, invoice.structure_id)
            corrects = await db.get(Invoice, invoice.corrects_id) if invoice.corrects_id else None
        content = invoice_pdf(
            invoice,
            town=structure.name if structure else "",
            t=t,
            tz=await self._tz(row.household_id),
            corrects=corrects,
        )
        return [Attachment(pdf_filename(invoice), content, "application/pdf")]

    async def _finish(self, row: Claimed, state: OutboxState, error: str | None = None) -> None:
        async with self.database.writing() as db:
            await db.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.name)
                .values(
                    state=state,
                    sent_at=self.clock.now() if state is OutboxState.SENT else None,
                    attempts=row.attempts + 1,
                    last_error=(error or "")[:500] or None,
                    claimed_until=None,
                    **_without_link(row),
                )
            )
        if state is OutboxState.DEAD:
            log.error("notification %s dead-lettered: %s", row.id, error)

    async def _retry(self, row: Claimed, error: Exception) -> None:
        attempts = row.attempts + 1
        now = self.clock.now()
        dead = attempts >= MAX_ATTEMPTS
        async with self.database.writing() as db:
            await db.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.name)
                .values(
                    state=OutboxState.DEAD if dead else OutboxState.PENDING,
                    attempts=attempts,
                    next_attempt_at=now + backoff(attempts),
                    last_error=f"{type(error).__name__}: {error}"[:500],
                    claimed_until=None,
                    **(_without_link(row) if dead else {}),
                )
            )
        if dead:
            log.error("notification %s dead-lettered after %d attempts", row.id, attempts)


async def retry_dead(database: Database, clock: Clock) -> int:
    """Put dead notifications back in line (after the operator fixed the cause)."""
    async with database.writing() as db:
        result = await db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.DEAD)
            .values(state=OutboxState.PENDING, attempts=0, next_attempt_at=clock.now())
        )
    return result.rowcount


async def outbox_counts(database: Database) -> dict[str, int]:
    """Rows per state, for the operator."""
    from sqlalchemy import func

    async with database.reading() as db:
        rows = await db.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
        )
    return {state.value: count for state, count in rows.all()}

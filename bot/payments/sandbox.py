"""The built-in sandbox provider: a hosted payment page with test cards, for the demo and tests.

It behaves like a real provider: it keeps its own books (`sandbox_transactions`), shows the
payer the town, the items and the amount, and on a decision calls our notification URL with
a signed body (HMAC-SHA256 with `RIBAMBELLE_PAYMENT_SECRET`); the notification is then only
a trigger, the state is read back through `status` like any provider's.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import aiohttp
from aiohttp import web
from sqlalchemy import update

from booking.clock import Clock
from booking.db import Database
from booking.models import SandboxTransaction
from booking.providers import (
    PaymentOrder,
    ProviderError,
    ProviderRedirect,
    ProviderState,
    ProviderStatus,
)
from bot.payments.base import BadNotification, Notification
from dialogs.i18n import Translator

log = logging.getLogger(__name__)

#: Test cards: this one is refused, any other well-formed number is accepted.
REFUSED_CARD = "4000000000000002"
ACCEPTED_CARD = "4242424242424242"
#: A sandbox notification older than this is refused (a replay long after the fact).
NOTIFICATION_MAX_AGE = 3600


def sign(secret: str, reference: str, timestamp: str) -> str:
    return hmac.new(
        secret.encode(), f"{reference}|{timestamp}".encode(), hashlib.sha256
    ).hexdigest()


def decision_token(secret: str, reference: str) -> str:
    """The token the sandbox's own page carries for one payment: knowing a reference alone
    (it travels in URLs and logs) must not be enough to mark a payment paid."""
    return hmac.new(secret.encode(), f"decide|{reference}".encode(), hashlib.sha256).hexdigest()


class SandboxProvider:
    name = "sandbox"

    def __init__(self, database: Database, clock: Clock, public_url: str, secret: str) -> None:
        self.database = database
        self.clock = clock
        self.public_url = public_url.rstrip("/")
        self.secret = secret

    async def create(self, order: PaymentOrder) -> ProviderRedirect:
        reference = "sbx_" + secrets.token_urlsafe(12)
        async with self.database.writing() as db:
            db.add(
                SandboxTransaction(
                    reference=reference,
                    order_id=order.order_id,
                    amount_cents=order.amount_cents,
                    currency=order.currency,
                    merchant=order.merchant[:200],
                    items=list(order.items),
                    state="pending",
                    notify_url=order.notify_url,
                    return_url=order.return_url,
                    created_at=self.clock.now(),
                )
            )
        return ProviderRedirect(reference, f"{self.public_url}/sandbox/pay/{reference}")

    async def status(
        self, reference: str, *, created_at: datetime, settings: Mapping[str, Any]
    ) -> ProviderStatus:
        async with self.database.reading() as db:
            row = await db.get(SandboxTransaction, reference)
        if row is None:
            return ProviderStatus(ProviderState.EXPIRED, details={"reason": "unknown reference"})
        state = (
            ProviderState(row.state)
            if row.state in ProviderState._value2member_map_
            else (ProviderState.PENDING)
        )
        return ProviderStatus(
            state,
            amount_cents=row.amount_cents,
            currency=row.currency,
            details={"reference": reference, "order_id": row.order_id, "card": "test"},
        )

    async def refund(
        self, reference: str, amount_cents: int, *, settings: Mapping[str, Any]
    ) -> None:
        async with self.database.writing() as db:
            done = await db.execute(
                update(SandboxTransaction)
                .where(
                    SandboxTransaction.reference == reference,
                    SandboxTransaction.state == "paid",
                    SandboxTransaction.refunded_cents + amount_cents
                    <= SandboxTransaction.amount_cents,
                )
                .values(refunded_cents=SandboxTransaction.refunded_cents + amount_cents)
            )
            if done.rowcount != 1:
                raise ProviderError(f"sandbox: cannot refund {amount_cents} on {reference}")

    def parse_notification(self, notification: Notification, settings: Mapping[str, Any]) -> str:
        try:
            fields = parse_qs(notification.body.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as error:
            raise BadNotification(f"malformed body: {error}") from None
        reference = (fields.get("reference") or [""])[0]
        timestamp = (fields.get("ts") or [""])[0]
        signature = (fields.get("sig") or [""])[0]
        if not reference or not timestamp.isdigit() or not signature:
            raise BadNotification("missing reference, ts or sig")
        if not hmac.compare_digest(signature, sign(self.secret, reference, timestamp)):
            raise BadNotification("bad signature", status=403)
        if abs(time.time() - int(timestamp)) > NOTIFICATION_MAX_AGE:
            raise BadNotification("notification too old", status=403)
        return reference

    # The hosted page ------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/sandbox/pay/{reference}", self.page),
            web.post("/sandbox/pay/{reference}", self.decide),
        ]

    async def _row(self, reference: str) -> SandboxTransaction:
        async with self.database.reading() as db:
            row = await db.get(SandboxTransaction, reference[:64])
        if row is None:
            raise web.HTTPNotFound(text="Paiement inconnu.")
        return row

    async def page(self, request: web.Request) -> web.Response:
        row = await self._row(request.match_info["reference"])
        t = Translator("fr")
        items = "".join(f"<li>{html.escape(item)}</li>" for item in row.items)
        amount = html.escape(t.money(row.amount_cents))
        if row.state != "pending":
            body = f"<p class='done'>Transaction déjà traitée ({html.escape(row.state)}).</p>"
        else:
            body = f"""
<form method="post">
  <input type="hidden" name="token" value="{decision_token(self.secret, row.reference)}">
  <label>Numéro de carte (test)
    <input name="card" inputmode="numeric" autocomplete="off" value="{ACCEPTED_CARD}"></label>
  <p class="hint">Carte de test acceptée : {ACCEPTED_CARD} ; refusée : {REFUSED_CARD}.</p>
  <button name="decision" value="pay" type="submit">Payer {amount}</button>
  <button name="decision" value="abandon" type="submit" class="secondary">Annuler</button>
</form>"""
        return web.Response(
            content_type="text/html",
            text=f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Paiement — {html.escape(row.merchant)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:1rem auto;padding:0 1rem}}
.banner{{background:#fff3cd;padding:.5rem;border-radius:.3rem}}input{{width:100%;font-size:1.1rem}}
button{{font-size:1.1rem;padding:.6rem 1rem;margin:.5rem .5rem 0 0}}.secondary{{background:#eee}}</style>
</head><body>
<p class="banner">Environnement de test : aucun argent ne circule.</p>
<h1>{html.escape(row.merchant)}</h1>
<ul class="items">{items}</ul>
<p class="amount">Montant : <strong>{amount}</strong></p>
<p class="reference">Référence : {html.escape(row.order_id)}</p>
{body}
</body></html>""",
        )

    async def decide(self, request: web.Request) -> web.Response:
        reference = request.match_info["reference"][:64]
        row = await self._row(reference)
        form = await request.post()
        token = str(form.get("token", ""))
        expected = decision_token(self.secret, reference)
        if not hmac.compare_digest(token.encode(), expected.encode()):
            log.warning("sandbox decision on %s without its token (%s)", reference, request.remote)
            raise web.HTTPForbidden(text="Jeton de paiement invalide.")
        decision = str(form.get("decision", ""))
        card = "".join(ch for ch in str(form.get("card", "")) if ch.isdigit())
        if decision == "abandon":
            state = ProviderState.ABANDONED
        elif decision == "pay" and 12 <= len(card) <= 19:
            state = ProviderState.REFUSED if card == REFUSED_CARD else ProviderState.PAID
        else:
            raise web.HTTPBadRequest(text="Numéro de carte de test invalide.")
        async with self.database.writing() as db:
            await db.execute(
                update(SandboxTransaction)
                .where(
                    SandboxTransaction.reference == reference, SandboxTransaction.state == "pending"
                )
                .values(state=state.value, updated_at=self.clock.now())
            )
        await self.notify(reference, row.notify_url)
        raise web.HTTPSeeOther(row.return_url)

    async def notify(self, reference: str, notify_url: str) -> bool:
        """Call the merchant's notification URL as a real provider does; a lost notification
        is caught later by reconciliation."""
        timestamp = str(int(time.time()))
        body = urlencode(
            {
                "reference": reference,
                "ts": timestamp,
                "sig": sign(self.secret, reference, timestamp),
            }
        )
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
                async with client.post(
                    notify_url,
                    data=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                ) as response:
                    if response.status == 200:
                        return True
                    log.warning("sandbox notification of %s: HTTP %s", reference, response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("sandbox notification of %s failed: %s", reference, error)
        return False

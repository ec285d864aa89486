"""Payment links, the payer's return, provider notifications and reconciliation.

- `GET /pay/<token>`: what is paid, to whom, with a "Pay" button (a link preview fetching the
  URL starts nothing); `POST /pay/<token>` opens the payment at the provider and redirects.
  The link works until the payment is settled or its hold runs out, then never again; after a
  card refused, its page leads to the new link that asks again for the places still held.
- `/payments/notify/<provider>`: the provider's notification, checked by the adapter, is only
  a trigger: the state is read from the provider, then applied once (`apply_status`).
- `GET /pay/<token>/done`: the payer's return: also a trigger, then the result page.
- `reconcile_once`: asks the provider about payments still open (a notification can be
  lost), gives up links never opened, and sends refunds through the provider.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from booking.models import Household, Payment, PaymentPurpose, PaymentState
from booking.providers import (
    PaymentOrder,
    ProviderError,
    RefundNotSupported,
)
from booking.services.payments import (
    apply_status,
    attach_reference,
    expire_unopened,
    order_id,
    paid_from,
    payment_by_reference,
    payment_by_token,
    payments_to_check,
    refunds_to_send,
    settle_refund,
    unopened_expired,
)
from bot.payments.base import BadNotification, Notification
from bot.payments.documents import setup_document_routes
from bot.payments.pages import STYLESHEET_URL, page, stylesheet, translator, ways_back
from bot.web.keys import CLOCK, DATABASE, OUTBOX, PROVIDERS, SETTINGS
from dialogs.i18n import Translator
from dialogs.notices import item_line

log = logging.getLogger(__name__)

#: A payment is asked again of its provider at most this often by reconciliation.
RECHECK_AFTER = timedelta(seconds=60)
#: A refund claimed by one process is left to it this long before another may retry.
REFUND_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class _Context:
    payment: Payment
    merchant: str
    email: str | None
    tz: ZoneInfo
    settings: Mapping[str, Any]


async def _load(app: web.Application, payment: Payment | None) -> _Context | None:
    if payment is None:
        return None
    async with app[DATABASE].reading() as db:
        household = await db.scalar(
            select(Household)
            .where(Household.id == payment.household_id)
            .options(joinedload(Household.structure))
        )
    structure = household.structure
    emails = household.email_list
    return _Context(
        payment,
        structure.name,
        emails[0] if emails else None,
        ZoneInfo(structure.timezone),
        dict(structure.payment_settings or {}),
    )


def item_lines(t: Translator, payment: Payment) -> list[str]:
    if payment.purpose is PaymentPurpose.BASKET:
        return [item_line(t, item) for item in payment.details.get("items", [])]
    if payment.purpose is PaymentPurpose.TOP_UP and payment.coupons:
        return [t.n_("{count} coupon", "{count} coupons", payment.coupons)]
    if payment.purpose is PaymentPurpose.TOP_UP:
        return [t._("Rechargement du porte-monnaie")]
    return [t._("Règlement des sommes dues")]


def _items_html(t: Translator, payment: Payment) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in item_lines(t, payment))
    total = t._("Total : {total}", total=t.money(payment.amount_cents))
    return f"<ul class='items'>{items}</ul><p class='total'>{html.escape(total)}</p>"


def _link_button(url: str, label: str, kind: str = "primary") -> str:
    return (
        f'<a class="button {kind}" href="{html.escape(url, quote=True)}">{html.escape(label)}</a>'
    )


async def _open_retry(app: web.Application, payment: Payment) -> Payment | None:
    """The link that asks again for the places a failed payment kept, while it pays."""
    seen = 0
    current = payment
    async with app[DATABASE].reading() as db:
        while current.details.get("retried_by") and seen < 20:
            following = await db.get(Payment, current.details["retried_by"])
            if following is None:
                return None
            current, seen = following, seen + 1
    if current is payment or not _open(current, app[CLOCK].now()):
        return None
    return current


async def _closed_page(
    request: web.Request, t: Translator, context: _Context, payment: Payment
) -> web.Response:
    back = ways_back(request, t)
    town = context.merchant
    if payment.state is PaymentState.PAID:
        how = (
            t._("Payé avec le porte-monnaie")
            if paid_from(payment) == "wallet"
            else t._("La confirmation est dans votre conversation.")
        )
        return page(
            t,
            town=town,
            title=t._("Paiement accepté"),
            tone="ok",
            body="<p>"
            + html.escape(t._("Reçu n° {number}", number=payment.receipt_number or ""))
            + "</p>"
            + _items_html(t, payment)
            + f"<p>{html.escape(how)}</p>"
            + f"<div class='actions'>{back}</div>",
        )
    # Only a payment opened at the provider may have been paid there; a link never opened
    # whose hold ran out is simply no longer valid (below).
    if payment.state is PaymentState.CREATED and payment.provider_reference is not None:
        return page(
            t,
            town=town,
            title=t._("Paiement en cours de vérification"),
            body="<p>"
            + html.escape(t._("Vous recevrez le résultat dans votre conversation."))
            + f"</p><div class='actions'>{back}</div>",
        )
    titles = {
        PaymentState.REFUSED: t._("Paiement refusé"),
        PaymentState.ABANDONED: t._("Paiement annulé"),
    }
    retry = await _open_retry(request.app, payment) if payment.state in titles else None
    if retry is not None:  # the places wait: pay them again, here
        until = retry.expires_at.astimezone(context.tz) if retry.expires_at else None
        kept = t._(
            "Rien n'a été payé. Les places restent gardées pour vous jusqu'à {time} :",
            time=t.time(until) if until else "",
        )
        return page(
            t,
            town=town,
            title=titles[payment.state],
            tone="failed",
            body=f"<p>{html.escape(kept)}</p>"
            + _items_html(t, retry)
            + "<div class='actions'>"
            + _link_button(
                f"/pay/{retry.token}",
                t._("Réessayer le paiement ({amount})", amount=t.money(retry.amount_cents)),
            )
            + back
            + "</div>",
        )
    return page(
        t,
        town=town,
        title=titles.get(payment.state, t._("Ce lien de paiement n'est plus valable")),
        tone="failed" if payment.state in titles else "",
        body="<p>"
        + html.escape(
            t._("Rien n'a été payé. Vous pouvez réserver à nouveau dans la conversation.")
        )
        + f"</p><div class='actions'>{back}</div>",
        status=200 if payment.state in titles else 410,
    )


async def _payment_for(request: web.Request) -> Payment | None:
    async with request.app[DATABASE].reading() as db:
        payment = await payment_by_token(db, request.match_info["token"])
    if payment is None or payment.purpose is PaymentPurpose.REFUND:
        return None
    return payment


def _unknown(request: web.Request, t: Translator) -> web.Response:
    return page(
        t,
        town="Ribambelle",
        title=t._("Lien de paiement inconnu"),
        body=f"<div class='actions'>{ways_back(request, t)}</div>",
        status=404,
    )


def _open(payment: Payment, now) -> bool:  # noqa: ANN001
    return payment.state is PaymentState.CREATED and (
        payment.expires_at is None or now < payment.expires_at
    )


async def pay_page(request: web.Request) -> web.Response:
    t = translator(request)
    payment = await _payment_for(request)
    if payment is None:
        return _unknown(request, t)
    context = await _load(request.app, payment)
    if not _open(payment, request.app[CLOCK].now()):
        return await _closed_page(request, t, context, payment)
    amount = t.money(payment.amount_cents)
    until = payment.expires_at.astimezone(context.tz) if payment.expires_at else None
    title = (
        t._("Nouvel essai de paiement")
        if payment.details.get("retry_of")
        else t._("Votre paiement")
    )
    return page(
        t,
        town=context.merchant,
        title=title,
        body=_items_html(t, payment)
        + (
            "<p class='note'>"
            + html.escape(t._("Lien valable jusqu'à {time}.", time=t.time(until)))
            + "</p>"
            if until
            else ""
        )
        + "<div class='actions'><form method='post'><button class='button primary' "
        + "type='submit'>"
        + html.escape(t._("Payer {amount}", amount=amount))
        + "</button></form>"
        + ways_back(request, t)
        + "</div>",
    )


async def pay_start(request: web.Request) -> web.Response:
    """Open the payment at the provider (once) and send the payer there."""
    app = request.app
    t = translator(request)
    payment = await _payment_for(request)
    if payment is None:
        return _unknown(request, t)
    context = await _load(app, payment)
    if not _open(payment, app[CLOCK].now()):
        return await _closed_page(request, t, context, payment)
    unavailable = page(
        t, town=context.merchant, title=t._("Paiement indisponible"), body="", status=503
    )
    redirect = payment.details.get("redirect_url")
    if payment.provider_reference is None or not redirect:
        provider = app[PROVIDERS].get(payment.provider)
        if provider is None:  # e.g. the sandbox, not opted into: never a silent default
            log.error("payment %s: provider %r is not configured", payment.id, payment.provider)
            return page(
                t,
                town=context.merchant,
                title=t._("Le paiement en ligne n'est pas encore ouvert"),
                body="<p>"
                + html.escape(t._("Rien n'a été payé. Renseignez-vous auprès de la mairie."))
                + f"</p><div class='actions'>{ways_back(request, t)}</div>",
                status=503,
            )
        public = app[SETTINGS].public_url
        order = PaymentOrder(
            order_id=order_id(payment),
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            merchant=context.merchant,
            items=item_lines(Translator("fr"), payment),
            email=context.email,
            notify_url=f"{public}/payments/notify/{payment.provider}",
            return_url=f"{public}/pay/{payment.token}/done",
            created_at=payment.created_at,
            settings=context.settings,
        )
        try:
            created = await provider.create(order)
        except ProviderError as error:
            log.warning("payment %s: provider could not open it: %s", payment.id, error)
            return page(
                t,
                town=context.merchant,
                title=t._("Paiement indisponible"),
                body="<p>"
                + html.escape(
                    t._("Le service de paiement ne répond pas. Réessayez dans un instant.")
                )
                + f"</p><div class='actions'>{ways_back(request, t)}</div>",
                status=503,
            )
        async with app[DATABASE].writing() as db:
            opened = await attach_reference(db, payment.id, created.reference, created.url)
            if opened.provider_reference != created.reference:  # a second tap won the race
                log.info("payment %s opened twice; ref %s unused", payment.id, created.reference)
            redirect = opened.details.get("redirect_url")
    if not redirect:
        log.error("payment %s has no provider page to send the payer to", payment.id)
        return unavailable
    raise web.HTTPSeeOther(redirect)


async def pay_done(request: web.Request) -> web.Response:
    """The payer is back from the provider: check the payment now, then say where it is."""
    t = translator(request)
    payment = await _payment_for(request)
    if payment is None:
        return _unknown(request, t)
    if payment.state is PaymentState.CREATED and payment.provider_reference:
        await check_payment(request.app, payment.id, source="return")
        async with request.app[DATABASE].reading() as db:
            payment = await db.get(Payment, payment.id)
    return await _closed_page(request, t, await _load(request.app, payment), payment)


async def notify(request: web.Request) -> web.Response:
    app = request.app
    name = request.match_info["provider"]
    provider = app[PROVIDERS].get(name)
    if provider is None:
        raise web.HTTPNotFound(text="unknown provider")
    notification = Notification(
        method=request.method,
        query_string=request.query_string,
        body=await request.read(),
        headers=dict(request.headers),
    )
    try:
        reference = provider.parse_notification(notification, {})  # type: ignore[attr-defined]
    except BadNotification as refused:
        log.warning("notification from %s refused (%s): %s", name, request.remote, refused)
        return web.Response(status=refused.status, text=str(refused))
    async with app[DATABASE].reading() as db:
        payment = await payment_by_reference(db, name, reference)
    if payment is None:
        log.warning("notification from %s for unknown reference %r: ignored", name, reference)
        return web.Response(status=404, text="unknown payment")
    await check_payment(app, payment.id, source=f"notification:{name}")
    return web.Response(text="OK")


async def check_payment(app: web.Application, payment_id: int, *, source: str) -> bool:
    """Ask the provider about one payment and apply its answer; True when it changed."""
    async with app[DATABASE].reading() as db:
        payment = await db.get(Payment, payment_id)
    context = await _load(app, payment)
    if context is None or payment.provider_reference is None:
        return False
    provider = app[PROVIDERS].get(payment.provider)
    if provider is None:
        log.error("payment %s: provider %r is not configured", payment.id, payment.provider)
        return False
    now = app[CLOCK].now()
    try:
        status = await provider.status(
            payment.provider_reference, created_at=payment.created_at, settings=context.settings
        )
    except ProviderError as error:
        log.warning("payment %s: provider did not answer (%s): %s", payment.id, source, error)
        async with app[DATABASE].writing() as db:
            await db.execute(update(Payment).where(Payment.id == payment.id).values(checked_at=now))
        return False
    async with app[DATABASE].writing() as db:
        outcome = await apply_status(db, payment.id, status, now=now, source=source)
    if outcome is not None:
        await app[OUTBOX].run_once()  # the result is in the outbox: tell the parent now
    return outcome is not None


async def reconcile_once(app: web.Application) -> int:
    """One pass of reconciliation; returns how many payments changed."""
    database, now = app[DATABASE], app[CLOCK].now()
    async with database.reading() as db:
        to_check = await payments_to_check(db, now, quiet=RECHECK_AFTER)
        unopened = await unopened_expired(db, now)
        refunds = await refunds_to_send(db)
    changed = 0
    for payment_id in to_check:
        changed += await check_payment(app, payment_id, source="reconciliation")
    for payment_id in unopened:
        async with database.writing() as db:
            changed += await expire_unopened(db, payment_id, now) is not None
    for refund_id, provider_name, reference, amount, settings in refunds:
        await _send_refund(app, refund_id, provider_name, reference, amount, settings)
    return changed


async def _send_refund(
    app: web.Application,
    refund_id: int,
    provider_name: str,
    reference: str,
    amount_cents: int,
    settings: Mapping[str, Any],
) -> None:
    database, now = app[DATABASE], app[CLOCK].now()
    async with database.writing() as db:  # claim it: another process leaves it alone
        claimed = await db.execute(
            update(Payment)
            .where(
                Payment.id == refund_id,
                Payment.state == PaymentState.CREATED,
                (Payment.checked_at.is_(None)) | (Payment.checked_at <= now - REFUND_CLAIM),
            )
            .values(checked_at=now)
        )
    if claimed.rowcount != 1:
        return
    provider = app[PROVIDERS].get(provider_name)
    try:
        if provider is None:
            raise RefundNotSupported(f"provider {provider_name!r} is not configured")
        await provider.refund(reference, amount_cents, settings=settings)
    except RefundNotSupported as error:
        async with database.writing() as db:
            await settle_refund(db, refund_id, sent=False, now=now, reason=str(error))
        log.info("refund %s kept in the wallet: %s", refund_id, error)
        return
    except ProviderError as error:
        log.warning("refund %s not sent, retried later: %s", refund_id, error)
        return
    async with database.writing() as db:
        await settle_refund(db, refund_id, sent=True, now=now)


def setup_payment_routes(app: web.Application) -> None:
    app.router.add_get(STYLESHEET_URL, stylesheet)
    setup_document_routes(app)
    app.router.add_get("/pay/{token}", pay_page)
    app.router.add_post("/pay/{token}", pay_start)
    app.router.add_get("/pay/{token}/done", pay_done)
    app.router.add_route("POST", "/payments/notify/{provider}", notify)
    app.router.add_route("GET", "/payments/notify/{provider}", notify)

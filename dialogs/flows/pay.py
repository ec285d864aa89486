"""Paying by link (the basket's online part, or from the porte-monnaie), wallet top-ups,
coupons, what is owed, and the receipts of what was paid."""

from __future__ import annotations

import re

from booking.models import Payment, PaymentPurpose, PaymentState, WalletKind
from booking.money import parse_euros
from booking.refusals import Refused
from booking.services.documents import document_code, receipt_document
from booking.services.eligibility import load_household
from booking.services.payments import (
    pay_from_wallet,
    payment_history,
    start_debt_payment,
    start_top_up,
    wallet_covers,
)
from booking.services.receipts import receipt_data, receipt_of, receipts_of, send_receipt_again
from booking.services.wallets import amount_owed, balances
from dialogs.explain import explain, item_line, receipt_lines
from dialogs.flows.common import nav_row, require_login
from dialogs.paging import page_of, page_row, range_text
from dialogs.replies import Button, Link
from dialogs.turn import Turn, action, step, text_handler
from dialogs.understanding.text import fold

TOP_UP_CHOICES = (1000, 2000, 5000)
COUPON_CHOICES = (5, 10, 20)
_AMOUNT = re.compile(r"(\d+(?:[.,]\d{1,2})?)\s*(?:€|e\b|eur|euro)?")
_COUNT = re.compile(r"\b(\d{1,3})\b")


def payment_link(turn: Turn, payment: Payment) -> Link:
    """ "Payer 20,00 €", or "Réessayer le paiement (20,00 €)" after a card refused."""
    amount = turn.t.money(payment.amount_cents)
    label = (
        turn.t._("Réessayer le paiement ({amount})", amount=amount)
        if payment.details.get("retry_of")
        else turn.t._("Payer {amount}", amount=amount)
    )
    return Link(label, f"{turn.public_url}/pay/{payment.token}")


async def pay_choices(turn: Turn, payment: Payment) -> list[list[Button]]:
    """Besides the link: the porte-monnaie, for a basket it can pay in full."""
    if payment.purpose is not PaymentPurpose.BASKET or payment.state is not PaymentState.CREATED:
        return []
    balance = await wallet_covers(turn.db, turn.state.household_id, payment.amount_cents)
    if balance is None:
        return []
    label = turn.t._("Payer avec le porte-monnaie (solde {amount})", amount=turn.t.money(balance))
    return [[turn.button(label, "pay_wallet", payment.id)]]


def offer_link(turn: Turn, payment: Payment, what: str, after: str | None = None) -> None:
    """Say what is to pay, until when, and give the link."""
    t = turn.t
    turn.state.step = "menu"
    turn.say(
        f"{what} {link_until(turn, payment)}\n"
        + (after or t._("Vous recevrez la confirmation ici dès le paiement reçu.")),
        [nav_row(turn, back=False)],
        link=payment_link(turn, payment),
    )


@action("pay_wallet")
@require_login
async def pay_with_wallet(turn: Turn, payment_id: int) -> None:
    """Pay a basket's link from the porte-monnaie; the places are confirmed at once."""
    t = turn.t
    try:
        outcome = await pay_from_wallet(
            turn.db, actor=turn.actor, payment_id=payment_id, now=turn.now
        )
    except Refused as refused:
        turn.say(explain(t, refused))
        await turn.show("bookings")
        return
    payment = outcome.payment
    left = (await balances(turn.db, turn.state.household_id))[WalletKind.EUROS]
    lines = [
        t._(
            "Payé avec le porte-monnaie : {amount}. Reçu n° {number}.",
            amount=t.money(payment.amount_cents),
            number=payment.receipt_number,
        )
    ]
    lines += [
        "✓ " + item_line(t, item) + t.colon + t._("confirmé")
        for item in payment.details.get("items") or []
    ]
    lines.append(t._("Reste sur le porte-monnaie : {amount}", amount=t.money(left)))
    turn.state.step = "menu"
    turn.say(
        "\n".join(lines),
        [
            [
                turn.button(t._("Mes réservations"), "bookings"),
                turn.button(t._("Mes reçus"), "receipts"),
            ],
            nav_row(turn, back=False),
        ],
    )


def link_until(turn: Turn, payment: Payment) -> str:
    if payment.expires_at is None:
        return ""
    return turn.t._(
        "Le lien est valable jusqu'à {time}.",
        time=turn.t.time(payment.expires_at.astimezone(turn.tz)),
    )


async def coupon_price(turn: Turn) -> int:
    household = await load_household(turn.db, turn.state.household_id)
    return household.structure.coupon_price_cents


async def payment_rows(turn: Turn) -> list[list[Button]]:
    """The balance view's payment buttons: top up, buy coupons, pay what is owed."""
    t = turn.t
    rows = [
        [
            turn.button(t._("Recharger le porte-monnaie"), "top_up"),
            turn.button(t._("Mes reçus"), "receipts"),
        ]
    ]
    if await coupon_price(turn) > 0:
        rows.append([turn.button(t._("Acheter des coupons"), "buy_coupons")])
    owed = await amount_owed(turn.db, turn.state.household_id)
    if owed > 0:
        rows.append([turn.button(t._("Régler {amount}", amount=t.money(owed)), "pay_debt")])
    return rows


async def history_lines(turn: Turn) -> list[str]:
    t = turn.t
    payments = await payment_history(turn.db, turn.state.household_id, limit=5)
    if not payments:
        return []
    lines = [t._("Derniers paiements en ligne :")]
    for payment in payments:
        when = t.short_day(payment.settled_at.astimezone(turn.tz).date())
        if payment.refund_of_id is not None:
            lines.append(
                f"  · {when} — "
                + t._("remboursé sur votre carte : {amount}", amount=t.money(payment.amount_cents))
            )
        else:
            lines.append(
                f"  · {when} — "
                + t._("reçu n° {number}", number=payment.receipt_number or "")
                + f" — {t.money(payment.amount_cents)}"
            )
    return lines


# Receipts --------------------------------------------------------------------------------------


@action("receipts")
@require_login
async def open_receipts(turn: Turn, page: int = 0) -> None:
    turn.state.question = {"receipts_page": page}
    await turn.show("receipts")


@step("receipts")
async def show_receipts(turn: Turn) -> None:
    """The household's receipts, newest first, a page at a time; each one a button."""
    t = turn.t
    if not turn.state.logged_in:
        await turn.show("start")
        return
    turn.state.step = "receipts"
    receipts = await receipts_of(turn.db, turn.state.household_id)
    if not receipts:
        turn.say(
            t._("Vous n'avez pas encore de reçu : ils viennent avec chaque paiement."),
            [[turn.button(t._("Solde et historique"), "balance")], nav_row(turn, back=False)],
        )
        return
    shown, page = page_of(receipts, int(turn.state.question.get("receipts_page") or 0))
    count = range_text(turn, page, len(receipts))
    lines = [t._("Vos reçus") + (f" ({count})" if count else "") + t.colon.rstrip()]
    rows = []
    for payment in shown:
        when = t.short_day(payment.settled_at.astimezone(turn.tz).date())
        label = f"{payment.receipt_number} — {when} — {t.money(payment.amount_cents)}"
        lines.append("• " + label + " — " + _receipt_what(turn, payment))
        rows.append([turn.button(label, "receipt", payment.id)])
    lines.append(t._("Choisissez un reçu pour l'ouvrir, l'imprimer ou le recevoir par e-mail."))
    paging = page_row(turn, page, len(receipts), "receipts")
    turn.say(
        "\n".join(lines),
        [*rows, *([paging] if paging else []), nav_row(turn, back=False)],
    )


def _receipt_what(turn: Turn, payment: Payment) -> str:
    t = turn.t
    if payment.purpose is PaymentPurpose.BASKET:
        items = payment.details.get("items") or []
        return t.n_("{count} réservation", "{count} réservations", len(items))
    if payment.purpose is PaymentPurpose.TOP_UP and payment.coupons:
        return t.n_("{count} coupon", "{count} coupons", payment.coupons)
    if payment.purpose is PaymentPurpose.TOP_UP:
        return t._("rechargement du porte-monnaie")
    return t._("règlement des sommes dues")


@action("receipt")
@require_login
async def open_receipt(turn: Turn, payment_id: int) -> None:
    """One receipt: what it says, a link to its printable page, and "send it by e-mail"."""
    t = turn.t
    payment = await receipt_of(turn.db, turn.state.household_id, payment_id)
    if payment is None:
        turn.say(t._("Ce reçu n'est plus disponible."))
        await turn.show("receipts")
        return
    code = await document_code(
        turn.db,
        guardian_id=turn.state.guardian_id,
        document=receipt_document(payment.id),
        now=turn.now,
    )
    turn.state.step = "receipts"
    turn.say(
        "\n".join(receipt_lines(t, receipt_data(payment), turn.tz)),
        [
            [turn.button(t._("Recevoir par e-mail"), "receipt_email", payment.id)],
            [turn.button(t._("Mes reçus"), "receipts")],
            nav_row(turn, back=False),
        ],
        link=Link(
            t._("Ouvrir le reçu (à imprimer)"),
            f"{turn.public_url}/documents/{code}/receipt/{payment.id}",
        ),
    )


@action("receipt_email")
@require_login
async def email_receipt(turn: Turn, payment_id: int) -> None:
    """Send a receipt again to the household's e-mail addresses, through the outbox."""
    t = turn.t
    payment = await receipt_of(turn.db, turn.state.household_id, payment_id)
    sent_to = await send_receipt_again(
        turn.db, household_id=turn.state.household_id, payment_id=payment_id, now=turn.now
    )
    if payment is None:
        turn.say(t._("Ce reçu n'est plus disponible."))
    elif sent_to:
        turn.say(
            t._(
                "Le reçu n° {number} part par e-mail à {addresses}.",
                number=payment.receipt_number,
                addresses=", ".join(sent_to),
            )
        )
    else:
        turn.say(
            t._(
                "Aucune adresse e-mail n'est enregistrée pour votre compte famille : "
                "demandez à la mairie d'en ajouter une, ou ouvrez le reçu pour l'imprimer."
            )
        )
    await turn.show("receipts")


# Top-up of the euro wallet ---------------------------------------------------------------------


@action("top_up")
@require_login
async def ask_top_up(turn: Turn) -> None:
    await turn.show("top_up")


@step("top_up")
async def show_top_up(turn: Turn) -> None:
    t = turn.t
    turn.state.step = "top_up"
    turn.say(
        t._(
            "De combien voulez-vous recharger le porte-monnaie ? Choisissez ou écrivez un montant."
        ),
        [
            [turn.button(t.money(cents), "top_up_amount", cents) for cents in TOP_UP_CHOICES],
            nav_row(turn, back=False),
        ],
    )


@action("top_up_amount")
@require_login
async def top_up_amount(turn: Turn, cents: int) -> None:
    t = turn.t
    try:
        payment = await start_top_up(turn.db, actor=turn.actor, now=turn.now, amount_cents=cents)
    except Refused as refused:
        turn.say(explain(t, refused))
        await turn.show("top_up")
        return
    offer_link(
        turn, payment, t._("Rechargement du porte-monnaie de {amount}.", amount=t.money(cents))
    )


def amount_in(text: str) -> int | None:
    match = _AMOUNT.search(text)
    if match is None:
        return None
    try:
        return parse_euros(match.group(1))
    except ValueError:
        return None


@text_handler("top_up")
async def top_up_text(turn: Turn, text: str) -> bool:
    cents = amount_in(text)
    if cents is None:
        return False
    await top_up_amount(turn, cents)
    return True


# Coupons ---------------------------------------------------------------------------------------


@action("buy_coupons")
@require_login
async def ask_coupons(turn: Turn) -> None:
    await turn.show("buy_coupons")


@step("buy_coupons")
async def show_coupons(turn: Turn) -> None:
    t = turn.t
    price = await coupon_price(turn)
    turn.state.step = "buy_coupons"
    if price <= 0:
        turn.state.step = "menu"
        turn.say(t._("La mairie ne vend pas de coupons en ligne."), [nav_row(turn, back=False)])
        return
    turn.say(
        t._(
            "Combien de coupons voulez-vous acheter ? Un coupon coûte {price}.",
            price=t.money(price),
        ),
        [
            [
                turn.button(t.n_("{count} coupon", "{count} coupons", n), "coupons_count", n)
                for n in COUPON_CHOICES
            ],
            nav_row(turn, back=False),
        ],
    )


@action("coupons_count")
@require_login
async def buy_coupons(turn: Turn, count: int) -> None:
    t = turn.t
    try:
        payment = await start_top_up(turn.db, actor=turn.actor, now=turn.now, coupons=count)
    except Refused as refused:
        turn.say(explain(t, refused))
        await turn.show("buy_coupons")
        return
    what = t.n_(
        "Achat de {count} coupon : {amount}.",
        "Achat de {count} coupons : {amount}.",
        count,
        amount=t.money(payment.amount_cents),
    )
    offer_link(turn, payment, what)


@text_handler("buy_coupons")
async def coupons_text(turn: Turn, text: str) -> bool:
    match = _COUNT.search(text)
    if match is None:
        return False
    await buy_coupons(turn, int(match.group(1)))
    return True


# What is owed ----------------------------------------------------------------------------------


@action("pay_debt")
@require_login
async def pay_debt(turn: Turn) -> None:
    t = turn.t
    try:
        payment = await start_debt_payment(turn.db, actor=turn.actor, now=turn.now)
    except Refused as refused:
        turn.say(explain(t, refused), [nav_row(turn, back=False)])
        return
    offer_link(
        turn,
        payment,
        t._("Vous devez {amount} à la mairie.", amount=t.money(payment.amount_cents)),
        t._("Une fois le paiement reçu, vous pourrez réserver à nouveau."),
    )


async def payment_request_text(turn: Turn, intent: str, text: str) -> None:
    """ "recharger mon porte-monnaie de 30 €", "acheter 10 coupons", "payer ce que je dois"."""
    folded = fold(text)
    if intent == "pay_debt":
        await pay_debt(turn)
    elif intent == "buy_coupons":
        match = _COUNT.search(folded)
        if match is not None:
            await buy_coupons(turn, int(match.group(1)))
        else:
            await turn.show("buy_coupons")
    else:
        cents = amount_in(folded)
        if cents is not None:
            await top_up_amount(turn, cents)
        else:
            await turn.show("top_up")

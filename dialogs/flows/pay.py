"""Paying by link: the basket's online part, wallet top-ups, coupons and what is owed."""

from __future__ import annotations

import re

from booking.models import Payment
from booking.money import parse_euros
from booking.refusals import Refused
from booking.services.eligibility import load_household
from booking.services.payments import (
    payment_history,
    start_debt_payment,
    start_top_up,
)
from booking.services.wallets import amount_owed
from dialogs.explain import explain
from dialogs.flows.common import nav_row, require_login
from dialogs.replies import Button, Link
from dialogs.turn import Turn, action, step, text_handler
from dialogs.understanding.text import fold

TOP_UP_CHOICES = (1000, 2000, 5000)
COUPON_CHOICES = (5, 10, 20)
_AMOUNT = re.compile(r"(\d+(?:[.,]\d{1,2})?)\s*(?:€|e\b|eur|euro)?")
_COUNT = re.compile(r"\b(\d{1,3})\b")


def payment_link(turn: Turn, payment: Payment) -> Link:
    return Link(
        turn.t._("Payer {amount}", amount=turn.t.money(payment.amount_cents)),
        f"{turn.public_url}/pay/{payment.token}",
    )


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
    rows = [[turn.button(t._("Recharger le porte-monnaie"), "top_up")]]
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

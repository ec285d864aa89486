"""The recap: new bookings and cancellations with prices and total; confirm, modify, abandon."""

from __future__ import annotations

from booking.models import PaymentMode
from booking.refusals import Refusal, Refused
from booking.services.basket import basket_items, confirm_basket, remove_from_basket
from booking.services.cancellation import cancel_booking
from booking.services.payments import start_basket_payment
from booking.services.queries import lapsed_basket_items, upcoming_bookings
from dialogs.explain import explain
from dialogs.flows.common import basket_line, nav_row, price_text, require_login, show_menu
from dialogs.flows.pay import payment_link
from dialogs.turn import Turn, action, step


@action("recap")
@require_login
async def open_recap(turn: Turn) -> None:
    await turn.show("recap")


async def lapsed_items(turn: Turn) -> list:
    """Basket items whose place was lost since they were added, not yet told."""
    return [
        booking
        for booking in await lapsed_basket_items(turn.db, turn.state.household_id)
        if booking.id not in turn.state.lapsed_told
    ]


def lapsed_line(turn: Turn, booking) -> str:  # noqa: ANN001
    t = turn.t
    return (
        "✕ "
        + t._(
            "{name} — {activity} — {day} : plus disponible",
            name=booking.participant.first_name,
            activity=booking.session.activity.name,
            day=t.day(booking.session.day),
        )
        + " ("
        + explain(t, Refused(Refusal.HOLD_EXPIRED))
        + ")"
    )


@step("recap")
async def show_recap(turn: Turn) -> None:
    state = turn.state
    if not state.logged_in:
        await turn.show("start")
        return
    t = turn.t
    _, items = await basket_items(turn.db, state.household_id)
    cancels = [
        item
        for item in await upcoming_bookings(turn.db, state.household_id, turn.now, turn.tz)
        if item.booking.id in state.to_cancel
    ]
    lapsed = await lapsed_items(turn)
    notes = turn.recap_notes
    turn.recap_notes = []
    if not items and not cancels and not lapsed:
        # A request being filled stays open: "et pour Paolo aussi", "plutôt jeudi" go on.
        state.step = "recap" if state.request.get("intent") == "book" else "menu"
        turn.say(
            "\n".join([*notes, t._("Votre panier est vide.")]),
            [[turn.button(t._("Réserver"), "book")], nav_row(turn, back=False)],
        )
        return
    state.step = "recap"
    lines = [*notes, *([""] if notes else []), t._("Récapitulatif :")]
    total_cents = total_coupons = 0
    lines.extend(lapsed_line(turn, booking) for booking in lapsed)
    if items:
        lines.append(t._("Nouvelles réservations :"))
        for item in items:
            session = item.session
            lines.append(
                f"• {item.participant.first_name} — {session.activity.name} — "
                f"{t.day(session.day)} {t.time(session.starts_at.astimezone(turn.tz))} — "
                f"{price_text(turn, item.price_cents, item.coupons)}"
            )
            total_cents += item.price_cents
            total_coupons += item.coupons
    if cancels:
        lines.append(t._("Annulations :"))
        for item in cancels:
            booking = item.booking
            refund = (
                t._(
                    "remboursé : {amount}",
                    amount=price_text(turn, item.refund_cents, item.refund_coupons),
                )
                if item.refund_cents or item.refund_coupons
                else t._("ne sera pas facturé")
                if booking.session.activity.payment_mode is PaymentMode.INVOICE
                else t._("sans remboursement")
            )
            if item.cancel_refusal is not None:
                refund = explain(t, item.cancel_refusal)
            lines.append(
                f"• {booking.participant.first_name} — {booking.session.activity.name} — "
                f"{t.day(booking.session.day)} ({refund})"
            )
    if items:
        total = t.money(total_cents)
        if total_coupons:
            total += " + " + t.n_("{count} coupon", "{count} coupons", total_coupons)
        lines.append(t._("Total : {total}", total=total))
        line = await basket_line(turn)
        lines.append(line)
    turn.say(
        "\n".join(lines),
        [
            [turn.button(t._("Confirmer"), "confirm")],
            [turn.button(t._("Modifier"), "modify"), turn.button(t._("Abandonner"), "abandon")],
            nav_row(turn, back=False),
        ],
    )


@action("confirm")
@require_login
async def confirm(turn: Turn) -> None:
    """Confirm the basket and the cancellations picked; say what happened to each."""
    t = turn.t
    state = turn.state
    _, items = await basket_items(turn.db, state.household_id)
    lapsed = await lapsed_items(turn)
    lines = [lapsed_line(turn, booking) for booking in lapsed]
    link = None
    state.lapsed_told = [booking.id for booking in lapsed]
    if items:
        try:
            checkout = await confirm_basket(turn.db, actor=turn.actor, now=turn.now)
        except Refused as refused:
            turn.say(explain(t, refused))
            await turn.show("recap")
            return
        for booking in checkout.confirmed:
            lines.append(
                "✓ "
                + t._(
                    "{name} — {activity} — {day} : confirmé",
                    name=booking.participant.first_name,
                    activity=booking.session.activity.name,
                    day=t.day(booking.session.day),
                )
            )
        for booking, refusal in checkout.unavailable:
            lines.append(
                "✕ "
                + t._(
                    "{name} — {activity} — {day} : plus disponible",
                    name=booking.participant.first_name,
                    activity=booking.session.activity.name,
                    day=t.day(booking.session.day),
                )
                + " ("
                + explain(t, refusal)
                + ")"
            )
        if checkout.pending_payment:
            payment = await start_basket_payment(
                turn.db, actor=turn.actor, bookings=checkout.pending_payment, now=turn.now
            )
            link = payment_link(turn, payment)
            lines.append(
                t._(
                    "À payer en ligne : {amount}. Les places sont gardées jusqu'à {time} ; "
                    "elles seront confirmées dès le paiement reçu.",
                    amount=t.money(checkout.amount_due_cents),
                    time=t.time(payment.expires_at.astimezone(turn.tz)),
                )
            )
        if checkout.debited_cents:
            lines.append(
                t._("Débité du porte-monnaie : {amount}", amount=t.money(checkout.debited_cents))
            )
        if checkout.debited_coupons:
            lines.append(
                t.n_("{count} coupon utilisé", "{count} coupons utilisés", checkout.debited_coupons)
            )
    for booking_id in list(state.to_cancel):
        try:
            done = await cancel_booking(
                turn.db, actor=turn.actor, booking_id=booking_id, now=turn.now
            )
        except Refused as refused:
            lines.append("✕ " + explain(t, refused))
            continue
        booking = done.booking
        refund = ""
        if done.to_card:
            refund = " — " + t._(
                "remboursé sur votre carte : {amount}", amount=t.money(done.refund_cents)
            )
        elif done.refund_cents or done.refund_coupons:
            refund = " — " + t._(
                "remboursé : {amount}",
                amount=price_text(turn, done.refund_cents, done.refund_coupons),
            )
        lines.append(
            "✓ "
            + t._(
                "{name} — {activity} — {day} : annulé",
                name=booking.participant.first_name,
                activity=booking.session.activity.name,
                day=t.day(booking.session.day),
            )
            + refund
        )
    state.to_cancel = []
    if not lines:
        lines.append(t._("Votre panier est vide."))
    turn.say("\n".join(lines), link=link)
    await show_menu(turn)


@action("modify")
@require_login
async def modify(turn: Turn) -> None:
    if turn.state.activity_id and turn.state.participant_id:
        await turn.show("calendar")
    else:
        await turn.show("child")


@action("abandon")
@require_login
async def abandon(turn: Turn) -> None:
    _, items = await basket_items(turn.db, turn.state.household_id)
    for item in items:
        await remove_from_basket(turn.db, actor=turn.actor, booking_id=item.id, now=turn.now)
    turn.state.lapsed_told = [booking.id for booking in await lapsed_items(turn)]
    turn.state.to_cancel = []
    turn.say(turn.t._("C'est abandonné : rien n'a été réservé ni annulé."))
    await show_menu(turn)

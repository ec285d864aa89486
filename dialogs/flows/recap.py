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
from dialogs.flows.pay import pay_choices, payment_link
from dialogs.grouping import DETAILED_UP_TO, Group, days_text, group, weekdays_text
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
    cancels = (
        await upcoming_bookings(turn.db, state.household_id, turn.now, turn.tz, ids=state.to_cancel)
        if state.to_cancel
        else []
    )
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
        for chunk in group(items, lambda i: (i.participant.first_name, i.session.activity.name)):
            lines += _new_lines(turn, chunk)
        total_cents = sum(item.price_cents for item in items)
        total_coupons = sum(item.coupons for item in items)
    if cancels:
        lines.append(t._("Annulations :"))
        for chunk in group(
            cancels,
            lambda i: (i.booking.participant.first_name, i.booking.session.activity.name),
        ):
            lines += _cancel_lines(turn, chunk)
    if items:
        total = t.money(total_cents)
        if total_coupons:
            total += " + " + t.n_("{count} coupon", "{count} coupons", total_coupons)
        lines.append(t._("Total : {total}", total=total))
        invoiced = sorted(
            {
                item.session.activity.name
                for item in items
                if item.session.activity.payment_mode is PaymentMode.INVOICE
            }
        )
        if invoiced:
            lines.append(
                t._(
                    "{activities} : rien à payer maintenant, facturé en fin de mois sur votre "
                    "compte famille.",
                    activities=", ".join(invoiced),
                )
            )
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


def _new_lines(turn: Turn, chunk: Group) -> list[str]:
    """A child's days of one activity: each day when they are few, else one short line."""
    t = turn.t
    if len(chunk.items) <= DETAILED_UP_TO:
        return [
            f"• {chunk.child} — {chunk.activity} — {t.day(item.session.day)} "
            f"{t.time(item.session.starts_at.astimezone(turn.tz))} — "
            f"{price_text(turn, item.price_cents, item.coupons)}"
            for item in chunk.items
        ]
    days = [item.session.day for item in chunk.items]
    subtotal = price_text(
        turn, sum(i.price_cents for i in chunk.items), sum(i.coupons for i in chunk.items)
    )
    count = t.n_("{count} séance", "{count} séances", len(days))
    return [
        f"• {chunk.child} — {chunk.activity}{t.colon}{count} ({weekdays_text(t, days)}) — "
        f"{subtotal}",
        f"   {days_text(t, days)}",
    ]


def _done_lines(turn: Turn, chunk: Group, outcome: str) -> list[str]:
    """ "✓ Léa — Cantine — jeudi 4 mars : confirmé", or one line for many days."""
    t = turn.t
    if len(chunk.items) <= DETAILED_UP_TO:
        return [
            f"✓ {chunk.child} — {chunk.activity} — {t.day(b.session.day)}{t.colon}{outcome}"
            for b in chunk.items
        ]
    days = [b.session.day for b in chunk.items]
    count = t.n_("{count} séance", "{count} séances", len(days))
    return [
        f"✓ {chunk.child} — {chunk.activity}{t.colon}{count} ({days_text(t, days)}) : {outcome}"
    ]


def _refund_text(turn: Turn, done) -> str:  # noqa: ANN001
    """Where a cancellation's money went: the card, the porte-monnaie, the coupons."""
    t = turn.t
    if done.to_card:
        return t._("remboursé sur votre carte : {amount}", amount=t.money(done.refund_cents))
    if done.refund_cents:
        return t._(
            "remboursé sur votre porte-monnaie : {amount}", amount=t.money(done.refund_cents)
        )
    if done.refund_coupons:
        return t._("remboursé : {amount}", amount=price_text(turn, 0, done.refund_coupons))
    return ""


def _cancel_lines(turn: Turn, chunk: Group) -> list[str]:
    t = turn.t

    def outcome(item) -> str:  # noqa: ANN001
        if item.cancel_refusal is not None:
            return explain(t, item.cancel_refusal)
        if item.refund_cents or item.refund_coupons:
            return t._(
                "remboursé : {amount}",
                amount=price_text(turn, item.refund_cents, item.refund_coupons),
            )
        if item.booking.session.activity.payment_mode is PaymentMode.INVOICE:
            return t._("ne sera pas facturé")
        return t._("sans remboursement")

    if len(chunk.items) <= DETAILED_UP_TO:
        return [
            f"• {chunk.child} — {chunk.activity} — {t.day(i.booking.session.day)} ({outcome(i)})"
            for i in chunk.items
        ]
    by_outcome: dict[str, list] = {}
    for item in chunk.items:
        by_outcome.setdefault(outcome(item), []).append(item)
    lines = []
    for said, items in by_outcome.items():
        days = [i.booking.session.day for i in items]
        count = t.n_("{count} annulation", "{count} annulations", len(days))
        lines.append(f"• {chunk.child} — {chunk.activity}{t.colon}{count} ({said})")
        lines.append(f"   {days_text(t, days)}")
    return lines


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
        for chunk in group(
            checkout.confirmed, lambda b: (b.participant.first_name, b.session.activity.name)
        ):
            lines += _done_lines(turn, chunk, t._("confirmé"))
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
            turn.pending_rows += await pay_choices(turn, payment)
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
    cancelled = []
    for booking_id in list(state.to_cancel):
        try:
            done = await cancel_booking(
                turn.db, actor=turn.actor, booking_id=booking_id, now=turn.now
            )
        except Refused as refused:
            lines.append("✕ " + explain(t, refused))
            continue
        cancelled.append(done)
    for chunk in group(
        cancelled, lambda d: (d.booking.participant.first_name, d.booking.session.activity.name)
    ):
        by_refund: dict[str, list] = {}
        for done in chunk.items:
            by_refund.setdefault(_refund_text(turn, done), []).append(done.booking)
        for refund, bookings in by_refund.items():
            lines += _done_lines(turn, Group(chunk.child, chunk.activity, bookings), t._("annulé"))
            if refund:
                lines[-1] += " — " + refund
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

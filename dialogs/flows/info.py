"""My bookings (with what can still be cancelled), balance and history, browsing the catalogue."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from booking.models import BookingState, Category, WalletKind
from booking.refusals import Refusal, Refused
from booking.services.catalogue import Availability, browse
from booking.services.payments import open_payment
from booking.services.queries import upcoming_bookings
from booking.services.statements import month_statement, wallet_forecasts
from dialogs.explain import explain
from dialogs.flows.common import menu_rows, nav_row, price_text, require_login
from dialogs.flows.pay import history_lines, link_until, payment_link, payment_rows
from dialogs.i18n import N_
from dialogs.turn import Turn, action, step

CATEGORY_NAMES = {
    Category.PERISCOLAIRE: N_("Accueil périscolaire"),
    Category.RESTAURATION: N_("Restauration scolaire"),
    Category.ALSH: N_("Centre de loisirs"),
    Category.EMS: N_("École des sports"),
    Category.SEJOUR: N_("Séjours et semaines d'été"),
    Category.SPORT: N_("Sport en famille"),
}
STATE_NAMES = {
    BookingState.CONFIRMED: N_("confirmé"),
    BookingState.PENDING_PAYMENT: N_("en attente de paiement"),
    BookingState.WAITLISTED: N_("liste d'attente"),
}
MAX_LISTED = 12


@action("bookings")
@require_login
async def open_bookings(turn: Turn) -> None:
    await turn.show("bookings")


@step("bookings")
async def show_bookings(turn: Turn, bookings: list | None = None) -> None:
    """Upcoming bookings per child; a button for each one that can still be cancelled."""
    state = turn.state
    if not state.logged_in:
        await turn.show("start")
        return
    state.step = "bookings"
    t = turn.t
    if bookings is None:
        bookings = await upcoming_bookings(turn.db, state.household_id, turn.now, turn.tz)
    if not bookings:
        turn.say(
            t._("Aucune réservation à venir."),
            [[turn.button(t._("Réserver"), "book")], nav_row(turn, back=False)],
        )
        return
    # Per child (in the order they first come), each child's bookings by date.
    first_seen: dict[int, int] = {}
    for index, item in enumerate(bookings):
        first_seen.setdefault(item.booking.participant_id, index)
    bookings = sorted(bookings, key=lambda item: first_seen[item.booking.participant_id])
    same_day = Counter(
        (item.booking.participant_id, item.booking.session.day)
        for item in bookings
        if item.cancel_refusal is None
    )
    lines = [t._("Vos prochaines réservations :")]
    rows = []
    current_child = None
    for item in bookings[: MAX_LISTED * 3]:
        booking = item.booking
        if booking.participant.first_name != current_child:
            current_child = booking.participant.first_name
            lines.append(f"\n{current_child}")
        status = t._(STATE_NAMES.get(booking.state, booking.state.value))
        lines.append(
            f"• {t.day(booking.session.day)} {t.time(booking.session.starts_at.astimezone(turn.tz))}"
            f" — {booking.session.activity.name} ({status})"
            + ("" if item.cancel_refusal is None else " — " + t._("ne peut plus être annulé"))
        )
        if item.cancel_refusal is None and len(rows) < MAX_LISTED:
            marked = "☑ " if booking.id in state.to_cancel else ""
            day = t.short_day(booking.session.day)
            if same_day[(booking.participant_id, booking.session.day)] > 1:
                day += f" · {booking.session.activity.name}"  # two bookings that day
            label = marked + t._(
                "Annuler {name} {day}", name=booking.participant.first_name, day=day
            )
            rows.append([turn.button(label, "mark_cancel", booking.id)])
    if len(bookings) > MAX_LISTED * 3:
        lines.append(
            t._("(et d'autres : écrivez par exemple « annule la cantine de Léa le 12/03 »)")
        )
    if state.to_cancel:
        rows.insert(0, [turn.button(t._("Récapitulatif et confirmation"), "recap")])
    rows.append(nav_row(turn, back=False))
    link = None
    unpaid = await open_payment(turn.db, state.household_id, turn.now)
    if unpaid is not None:  # places kept until paid: the link again, where the parent looks
        lines.append("")
        lines.append(
            t._("En attente de paiement : {amount}.", amount=t.money(unpaid.amount_cents))
            + " "
            + link_until(turn, unpaid)
        )
        link = payment_link(turn, unpaid)
    turn.say("\n".join(lines), rows, link=link)


@action("mark_cancel")
@require_login
async def mark_cancel(turn: Turn, booking_id: int) -> None:
    """Pick (or unpick) a booking to cancel; the recap asks for confirmation."""
    bookings = await upcoming_bookings(turn.db, turn.state.household_id, turn.now, turn.tz)
    if booking_id not in {item.booking.id for item in bookings}:
        turn.say(turn.t._("Cette réservation n'est plus à venir."))
    elif booking_id in turn.state.to_cancel:
        turn.state.to_cancel.remove(booking_id)
    else:
        turn.state.to_cancel.append(booking_id)
        await turn.show("recap")
        return
    await turn.show("bookings")


@action("balance")
@require_login
async def open_balance(turn: Turn) -> None:
    await turn.show("balance")


@step("balance")
async def show_balance(turn: Turn) -> None:
    state = turn.state
    if not state.logged_in:
        await turn.show("start")
        return
    state.step = "balance"
    t = turn.t
    today = turn.now.astimezone(turn.tz).date()
    until = today + timedelta(days=30)
    forecasts = await wallet_forecasts(turn.db, state.household_id, today=today, until=until)
    lines = [t._("Vos soldes :")]
    for forecast in forecasts:
        if forecast.kind is WalletKind.EUROS:
            lines.append("• " + t._("Porte-monnaie : {amount}", amount=t.money(forecast.balance)))
        elif forecast.kind is WalletKind.COUPONS:
            lines.append("• " + t.n_("Coupons : {count}", "Coupons : {count}", forecast.balance))
        elif forecast.balance < 0:
            lines.append(
                "• " + t._("À régler à la mairie : {amount}", amount=t.money(-forecast.balance))
            )
        if forecast.kind is WalletKind.ACCOUNT and forecast.estimated_cost:
            lines.append(
                "• "
                + t._(
                    "Réservations facturées d'ici le {day} : {amount}",
                    day=t.day(until),
                    amount=t.money(forecast.estimated_cost),
                )
            )
    first_of_month = today.replace(day=1)
    last_month = (first_of_month - timedelta(days=1)).replace(day=1)
    for month_start in (first_of_month, last_month):
        statement = await month_statement(
            turn.db, state.household_id, month_start.year, month_start.month, turn.tz
        )
        lines.append("")
        lines.append(t._("{month} :", month=t.month(month_start)).capitalize())
        lines.append(
            t.n_("{count} consommation", "{count} consommations", len(statement.consumptions))
            + (
                " — " + price_text(turn, statement.consumed_cents, 0)
                if statement.consumed_cents
                else ""
            )
            + (
                " — " + t.n_("{count} coupon", "{count} coupons", statement.consumed_coupons)
                if statement.consumed_coupons
                else ""
            )
        )
        for line in statement.consumptions[:8]:
            lines.append(
                f"  · {t.short_day(line.day)} {line.participant} — {line.activity} — {price_text(turn, line.price_cents, line.coupons)}"
            )
        if len(statement.consumptions) > 8:
            lines.append("  · …")
        if statement.payments:
            lines.append(t._("Règlements et remboursements :"))
            for payment in statement.payments[:8]:
                amount = (
                    t.n_("{count} coupon", "{count} coupons", payment.amount)
                    if payment.wallet is WalletKind.COUPONS
                    else t.money(payment.amount)
                )
                what = " ".join(part for part in (payment.label, amount) if part)
                lines.append(f"  · {t.short_day(payment.at.date())} — {what}")
        else:
            lines.append(t._("Aucun règlement."))
    history = await history_lines(turn)
    if history:
        lines.append("")
        lines.extend(history)
    turn.say("\n".join(lines), [*await payment_rows(turn), nav_row(turn, back=False)])


@action("browse")
async def open_browse(turn: Turn, category: str | None) -> None:
    # A type chosen on the list narrows the age and dates already asked for.
    filters = dict(turn.state.question) if turn.state.step == "browse" else {}
    filters["browse_category"] = category
    turn.state.question = filters
    await turn.show("browse")


@step("browse")
async def show_browse(turn: Turn) -> None:
    """The catalogue without an account: filters by age, category, place and dates."""
    state = turn.state
    state.step = "browse"
    t = turn.t
    filters = state.question or {}
    category = filters.get("browse_category")
    age = filters.get("browse_age")
    date_from = date.fromisoformat(filters["browse_from"]) if filters.get("browse_from") else None
    date_to = date.fromisoformat(filters["browse_to"]) if filters.get("browse_to") else None
    views = await browse(
        turn.db,
        now=turn.now,
        age=age,
        category=Category(category) if category else None,
        date_from=date_from,
        date_to=date_to,
    )
    place = filters.get("browse_place")
    if place:
        views = [view for view in views if view.activity.place == place]
    header = [t._("Activités")]
    if age is not None:
        header.append(t.n_("pour {count} an", "pour {count} ans", age))
    if date_from:
        header.append(
            t._("du {start} au {end}", start=t.day(date_from), end=t.day(date_to or date_from))
        )
    if place:
        header.append(f"— {place}")
    lines = [" ".join(header) + t.colon.rstrip()]
    for view in views[:15]:
        activity = view.activity
        sessions = view.sessions
        open_count = sum(1 for s in sessions if s.availability is Availability.OPEN)
        ages = (
            t._("{low}-{high} ans", low=activity.min_age, high=activity.max_age)
            if activity.max_age
            else t._("dès {low} ans", low=activity.min_age)
        )
        first = sessions[0].session if sessions else None
        price = (
            price_text(
                turn,
                first.price_cents,
                first.coupons if activity.payment_mode.value == "coupons" else 0,
            )
            if first
            else ""
        )
        where = f", {activity.place}" if activity.place else ""
        # Nothing open because booking has not opened yet: say when it opens.
        not_open = (
            Refused(Refusal.NOT_OPEN_YET, opens_at=activity.opens_at)
            if not open_count
            and activity.opens_at is not None
            and any(s.availability is Availability.NOT_OPEN_YET for s in sessions)
            else None
        )
        lines.append(
            f"• {activity.name} ({ages}{where}) — {price} — "
            + t.n_("{count} séance ouverte", "{count} séances ouvertes", open_count)
            + (" — " + t._("à partir du {day}", day=t.short_day(first.day)) if first else "")
            + (" — " + explain(t, not_open) if not_open else "")
        )
    if not views:
        lines.append(t._("Aucune activité ne correspond. Essayez un autre âge ou d'autres dates."))
    lines.append("")
    lines.append(t._("Écrivez par exemple « 7 ans en juillet », ou choisissez un type :"))
    rows = [
        [turn.button(t._(name), "browse", value.value)] for value, name in CATEGORY_NAMES.items()
    ]
    rows = [
        rows[i][0:1] + (rows[i + 1] if i + 1 < len(rows) else []) for i in range(0, len(rows), 2)
    ]
    rows.append(menu_rows(turn)[0])
    rows.append(nav_row(turn, back=False))
    turn.say("\n".join(lines), rows)

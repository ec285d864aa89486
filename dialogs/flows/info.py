"""My bookings (paged, narrowed by child and month, past months too, with what can still be
cancelled), what a message asks to see (a list, a month's history), browsing the catalogue.
Balance and history are in `statement`, receipts in `pay`.

```mermaid
stateDiagram-v2
    menu --> bookings: Mes réservations / Annuler / "réservations de Léa en mars"
    bookings --> bookings: Suite › / ‹ Précédent / a child / a month
    bookings --> recap: Annuler Léa mar. 2 mars
    bookings --> menu: Payer avec le porte-monnaie
    menu --> balance: Solde et historique / "historique de janvier"
    balance --> balance: ‹ janvier 2027 / février 2027 ›
    balance --> download: Télécharger 2027 (a link, an hour)
    balance --> receipts: Mes reçus / "je veux mon reçu"
    receipts --> receipt: R2027-000012 (a printable link)
    receipt --> receipts: Recevoir par e-mail
```
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from booking.models import BookingState, Category, PaymentMode
from booking.refusals import Refusal, Refused
from booking.services.basket import add_to_basket, basket_items
from booking.services.cancellation import cancel_booking
from booking.services.catalogue import Availability, browse
from booking.services.payments import open_payment
from booking.services.queries import household_bookings, quotient_prices
from booking.services.statements import (
    month_bounds,
)
from dialogs.explain import (
    billing_text,
    explain,
)
from dialogs.flows.common import menu_rows, nav_row, price_text, require_login
from dialogs.flows.pay import link_until, pay_choices, payment_link
from dialogs.flows.statement import show_history
from dialogs.i18n import N_
from dialogs.paging import page_of, page_row, range_text
from dialogs.replies import Button
from dialogs.turn import ACTIONS, Turn, action, step
from dialogs.understanding import Frame

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
#: A month named for "my bookings" this far ahead means the last one ("janvier" in March).
AHEAD_AT_MOST = 240


# --- Reading a request for a list ------------------------------------------------------------


def _shift_year(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def asked_period(frame: Frame, today: date, *, past: bool) -> tuple[date, date] | None:
    """The period a request names (first day, day after the last), read as a parent means
    it: "janvier" in March is the January just gone, "juillet" the one to come; a history
    (`past`) is never in the future."""
    if not frame.dates:
        return None
    first, last = min(frame.dates), max(frame.dates)
    this_month = today.replace(day=1)
    later = first > month_bounds(today.year, today.month)[1] - timedelta(days=1)
    if later and (past or (first - today).days > AHEAD_AT_MOST):
        first, last = _shift_year(first, -1), _shift_year(last, -1)
    if past and first > today:
        return None
    if first < this_month.replace(year=this_month.year - 2):
        return None
    return first, last + timedelta(days=1)


def _whole_month(first: date, following: date) -> date | None:
    """The month a period is, when it is exactly one."""
    if first.day == 1 and month_bounds(first.year, first.month)[1] == following:
        return first
    return None


async def show_asked(turn: Turn, intent: str, frame: Frame) -> None:
    """ "mes réservations de Léa en mars", "historique de janvier": the list or the statement,
    narrowed by the children and the dates the message names."""
    today = turn.now.astimezone(turn.tz).date()
    if intent == "bookings":
        period = asked_period(frame, today, past=False)
        turn.state.question = {
            "bookings": {
                "children": list(frame.child_ids),
                "from": period[0].isoformat() if period else None,
                "to": period[1].isoformat() if period else None,
            }
        }
        await turn.show("bookings")
    elif intent == "balance":
        period = asked_period(frame, today, past=True)
        await show_history(turn, period[0].replace(day=1) if period else None)
    else:
        await turn.show(intent)


# --- My bookings -----------------------------------------------------------------------------


@action("bookings")
@require_login
async def open_bookings(turn: Turn) -> None:
    turn.state.question = {"bookings": {}}
    await turn.show("bookings")


@action("bookings_list")
@require_login
async def narrow_bookings(
    turn: Turn, children: list[int], start: str | None, end: str | None, page: int = 0
) -> None:
    """A child, a month, a page chosen on the list."""
    filters = _list_filters(turn)
    filters.update({"children": children, "from": start, "to": end, "page": page})
    turn.state.question = {"bookings": filters}
    await turn.show("bookings")


@action("bookings_page")
@require_login
async def bookings_page(turn: Turn, page: int) -> None:
    filters = _list_filters(turn)
    filters["page"] = page
    turn.state.question = {"bookings": filters}
    await turn.show("bookings")


def _list_filters(turn: Turn) -> dict[str, Any]:
    return dict(turn.state.question.get("bookings") or {})


def _child_order(items: list) -> list:
    """Per child (in the order they first come), each child's bookings by date."""
    first_seen: dict[int, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.booking.participant_id, index)
    return sorted(items, key=lambda item: first_seen[item.booking.participant_id])


@step("bookings")
async def show_bookings(turn: Turn, bookings: list | None = None) -> None:
    """The household's bookings a page at a time, per child; a button for each one that can
    still be cancelled; buttons to narrow by child and by month. `bookings` (a request's
    matches) narrows the list to them."""
    state = turn.state
    if not state.logged_in:
        await turn.show("start")
        return
    state.step = "bookings"
    t = turn.t
    if bookings is not None:
        state.question = {"bookings": {"ids": [item.booking.id for item in bookings]}}
    filters = _list_filters(turn)
    start = date.fromisoformat(filters["from"]) if filters.get("from") else None
    end = date.fromisoformat(filters["to"]) if filters.get("to") else None
    children = list(filters.get("children") or [])
    every = await household_bookings(
        turn.db,
        state.household_id,
        turn.now,
        turn.tz,
        first=start,
        following=end,
        ids=filters.get("ids"),
    )
    mine = [item for item in every if not children or item.booking.participant_id in children]
    if not mine:
        rows = [[turn.button(t._("Réserver"), "book")]]
        if start or children or filters.get("ids"):
            rows.insert(0, [turn.button(t._("Toutes mes réservations"), "bookings")])
        turn.say(
            t._("Aucune réservation à venir.")
            if not (start or children)
            else t._("Aucune réservation ne correspond."),
            [*rows, nav_row(turn, back=False)],
        )
        return
    mine = _child_order(mine)
    shown, page = page_of(mine, int(filters.get("page") or 0))
    lines = [_list_title(turn, start, end, children, mine, page)]
    lines += _booking_lines(turn, shown)
    rows = _cancel_rows(turn, shown, every)
    if state.to_cancel:
        rows.insert(0, [turn.button(t._("Récapitulatif et confirmation"), "recap")])
    paging = page_row(turn, page, len(mine), "bookings_page")
    if paging:
        rows.append(paging)
    if not filters.get("ids"):
        rows += await _narrowing_rows(turn, every, children, start, end)
    else:
        rows.append([turn.button(t._("Toutes mes réservations"), "bookings")])
    rows.append(nav_row(turn, back=False))
    link = None
    unpaid = await open_payment(turn.db, state.household_id, turn.now)
    if unpaid is not None:  # places kept until paid: the link again, where the parent looks
        lines.append("")
        if unpaid.details.get("retry_of"):
            lines.append(t._("Le paiement précédent n'a pas abouti : rien n'a été payé."))
        lines.append(
            t._("En attente de paiement : {amount}.", amount=t.money(unpaid.amount_cents))
            + " "
            + link_until(turn, unpaid)
        )
        link = payment_link(turn, unpaid)
        rows = [*await pay_choices(turn, unpaid), *rows]
    turn.say("\n".join(lines), rows, link=link)


def _list_title(
    turn: Turn, start: date | None, end: date | None, children: list[int], mine: list, page: int
) -> str:
    """ "Vos réservations de mars 2027 :", then "1-8 sur 40 · Léa" when paged or narrowed."""
    t = turn.t
    if start is None:
        title = t._("Vos prochaines réservations :")
    elif end is not None and (month := _whole_month(start, end)) is not None:
        title = t._("Vos réservations en {month} :", month=t.month(month))
    else:
        last = (end - timedelta(days=1)) if end is not None else start
        title = t._("Vos réservations du {start} au {end} :", start=t.day(start), end=t.day(last))
    detail = [range_text(turn, page, len(mine))]
    if children:
        names: list[str] = []
        for item in mine:
            if item.booking.participant.first_name not in names:
                names.append(item.booking.participant.first_name)
        detail.append(", ".join(names))
    detail = [part for part in detail if part]
    return title + ("\n" + " · ".join(detail) if detail else "")


def _booking_lines(turn: Turn, shown: list) -> list[str]:
    t = turn.t
    lines: list[str] = []
    billed: list[str] = []
    current_child = None
    for item in shown:
        booking = item.booking
        session = booking.session
        if booking.participant.first_name != current_child:
            current_child = booking.participant.first_name
            lines.append(f"\n{current_child}")
        begun = session.starts_at <= turn.now
        status = t._("passé") if begun else t._(STATE_NAMES.get(booking.state, booking.state.value))
        lines.append(
            f"• {t.day(session.day)} {t.time(session.starts_at.astimezone(turn.tz))}"
            f" — {session.activity.name} ({status})"
            + (
                ""
                if item.cancel_refusal is None or begun
                else " — " + t._("ne peut plus être annulé")
            )
        )
        billing = billing_text(t, session.activity.payment_mode, session.day)
        note = f"{session.activity.name}{t.colon}{billing}."
        if billing and booking.state is BookingState.CONFIRMED and note not in billed:
            billed.append(note)
    if billed:
        lines.append("")
        lines += billed
    return lines


def _cancel_rows(turn: Turn, shown: list, every: list) -> list[list[Button]]:
    t = turn.t
    same_day = Counter(
        (item.booking.participant_id, item.booking.session.day)
        for item in every
        if item.cancel_refusal is None
    )
    rows = []
    for item in shown:
        if item.cancel_refusal is not None:
            continue
        booking = item.booking
        marked = "☑ " if booking.id in turn.state.to_cancel else ""
        day = t.short_day(booking.session.day)
        if same_day[(booking.participant_id, booking.session.day)] > 1:
            day += f" · {booking.session.activity.name}"  # two bookings that day
        label = marked + t._("Annuler {name} {day}", name=booking.participant.first_name, day=day)
        rows.append([turn.button(label, "mark_cancel", booking.id)])
    return rows


async def _narrowing_rows(
    turn: Turn, every: list, children: list[int], start: date | None, end: date | None
) -> list[list[Button]]:
    """A button per child and per month having bookings; "all" to widen again."""
    t = turn.t
    period = [start.isoformat() if start else None, end.isoformat() if end else None]
    kids: dict[int, str] = {}
    for item in every:
        kids.setdefault(item.booking.participant_id, item.booking.participant.first_name)
    rows: list[list[Button]] = []
    if len(kids) > 1 or children:
        row = [
            turn.button(("✓ " if kid in children else "") + name, "bookings_list", [kid], *period)
            for kid, name in kids.items()
        ]
        if children:
            row.append(turn.button(t._("Tous les enfants"), "bookings_list", [], *period))
        rows += [row[i : i + 3] for i in range(0, len(row), 3)]
    # Months from the upcoming bookings (whatever period is shown now).
    upcoming = (
        every
        if start is None
        else await household_bookings(turn.db, turn.state.household_id, turn.now, turn.tz)
    )
    months = sorted(
        {
            item.booking.session.day.replace(day=1)
            for item in upcoming
            if not children or item.booking.participant_id in children
        }
    )
    if len(months) > 1 or start is not None:
        row = []
        for month in months:
            first, following = month_bounds(month.year, month.month)
            chosen = start == first and end == following
            label = ("✓ " if chosen else "") + t.month(month)
            row.append(
                turn.button(
                    label, "bookings_list", children, first.isoformat(), following.isoformat()
                )
            )
        if start is not None:
            row.append(turn.button(t._("Tous les mois"), "bookings_list", children, None, None))
        rows += [row[i : i + 3] for i in range(0, len(row), 3)]
    return rows


@action("mark_cancel")
@require_login
async def mark_cancel(turn: Turn, booking_id: int) -> None:
    """Pick (or unpick) a booking to cancel; the recap asks for confirmation."""
    still = await household_bookings(
        turn.db, turn.state.household_id, turn.now, turn.tz, ids=[booking_id]
    )
    if not still:
        turn.say(turn.t._("Cette réservation n'est plus à venir."))
    elif booking_id in turn.state.to_cancel:
        turn.state.to_cancel.remove(booking_id)
    elif _nothing_to_check(still[0]) and not turn.state.to_cancel:
        await _cancel_at_once(turn, still[0])
        return
    else:
        turn.state.to_cancel.append(booking_id)
        await turn.show("recap")
        return
    await turn.show("bookings")


def _nothing_to_check(item: Any) -> bool:
    """A confirmed booking billed later (a meal, an evening's care), cancellable now: no
    money moves, so the tap cancels it at once and offers to put it back."""
    booking = item.booking
    return (
        item.cancel_refusal is None
        and booking.state is BookingState.CONFIRMED
        and booking.session.activity.payment_mode is PaymentMode.INVOICE
    )


async def _cancel_at_once(turn: Turn, item: Any) -> None:
    t = turn.t
    booking = item.booking
    try:
        await cancel_booking(turn.db, actor=turn.actor, booking_id=booking.id, now=turn.now)
    except Refused as refused:
        turn.say(explain(t, refused))
        await turn.show("bookings")
        return
    turn.say(
        "✓ "
        + t._(
            "{name} — {activity} — {day} : annulé",
            name=booking.participant.first_name,
            activity=booking.session.activity.name,
            day=t.day(booking.session.day),
        )
        + " ("
        + t._("ne sera pas facturé")
        + ")"
    )
    turn.pending_rows.append(
        [turn.button(t._("Rétablir"), "rebook", booking.participant_id, booking.session_id)]
    )
    await turn.show("bookings")


@action("rebook")
@require_login
async def rebook(turn: Turn, participant_id: int, session_id: int) -> None:
    """Put back a booking cancelled by mistake, if its place is still there."""
    t = turn.t
    try:
        await add_to_basket(
            turn.db,
            actor=turn.actor,
            participant_id=participant_id,
            session_id=session_id,
            now=turn.now,
        )
    except Refused as refused:
        turn.say(explain(t, refused))
        await turn.show("bookings")
        return
    _, items = await basket_items(turn.db, turn.state.household_id)
    if len(items) == 1:  # nothing else waits in the basket: confirmed as before
        await ACTIONS["confirm"](turn)
        return
    await turn.show("recap")


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
    by_quotient = await quotient_prices(turn.db, [view.activity.id for view in views[:15]])
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
        if first and activity.id in by_quotient:  # the public price is one band among others
            prices = [*by_quotient[activity.id], first.price_cents]
            price = t._(
                "{price} (prix public ; le vôtre dépend de votre quotient familial : "
                "de {low} à {high})",
                price=price,
                low=t.money(min(prices)),
                high=t.money(max(prices)),
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

"""Booking: choose a child, an activity, days on the calendar or in words; the waitlist."""

from __future__ import annotations

from datetime import date, timedelta

from babel.dates import get_day_names

from booking import rules
from booking.models import Activity, BookingState, Participant
from booking.refusals import Refusal, Refused
from booking.services.basket import (
    add_to_basket,
    basket_items,
    join_waitlist,
    remove_from_basket,
)
from booking.services.cancellation import cancellation_refusal
from booking.services.queries import (
    DayInfo,
    activities_for,
    household_with_children,
    month_days,
)
from dialogs.calendar import day_state, month_calendar
from dialogs.explain import explain
from dialogs.flows.common import basket_line, nav_row, price_text, recap_button, require_login
from dialogs.replies import Button
from dialogs.turn import Turn, action, step
from dialogs.understanding.text import fold

ACTIVITIES_PER_PAGE = 8
TAPPABLE = {"open", "in_basket", "booked", "to_cancel", "waitlist"}


async def children(turn: Turn) -> list[Participant]:
    _, participants = await household_with_children(turn.db, turn.state.household_id)
    return participants


def child_label(turn: Turn, child: Participant) -> str:
    age = rules.age_on(child.birth_date, turn.now.date())
    return turn.t.n_("{name} ({count} an)", "{name} ({count} ans)", age, name=child.first_name)


@action("book")
@require_login
async def start_booking(turn: Turn) -> None:
    turn.state.request = {}
    kids = await children(turn)
    if len(kids) == 1:
        await choose_child(turn, kids[0].id)
        return
    await turn.show("child")


@step("child")
async def show_children(turn: Turn) -> None:
    if not turn.state.logged_in:
        await turn.show("start")
        return
    turn.state.step = "child"
    kids = await children(turn)
    rows = [[turn.button(child_label(turn, child), "child", child.id)] for child in kids]
    rows.append(nav_row(turn))
    turn.say(turn.t._("Pour qui voulez-vous réserver ?"), rows)


@action("child")
@require_login
async def choose_child(turn: Turn, participant_id: int) -> None:
    if participant_id not in {child.id for child in await children(turn)}:
        turn.say(turn.t._("Cet enfant ne fait pas partie de votre compte famille."))
        await turn.show("child")
        return
    turn.state.participant_id = participant_id
    turn.state.activity_id = None
    turn.state.page = 0
    await turn.show("activity")


@step("activity")
async def show_activities(turn: Turn) -> None:
    state = turn.state
    if not state.logged_in or state.participant_id is None:
        await turn.show("child" if state.logged_in else "start")
        return
    state.step = "activity"
    household, kids = await household_with_children(turn.db, state.household_id)
    child = next(c for c in kids if c.id == state.participant_id)
    choices = await activities_for(turn.db, household, child, turn.now)
    t = turn.t
    bookable = [choice.activity for choice in choices if choice.refusal is None]
    pages = max(1, -(-len(bookable) // ACTIVITIES_PER_PAGE))
    page = min(max(state.page, 0), pages - 1)
    shown = bookable[page * ACTIVITIES_PER_PAGE : (page + 1) * ACTIVITIES_PER_PAGE]
    rows = [[turn.button(activity_label(a), "activity", a.id)] for a in shown]
    if pages > 1:
        turn_pages = []
        if page > 0:
            turn_pages.append(turn.button(t._("‹ Précédent"), "activity_page", page - 1))
        if page < pages - 1:
            turn_pages.append(turn.button(t._("Suite ›"), "activity_page", page + 1))
        rows.append(turn_pages)
    # One line per reason: a missing dossier or a debt blocks every activity alike.
    reasons: dict[str, list[str]] = {}
    for choice in choices:
        if choice.refusal is not None and choice.refusal.code not in (
            Refusal.TOO_YOUNG,
            Refusal.TOO_OLD,
        ):
            reasons.setdefault(explain(t, choice.refusal), []).append(choice.activity.name)
    unavailable = [f"• {', '.join(names)}{t.colon}{reason}" for reason, names in reasons.items()]
    text = (
        t._("Quelle activité pour {name} ?", name=child.first_name)
        if bookable
        else t._(
            "Aucune activité ne peut être réservée pour {name} en ce moment.", name=child.first_name
        )
    )
    if pages > 1:
        text += " " + t._(
            "({first}-{last} sur {count})",
            first=page * ACTIVITIES_PER_PAGE + 1,
            last=page * ACTIVITIES_PER_PAGE + len(shown),
            count=len(bookable),
        )
    if unavailable and page == 0:
        text += "\n\n" + t._("Pas disponible pour l'instant :") + "\n" + "\n".join(unavailable)
    if any(c.refusal is not None and c.refusal.code is Refusal.IN_DEBT for c in choices):
        owed = next(
            c.refusal.params.get("owed_cents", 0)
            for c in choices
            if c.refusal is not None and c.refusal.code is Refusal.IN_DEBT
        )
        rows.append([turn.button(t._("Régler {amount}", amount=t.money(owed)), "pay_debt")])
    rows.append(nav_row(turn))
    turn.say(text, rows)


@action("activity_page")
@require_login
async def activity_page(turn: Turn, page: int) -> None:
    turn.state.page = page
    await turn.show("activity")


def activity_label(activity: Activity) -> str:
    """The catalogue's name, with the name parents use beside it: "Restaurant scolaire
    (cantine)"."""
    alias = next(iter(activity.aliases or ()), "")
    if alias and fold(alias) not in fold(activity.name):
        return f"{activity.name} ({alias})"
    return activity.name


@action("usual")
@require_login
async def usual_booking(turn: Turn, participant_id: int, activity_id: int) -> None:
    """The household's usual child and activity, from the menu in one tap: the calendar."""
    if participant_id not in {child.id for child in await children(turn)}:
        await turn.show("menu")
        return
    turn.state.request = {}
    turn.state.participant_id = participant_id
    await choose_activity(turn, activity_id)


@action("activity")
@require_login
async def choose_activity(turn: Turn, activity_id: int) -> None:
    state = turn.state
    household, kids = await household_with_children(turn.db, state.household_id)
    child = next((c for c in kids if c.id == state.participant_id), None)
    if child is None:
        await turn.show("child")
        return
    choices = {c.activity.id: c for c in await activities_for(turn.db, household, child, turn.now)}
    choice = choices.get(activity_id)
    if choice is None or choice.refusal is not None:
        if choice is not None:
            turn.say(explain(turn.t, choice.refusal))
        await turn.show("activity")
        return
    state.activity_id = activity_id
    request = state.request
    if request.get("intent") == "book" and state.participant_id in request.get("children", []):
        # A request is being filled (its dates, its other children): it goes on from here.
        request["activities"] = [activity_id]
        request.setdefault("choice", {})[str(state.participant_id)] = activity_id
        await turn.show("ask")
        return
    first = choice.next_session.day if choice.next_session else turn.now.date()
    state.month = f"{first.year:04d}-{first.month:02d}"
    await turn.show("calendar")


def shown_month(turn: Turn) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in (turn.state.month or "").split("-"))
        date(year, month, 1)
    except ValueError:
        today = turn.now.date()
        return today.year, today.month
    return year, month


def _shift(year: int, month: int, delta: int) -> str:
    index = year * 12 + month - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


async def _month_days(turn: Turn) -> tuple[Participant | None, list[DayInfo]]:
    """The shown month's days of the calendar's activity for its child."""
    state = turn.state
    household, kids = await household_with_children(turn.db, state.household_id)
    child = next((c for c in kids if c.id == state.participant_id), None)
    if child is None or state.activity_id is None:
        return child, []
    year, month = shown_month(turn)
    days = await month_days(
        turn.db,
        household=household,
        participant=child,
        activity_id=state.activity_id,
        year=year,
        month=month,
        now=turn.now,
    )
    return child, days


def _locked(turn: Turn, days: list[DayInfo]) -> set[int]:
    """Bookings of the month that can no longer be cancelled (drawn locked, not tappable)."""
    return {
        info.booking.id
        for info in days
        if info.booking is not None
        and info.booking.state is BookingState.CONFIRMED
        and cancellation_refusal(info.booking, info.session, turn.now, turn.tz) is not None
    }


@step("calendar")
async def show_calendar(turn: Turn) -> None:
    state = turn.state
    if not state.logged_in or state.participant_id is None or state.activity_id is None:
        await turn.show("activity" if state.participant_id else "child")
        return
    state.step = "calendar"
    t = turn.t
    child, days = await _month_days(turn)
    if child is None:
        await turn.show("child")
        return
    year, month = shown_month(turn)
    locked = _locked(turn, days)

    def day_button(info: DayInfo, day_state: str) -> str | None:
        if day_state not in TAPPABLE:
            return None
        return turn.button(t.day(info.day), "day", info.session.id).payload

    this_month = turn.now.year * 12 + turn.now.month
    previous = (
        turn.button(t._("Mois précédent"), "month", _shift(year, month, -1))
        if year * 12 + month > this_month
        else None
    )
    following = turn.button(t._("Mois suivant"), "month", _shift(year, month, 1))
    calendar = month_calendar(
        t,
        year,
        month,
        days,
        day_button=day_button,
        previous=previous,
        following=following,
        marked_for_cancel=set(state.to_cancel),
        locked=locked,
    )
    activity_name = activity_label(days[0].session.activity) if days else ""
    text = t._(
        "{name} — {activity}. Touchez un jour pour l'ajouter au panier ou l'en retirer, ou "
        "écrivez des dates (« tous les mercredis », « du 6 au 10 »).",
        name=child.first_name,
        activity=activity_name or t._("activité"),
    )
    if not days:
        text += "\n" + t._("Pas de séance ce mois-ci : passez au mois suivant.")
    line = await basket_line(turn)
    if line:
        text += "\n" + line
    rows = [*_group_rows(turn, days), *await _confirm_rows(turn)]
    rows += [
        [
            turn.button(t._("Autre activité"), "change_activity"),
            turn.button(t._("Autre enfant"), "change_child"),
        ],
        nav_row(turn),
    ]
    turn.say(text, rows, calendar=calendar)


def _group_rows(turn: Turn, days: list[DayInfo]) -> list[list[Button]]:
    """Whole weekday columns and whole weeks of the month in one tap each: "Tous les lun.",
    "Semaine du 8"."""
    t = turn.t
    pickable = [info for info in days if day_state(info) in ("open", "in_basket")]
    weekdays = sorted({info.day.weekday() for info in pickable})
    mondays = sorted({info.day - timedelta(days=info.day.weekday()) for info in pickable})
    rows = []
    if len(weekdays) > 1 or len({info.day for info in pickable}) > 1:
        names = get_day_names("abbreviated", locale=t.locale)
        rows.append(
            [
                turn.button(t._("Tous les {day}", day=names[weekday]), "pick_weekday", weekday)
                for weekday in weekdays
            ]
        )
    if len(mondays) > 1:
        labels = [
            turn.button(
                t._("Sem. du {day}", day=t.day_number(max(monday, pickable[0].day.replace(day=1)))),
                "pick_week",
                monday.isoformat(),
            )
            for monday in mondays
        ]
        rows += [labels[i : i + 3] for i in range(0, len(labels), 3)]
    return rows


async def _confirm_rows(turn: Turn) -> list[list[Button]]:
    """Confirm from the calendar when nothing needs checking (only days added, no
    cancellation, none lost); the recap stays one tap away."""
    t = turn.t
    _, items = await basket_items(turn.db, turn.state.household_id)
    if not items or turn.state.to_cancel:
        return [[recap_button(turn)]]
    total = sum(item.price_cents for item in items)
    coupons = sum(item.coupons for item in items)
    label = t.n_(
        "Confirmer {count} séance · {price}",
        "Confirmer {count} séances · {price}",
        len(items),
        price=t.money(total) if not coupons else price_text(turn, total, coupons),
    )
    return [[turn.button(label, "confirm")], [recap_button(turn)]]


async def _toggle_group(turn: Turn, chosen: list[DayInfo], what: str) -> None:
    """Add the open days of a group to the basket, or take them all out when all are in."""
    t = turn.t
    state = turn.state
    held = [info for info in chosen if day_state(info) == "in_basket"]
    free = [info for info in chosen if day_state(info) == "open"]
    if not free and held:
        for info in held:
            await remove_from_basket(
                turn.db, actor=turn.actor, booking_id=info.booking.id, now=turn.now
            )
        turn.say(
            t.n_(
                "{what} : {count} séance retirée du panier.",
                "{what} : {count} séances retirées du panier.",
                len(held),
                what=what,
            )
        )
        await turn.show("calendar")
        return
    if not free:
        turn.say(t._("{what} : aucun jour libre à ajouter.", what=what))
        await turn.show("calendar")
        return
    added, refused = [], []
    for info in free:
        try:
            await add_to_basket(
                turn.db,
                actor=turn.actor,
                participant_id=state.participant_id,
                session_id=info.session.id,
                now=turn.now,
            )
        except Refused as refusal:
            refused.append(f"• {t.short_day(info.day)}{t.colon}{explain(t, refusal)}")
        else:
            added.append(info.day)
    lines = []
    if added:
        lines.append(
            t.n_(
                "{what} : {count} séance ajoutée au panier.",
                "{what} : {count} séances ajoutées au panier.",
                len(added),
                what=what,
            )
        )
    if refused:
        lines.append(t._("Pas possible :") + "\n" + "\n".join(refused))
    turn.say("\n".join(lines))
    await turn.show("calendar")


@action("pick_weekday")
@require_login
async def pick_weekday(turn: Turn, weekday: int) -> None:
    _, days = await _month_days(turn)
    names = get_day_names("wide", locale=turn.t.locale)
    what = turn.t._("Tous les {day}s", day=names[weekday])
    await _toggle_group(turn, [info for info in days if info.day.weekday() == weekday], what)


@action("pick_week")
@require_login
async def pick_week(turn: Turn, monday: str) -> None:
    first = date.fromisoformat(monday)
    _, days = await _month_days(turn)
    what = turn.t._("Semaine du {day}", day=turn.t.day(first))
    chosen = [info for info in days if first <= info.day < first + timedelta(days=7)]
    await _toggle_group(turn, chosen, what)


@action("month")
@require_login
async def change_month(turn: Turn, month: str) -> None:
    turn.state.month = month
    await turn.show("calendar")


@action("change_activity")
async def change_activity(turn: Turn) -> None:
    await turn.show("activity")


@action("change_child")
async def change_child(turn: Turn) -> None:
    turn.state.participant_id = None
    await turn.show("child")


@action("day")
@require_login
async def toggle_day(turn: Turn, session_id: int) -> None:
    """Tap on a day: add it, take it out of the basket, or mark a booking for cancellation."""
    state = turn.state
    t = turn.t
    household, kids = await household_with_children(turn.db, state.household_id)
    child = next((c for c in kids if c.id == state.participant_id), None)
    year, month = shown_month(turn)
    days = (
        await month_days(
            turn.db,
            household=household,
            participant=child,
            activity_id=state.activity_id,
            year=year,
            month=month,
            now=turn.now,
        )
        if child is not None and state.activity_id is not None
        else []
    )
    info = next((d for d in days if d.session.id == session_id), None)
    if info is None:
        turn.say(t._("Ce jour n'est plus proposé."))
        await turn.show("calendar")
        return
    booking = info.booking
    if booking is not None and booking.state is BookingState.HELD:
        await remove_from_basket(turn.db, actor=turn.actor, booking_id=booking.id, now=turn.now)
        turn.say(t._("{day} retiré du panier.", day=t.day(info.day)))
    elif (
        booking is not None
        and booking.id not in state.to_cancel
        and (refusal := cancellation_refusal(booking, info.session, turn.now, turn.tz))
    ):
        turn.say(f"{t.day(info.day)}{t.colon}{explain(t, refusal)}")
    elif booking is not None:
        if booking.id in state.to_cancel:
            state.to_cancel.remove(booking.id)
            turn.say(t._("{day} : annulation retirée.", day=t.day(info.day)))
        else:
            state.to_cancel.append(booking.id)
            turn.say(t._("{day} sera annulé quand vous confirmerez.", day=t.day(info.day)))
    else:
        await add_session(turn, child.id, session_id, info.day)
    await turn.show("calendar")


async def add_session(turn: Turn, participant_id: int, session_id: int, day: date) -> bool:
    """Add one session to the basket and say so; a full one with a waitlist is offered it."""
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
        if refused.code is Refusal.FULL and refused.params.get("waitlist"):
            turn.say(t._("{day} est complet.", day=t.day(day)) + " " + explain(t, refused))
            turn.pending_rows.append(
                [
                    turn.button(
                        t._("Liste d'attente {day}", day=t.short_day(day)),
                        "join_waitlist",
                        participant_id,
                        session_id,
                    )
                ]
            )
            return False
        turn.say(f"{t.day(day)}{t.colon}{explain(t, refused)}")
        return False
    turn.say(t._("{day} ajouté au panier.", day=t.day(day)))
    return True


@action("calendar")
async def back_to_calendar(turn: Turn) -> None:
    await turn.show("calendar")


@action("join_waitlist")
@require_login
async def waitlist(turn: Turn, participant_id: int, session_id: int) -> None:
    t = turn.t
    try:
        booking, position = await join_waitlist(
            turn.db,
            actor=turn.actor,
            participant_id=participant_id,
            session_id=session_id,
            now=turn.now,
        )
    except Refused as refused:
        turn.say(explain(t, refused))
    else:
        turn.say(
            t._(
                "C'est noté : vous êtes en position {position} sur la liste d'attente. "
                "Je vous préviendrai dès qu'une place se libère.",
                position=position,
            )
        )
    await turn.show("calendar")

"""Booking: choose a child, an activity, days on the calendar or in words; the waitlist."""

from __future__ import annotations

from datetime import date

from booking import rules
from booking.models import BookingState, Participant
from booking.refusals import Refusal, Refused
from booking.services.basket import add_to_basket, join_waitlist, remove_from_basket
from booking.services.queries import (
    DayInfo,
    activities_for,
    household_with_children,
    month_days,
    sessions_on_days,
)
from dialogs.calendar import month_calendar
from dialogs.dates import DateSelection
from dialogs.explain import explain
from dialogs.flows.common import basket_line, nav_row, recap_button, require_login
from dialogs.turn import Turn, action, step

TAPPABLE = {"open", "in_basket", "booked", "waitlist"}


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
    rows = [
        [turn.button(choice.activity.name, "activity", choice.activity.id)]
        for choice in choices
        if choice.refusal is None
    ]
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
        if rows
        else t._(
            "Aucune activité ne peut être réservée pour {name} en ce moment.", name=child.first_name
        )
    )
    if unavailable:
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


@step("calendar")
async def show_calendar(turn: Turn) -> None:
    state = turn.state
    if not state.logged_in or state.participant_id is None or state.activity_id is None:
        await turn.show("activity" if state.participant_id else "child")
        return
    state.step = "calendar"
    t = turn.t
    household, kids = await household_with_children(turn.db, state.household_id)
    child = next(c for c in kids if c.id == state.participant_id)
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
    )
    activity_name = days[0].session.activity.name if days else ""
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
    rows = [
        [recap_button(turn)],
        [
            turn.button(t._("Autre activité"), "change_activity"),
            turn.button(t._("Autre enfant"), "change_child"),
        ],
        nav_row(turn),
    ]
    turn.say(text, rows, calendar=calendar)


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


async def add_days(
    turn: Turn, participant_id: int, activity_id: int, selection: DateSelection
) -> int:
    """Add the activity's sessions on the chosen days; one message says what was added and
    why the others were not (full days with a waitlist get a button each)."""
    t = turn.t
    sessions = await sessions_on_days(turn.db, activity_id, selection.dates)
    if not sessions:
        turn.say(t._("Pas de séance de cette activité à ces dates."))
        return 0
    if len(sessions) == 1:
        return int(await add_session(turn, participant_id, sessions[0].id, sessions[0].day))
    first = sessions[0].day
    turn.state.month = f"{first.year:04d}-{first.month:02d}"
    added: list[str] = []
    refused: list[str] = []
    waitlist_rows = []
    for session in sessions:
        try:
            await add_to_basket(
                turn.db,
                actor=turn.actor,
                participant_id=participant_id,
                session_id=session.id,
                now=turn.now,
            )
        except Refused as refusal:
            refused.append(f"• {t.short_day(session.day)}{t.colon}{explain(t, refusal)}")
            if refusal.code is Refusal.FULL and refusal.params.get("waitlist"):
                label = t._("Liste d'attente {day}", day=t.short_day(session.day))
                waitlist_rows.append(
                    [turn.button(label, "join_waitlist", participant_id, session.id)]
                )
        else:
            added.append(t.short_day(session.day))
    lines = []
    if added:
        lines.append(
            t.n_(
                "{count} séance ajoutée au panier :",
                "{count} séances ajoutées au panier :",
                len(added),
            )
            + " "
            + ", ".join(added)
        )
    if refused:
        lines.append(t._("Pas possible :") + "\n" + "\n".join(refused))
    turn.say("\n".join(lines))
    turn.pending_rows.extend(waitlist_rows[:6])
    return len(added)

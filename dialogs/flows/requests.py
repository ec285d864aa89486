"""The conversation policy over what a message says: one request frame per message, merged into
the request being filled (kept in the state), the next missing slot asked, and a complete
request taken straight to the recap.

```mermaid
stateDiagram-v2
    [*] --> understood: a typed message
    understood --> merged: book / a correction (ajoute, enlève, plutôt, et pour X aussi)
    merged --> ask: a child, an activity (a real tie), a period or a date to pick is missing
    ask --> merged: a button or a message fills it
    merged --> calendar: no date yet
    calendar --> merged: dates typed
    merged --> recap: child + activity + dates: added to the basket
    recap --> merged: a correction
    understood --> recap: cancel naming its bookings
```
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date

from sqlalchemy import select

from booking import rules
from booking.models import Activity, BookingState, Session
from booking.refusals import Refusal, Refused
from booking.school_calendar import school_holidays
from booking.services.basket import add_to_basket, basket_items, remove_from_basket
from booking.services.catalogue import browse
from booking.services.eligibility import load_household
from booking.services.queries import (
    activities_for,
    household_with_children,
    sessions_covering,
    upcoming_bookings,
)
from dialogs.dates import DateSelection, read_dates
from dialogs.explain import explain
from dialogs.flows import booking as booking_flow
from dialogs.flows.booking import shown_month
from dialogs.flows.common import (
    go_back,
    nav_row,
    not_understood,
    require_login,
    set_language,
    show_help,
    show_menu,
)
from dialogs.flows.info import CATEGORY_NAMES, show_asked, show_bookings
from dialogs.flows.pay import payment_request_text
from dialogs.turn import ACTIONS, Turn, action, step
from dialogs.understanding import ActivityInfo, Catalogue, ChildInfo, Frame, understand
from dialogs.understanding.activities import CATEGORY_WORDS
from dialogs.understanding.text import fold

#: Refusals that hold for every day of an activity: said once, not once per day.
WHOLE = (
    Refusal.ENROLMENT_REQUIRED,
    Refusal.ENROLMENT_PENDING,
    Refusal.ENROLMENT_REFUSED,
    Refusal.DOSSIER_INCOMPLETE,
    Refusal.IN_DEBT,
)
#: Steps in the middle of a booking: a request typed there continues the one being filled.
BOOKING_STEPS = ("child", "activity", "calendar", "waitlist_offer", "recap", "ask")
#: What the profile's words open ("mon compte", "changer mon mot de passe"…), logged in.
PROFILE_INTENTS = ("profile", "change_password", "change_email")
SERVICE_INTENTS = (
    "book",
    "cancel",
    "bookings",
    "balance",
    "basket",
    "logout",
    "top_up",
    "buy_coupons",
    "pay_debt",
    "notifications",
    "receipts",
    *PROFILE_INTENTS,
    "export_data",
)


# --- What the understanding layer is given ------------------------------------------------


async def _children(turn: Turn) -> list[ChildInfo]:
    if not turn.state.logged_in:
        return []
    _, kids = await household_with_children(turn.db, turn.state.household_id)
    return [ChildInfo(kid.id, kid.first_name, kid.birth_date) for kid in kids]


async def _catalogue(turn: Turn) -> Catalogue:
    today = turn.now.astimezone(turn.tz).date()
    activities = (await turn.db.scalars(select(Activity).order_by(Activity.id))).all()
    days: dict[int, set[date]] = defaultdict(set)
    rows = await turn.db.execute(
        select(Session.activity_id, Session.day).where(
            Session.day >= today, Session.cancelled_at.is_(None)
        )
    )
    for activity_id, day in rows:
        days[activity_id].add(day)
    zone = None
    if turn.state.household_id is not None:
        household = await load_household(turn.db, turn.state.household_id)
        zone = household.structure.school_zone
    return Catalogue(
        activities=tuple(
            ActivityInfo(
                id=a.id,
                code=a.code,
                name=a.name,
                category=a.category.value,
                aliases=tuple(a.aliases or ()),
                min_age=a.min_age,
                max_age=a.max_age,
                session_days=frozenset(days.get(a.id, ())),
            )
            for a in activities
        ),
        school_holidays=school_holidays(zone, today.year - 1, today.year + 1),
    )


async def read_message(turn: Turn, text: str) -> tuple[Frame, list[ChildInfo], Catalogue]:
    children = await _children(turn)
    catalogue = await _catalogue(turn)
    frame = understand(
        text, now=turn.now, locale=turn.t.locale, children=children, catalogue=catalogue
    )
    return frame, children, catalogue


# --- Entry point ----------------------------------------------------------------------------


async def on_text(turn: Turn, text: str) -> None:
    """A typed message at any step (logins and passwords excepted)."""
    frame, children, catalogue = await read_message(turn, text)
    state = turn.state
    intent = frame.intent
    if intent == "help":
        await show_help(turn)
    elif intent == "menu" and not frame.has_request_content:
        await show_menu(turn)
    elif intent == "back":
        await go_back(turn)
    elif intent in ("language_en", "language_fr"):
        await set_language(turn, intent.removeprefix("language_"))
    elif intent == "logout" and state.logged_in:
        await ACTIONS["logout"](turn)
    elif intent == "devices":
        await turn.show("devices")
    elif intent == "login":
        await ACTIONS["login"](turn)
    elif intent == "password_reset":
        await ACTIONS["forgot_password"](turn)
    elif intent == "browse" or (not state.logged_in and frame.age is not None):
        await browse_text(turn, frame, text)
    elif not state.logged_in:
        if intent in SERVICE_INTENTS or frame.has_request_content:
            turn.say(turn.t._("Connectez-vous d'abord pour cela."))
            await turn.show("login_user")
        else:
            await not_understood(turn, _quote(frame))
    elif intent in ("confirm", "refuse", "abandon"):
        await _step_word(turn, intent)
    elif intent in ("bookings", "balance", "notifications"):
        await show_asked(turn, intent, frame)
    elif intent == "receipts":
        await turn.show("receipts")
    elif intent in PROFILE_INTENTS:
        await ACTIONS[intent](turn)
    elif intent == "export_data":
        await ACTIONS["export_data"](turn)
    elif intent in ("top_up", "buy_coupons", "pay_debt"):
        await payment_request_text(turn, intent, text)
    elif intent == "basket":
        await turn.show("recap")
    elif intent == "cancel":
        await cancel_request(turn, frame)
    elif intent == "book" or frame.has_request_content or frame.unknown_child:
        await book_request(turn, frame, children, catalogue)
    elif frame.modifier and _active_request(turn):
        await book_request(turn, frame, children, catalogue)
    else:
        await not_understood(turn, _quote(frame))


def _quote(frame: Frame) -> str:
    return " … ".join(frame.unplaced)


async def _step_word(turn: Turn, word: str) -> None:
    """ "oui", "valider", "c'est bon", "non", "abandonner": what they mean where the parent is."""
    state = turn.state
    _, items = await basket_items(turn.db, state.household_id)
    busy = bool(items or state.to_cancel or state.request)
    if word == "confirm":
        if state.step == "recap":
            await ACTIONS["confirm"](turn)
        elif busy or state.step in BOOKING_STEPS:
            await turn.show("recap")
        else:
            await not_understood(turn)
    elif word == "refuse" and state.step not in ("recap", *BOOKING_STEPS):
        await show_menu(turn)
    elif busy or state.step in BOOKING_STEPS:
        await ACTIONS["abandon"](turn)
    else:
        await show_menu(turn)


# --- Booking requests -------------------------------------------------------------------------


def _active_request(turn: Turn) -> dict | None:
    request = turn.state.request
    if request.get("intent") == "book" and turn.state.step in BOOKING_STEPS:
        return request
    return None


def _seed(turn: Turn) -> dict:
    """The request a message at a booking step continues: the one being filled, else what the
    screen shows (the calendar's child and activity)."""
    request = _active_request(turn)
    if request is not None:
        return request
    state = turn.state
    seeded: dict = {"intent": "book", "children": [], "activities": [], "choice": {}}
    if state.step in ("activity", "calendar", "waitlist_offer") and state.participant_id:
        seeded["children"] = [state.participant_id]
    if state.step in ("calendar", "waitlist_offer") and state.activity_id:
        seeded["activities"] = [state.activity_id]
        seeded["choice"] = {str(state.participant_id): state.activity_id}
    return seeded


def _merge(request: dict, frame: Frame, *, at_calendar: bool = False) -> dict:
    """Fill the request with what the message says: a slot named is replaced, or changed when
    the message says "ajoute"/"enlève"; every other slot is kept. Days typed at the calendar
    are added to those already chosen there."""
    merged = dict(request)
    modifier = frame.modifier
    if frame.child_ids:
        old = list(request.get("children") or [])
        if modifier == "add":
            merged["children"] = old + [c for c in frame.child_ids if c not in old]
        elif modifier == "remove" and not frame.dates and not frame.activity_ids:
            merged["children"] = [c for c in old if c not in frame.child_ids]
        else:
            merged["children"] = list(frame.child_ids)
    if frame.activity_ids:
        merged["activities"] = list(frame.activity_ids)
        merged["choice"] = {}
    if frame.dates is not None:
        old_dates = request.get("dates") or []
        new = [d.isoformat() for d in frame.dates]
        if modifier == "add" or (modifier is None and at_calendar):
            merged["dates"] = sorted(set(old_dates) | set(new))
        elif modifier == "remove":
            merged["dates"] = sorted(set(old_dates) - set(new))
        else:
            merged["dates"] = sorted(new)
        merged.pop("recurring", None)
    if frame.unbounded and frame.dates is None:
        merged["recurring"] = frame.recurring_text
        merged["recurring_words"] = frame.recurring_words or frame.recurring_text
        merged.pop("dates", None)
    return merged


async def book_request(
    turn: Turn, frame: Frame, children: list[ChildInfo], catalogue: Catalogue
) -> None:
    """Book from a sentence, or go on with the request being filled."""
    request = _seed(turn)
    # A message naming a child and an activity is a new request, not a correction of the
    # one before ("garderie du soir pour Paolo" after a canteen request for Léa).
    # "inscris…", "réserve…" without "aussi"/"plutôt" starts one as well.
    new_subject = frame.child_ids and frame.activity_ids and frame.modifier is None
    if new_subject or (frame.intent == "book" and frame.modifier is None):
        request = {"intent": "book", "children": [], "activities": [], "choice": {}}
    at_calendar = turn.state.step in ("calendar", "waitlist_offer")
    if frame.modifier == "remove" and frame.dates:
        kept = set(request.get("dates") or ())
        absent = [day for day in frame.dates if day.isoformat() not in kept]
        if absent and len(absent) == len(frame.dates):
            turn.recap_notes.append(
                turn.t._(
                    "Rien à enlever : {days} n'était pas dans votre demande.",
                    days=", ".join(turn.t.day(day) for day in absent),
                )
            )
    turn.state.request = _merge(request, frame, at_calendar=at_calendar)
    if frame.unknown_child and not frame.child_ids:
        turn.state.request["children"] = []
        turn.state.request["ask_child"] = True  # never the only child in place of a stranger
    _say_understood(turn, frame, children, catalogue)
    if frame.ambiguous_dates:
        adding = frame.modifier == "add" or (frame.modifier is None and at_calendar)
        turn.state.request["date_mode"] = (
            "remove" if frame.modifier == "remove" else ("add" if adding else "replace")
        )
        _ask_which_date(turn, frame.ambiguous_text, frame.ambiguous_dates)
        return
    await resume(turn)


def _say_understood(
    turn: Turn, frame: Frame, children: list[ChildInfo], catalogue: Catalogue
) -> None:
    """Say what was understood when part of the message was not, or a date does not exist."""
    t = turn.t
    lines = []
    if frame.unknown_child:
        lines.append(t._("Je ne trouve pas cet enfant dans votre compte famille."))
    for fragment in frame.invalid_dates:
        lines.append(t._("« {text} » : cette date n'existe pas.", text=fragment))
    if frame.unplaced:
        names = {child.id: child.name for child in children}
        activities = {a.id: a.name for a in catalogue.activities}
        understood = [names[c] for c in frame.child_ids if c in names]
        understood += [activities[a] for a in frame.activity_ids if a in activities]
        if frame.dates:
            understood.append(_days_summary(turn, frame.dates))
        if understood:
            lines.append(t._("J'ai compris : {what}.", what=", ".join(understood)))
        # With no date yet, what was not understood was most likely meant as dates.
        no_dates = frame.dates is None and not turn.state.request.get("dates")
        dated = [f for f in frame.unplaced if no_dates or f in frame.date_like_unplaced]
        other = [f for f in frame.unplaced if f not in dated]
        if dated:
            lines.append(
                t._(
                    "Je n'ai pas compris « {text} » comme des dates : essayez « tous les lundis "
                    "de mars », « du 6 au 10 » ou touchez le calendrier.",
                    text=" … ".join(dated),
                )
            )
        if other:
            lines.append(t._("Je n'ai pas compris « {text} ».", text=" … ".join(other)))
    if lines:
        turn.say("\n".join(lines))


def _days_summary(turn: Turn, days: tuple[date, ...]) -> str:
    if len(days) <= 3:
        return ", ".join(turn.t.day(day) for day in days)
    return turn.t._(
        "{count} jours du {first} au {last}",
        count=len(days),
        first=turn.t.day(days[0]),
        last=turn.t.day(days[-1]),
    )


async def resume(turn: Turn) -> None:
    """Ask the next missing slot of the request, or carry it out when nothing is missing."""
    state = turn.state
    request = state.request
    household, kids = await household_with_children(turn.db, state.household_id)
    children = request.get("children") or []
    if not children and len(kids) == 1 and not request.get("ask_child"):
        children = request["children"] = [kids[0].id]
    children = [c for c in children if c in {kid.id for kid in kids}]
    if not children:
        _ask_child(turn, kids)
        return
    request["children"] = children
    choice: dict[str, int] = request.setdefault("choice", {})
    today = turn.now.astimezone(turn.tz).date()
    dates = [date.fromisoformat(d) for d in request.get("dates") or []]
    for kid in (k for k in kids if k.id in children):
        if str(kid.id) in choice:
            continue
        options = await activities_for(turn.db, household, kid, turn.now)
        allowed = {o.activity.id: o for o in options}
        wanted = [a for a in request.get("activities") or [] if a in allowed]
        if not request.get("activities"):
            await _ask_activity(turn, kid.id)
            return
        if not wanted:
            wanted = [a for a in request["activities"]]
        wanted = list(dict.fromkeys(_age_group_for(a, options) for a in wanted))
        fitting = [
            a
            for a in wanted
            if allowed.get(a) is None
            or allowed[a].refusal is None
            or allowed[a].refusal.code not in (Refusal.TOO_YOUNG, Refusal.TOO_OLD)
        ] or wanted
        if dates and len(fitting) > 1:
            on_days = await _with_sessions(turn, fitting, dates)
            fitting = on_days or fitting
        if len(fitting) > 1:
            _ask_tie(turn, kid, fitting, options)
            return
        choice[str(kid.id)] = fitting[0]
    if not dates:
        if request.get("recurring"):
            await _bound_recurrence(turn)
            return
        first = children[0]
        state.participant_id = first
        state.activity_id = choice[str(first)]
        await _open_calendar(turn)
        return
    await _carry_out(turn, today)


_AGE_GROUP = re.compile(r"\(?\s*\d+\s*-\s*\d+\s*(?:ans|years)?\s*\)?")


def _age_group_for(activity_id: int, options: list) -> int:
    """The same activity for the child's age group: "et pour Léa aussi" after "Mercredis
    loisirs 3-6 ans" is "Mercredis loisirs 6-12 ans" when Léa is 8."""
    by_id = {option.activity.id: option for option in options}
    option = by_id.get(activity_id)
    if option is None or option.refusal is None:
        return activity_id
    if option.refusal.code not in (Refusal.TOO_YOUNG, Refusal.TOO_OLD):
        return activity_id
    base = fold(_AGE_GROUP.sub(" ", option.activity.name)).split()
    for other in options:
        if (
            other.activity.category == option.activity.category
            and fold(_AGE_GROUP.sub(" ", other.activity.name)).split() == base
            and (
                other.refusal is None
                or other.refusal.code not in (Refusal.TOO_YOUNG, Refusal.TOO_OLD)
            )
        ):
            return other.activity.id
    return activity_id


async def _with_sessions(turn: Turn, activity_ids: list[int], days: list[date]) -> list[int]:
    found = []
    for activity_id in activity_ids:
        if await sessions_covering(turn.db, activity_id, days, turn.tz):
            found.append(activity_id)
    return found


def _ask_child(turn: Turn, kids: list) -> None:
    t = turn.t
    turn.state.step = "ask"
    rows = [[turn.button(booking_flow.child_label(turn, kid), "req_child", kid.id)] for kid in kids]
    if sum(rules.age_on(kid.birth_date, turn.now.date()) < 18 for kid in kids) > 1:
        rows.append([turn.button(t._("Tous mes enfants"), "req_child", 0)])
    rows.append(nav_row(turn, back=False))
    turn.say(t._("Pour quel enfant ?"), rows)


async def _ask_activity(turn: Turn, participant_id: int) -> None:
    """No activity named: the activity list of the child (the request keeps its dates)."""
    turn.state.participant_id = participant_id
    await turn.show("activity")


def _ask_tie(turn: Turn, kid, activity_ids: list[int], options: list) -> None:  # noqa: ANN001
    t = turn.t
    turn.state.step = "ask"
    names = {o.activity.id: o.activity.name for o in options}
    rows = [
        [turn.button(names.get(a, str(a)), "req_activity", kid.id, a)]
        for a in activity_ids
        if a in names
    ]
    rows.append(nav_row(turn, back=False))
    turn.say(t._("Quelle activité pour {name} ?", name=kid.first_name), rows)


def _ask_which_date(turn: Turn, text: str, candidates: tuple[date, ...]) -> None:
    t = turn.t
    turn.state.step = "ask"
    turn.say(
        t._("« {text} » : quelle date voulez-vous dire ?", text=text),
        [[turn.button(t.day_with_year(day), "pick_date", day.isoformat())] for day in candidates]
        + [nav_row(turn, back=False)],
    )


async def _bound_recurrence(turn: Turn) -> None:
    """ "tous les mercredis" without a period: the month on the calendar, else ask which."""
    state = turn.state
    request = state.request
    if state.step in ("calendar", "waitlist_offer") and state.month:
        year, month = shown_month(turn)
        await _apply_period(turn, date(year, month, 1))
        return
    t = turn.t
    today = turn.now.astimezone(turn.tz).date()
    months = []
    for offset in range(3):
        index = today.year * 12 + today.month - 1 + offset
        months.append(date(index // 12, index % 12 + 1, 1))
    state.step = "ask"
    turn.say(
        t._("« {text} » : pour quel mois ?", text=request.get("recurring_words", "")),
        [[turn.button(t.month(m).capitalize(), "req_period", m.isoformat()) for m in months]]
        + [nav_row(turn, back=False)],
    )


async def _apply_period(turn: Turn, first_of_month: date) -> None:
    request = turn.state.request
    month_words = {
        "fr": "de {month}",
        "en": "in {month}",
    }
    period = month_words.get(turn.t.locale, "de {month}").format(month=turn.t.month(first_of_month))
    reading = read_dates(
        f"{request.get('recurring', '')} {period}", now=turn.now, locale=turn.t.locale
    )
    request.pop("recurring", None)
    if isinstance(reading.result, DateSelection):
        request["dates"] = [d.isoformat() for d in reading.result.dates]
    await resume(turn)


async def _open_calendar(turn: Turn) -> None:
    state = turn.state
    household, kids = await household_with_children(turn.db, state.household_id)
    kid = next(k for k in kids if k.id == state.participant_id)
    choices = {c.activity.id: c for c in await activities_for(turn.db, household, kid, turn.now)}
    choice = choices.get(state.activity_id)
    if choice is not None and choice.refusal is not None:
        turn.say(explain(turn.t, choice.refusal))
        state.request = {}
        await turn.show("activity")
        return
    first = choice.next_session.day if choice and choice.next_session else turn.now.date()
    state.month = f"{first.year:04d}-{first.month:02d}"
    await turn.show("calendar")


async def _carry_out(turn: Turn, today: date) -> None:
    """Put the request's days in the basket (taking back what a correction removed), then the
    recap, which names the days that could not be added and why."""
    state = turn.state
    request = state.request
    dates = sorted(date.fromisoformat(d) for d in request.get("dates") or [])
    wanted = {
        (child, request["choice"][str(child)], day.isoformat())
        for child in request["children"]
        for day in dates
    }
    done = {tuple(item) for item in request.get("done") or []}
    await _take_back(turn, done - wanted)
    notes: list[str] = []
    groups: dict[tuple[int, int], list[date]] = defaultdict(list)
    for child, activity_id, day in sorted(wanted - done):
        groups[(child, activity_id)].append(date.fromisoformat(day))
    household, kids = await household_with_children(turn.db, state.household_id)
    names = {kid.id: kid.first_name for kid in kids}
    born = {kid.id: kid.birth_date for kid in kids}
    # The oldest first: an adult's place comes before the children it accompanies.
    for (child, activity_id), days in sorted(groups.items(), key=lambda g: born[g[0][0]]):
        kid = next(k for k in kids if k.id == child)
        options = {
            o.activity.id: o for o in await activities_for(turn.db, household, kid, turn.now)
        }
        option = options.get(activity_id)
        if option is not None and option.refusal is not None and option.refusal.code in WHOLE:
            notes.append(
                f"{kid.first_name} — {option.activity.name}{turn.t.colon}"
                + explain(turn.t, option.refusal)
            )
            if option.refusal.code is Refusal.IN_DEBT:
                owed = turn.t.money(option.refusal.params.get("owed_cents", 0))
                label = turn.t._("Régler {amount}", amount=owed)
                turn.pending_rows.append([turn.button(label, "pay_debt")])
            continue
        several = len(groups) > 1 or len(request["children"]) > 1
        notes += await _add_days(turn, child, activity_id, days, names, several=several)
    request["done"] = sorted(list(item) for item in wanted)
    turn.recap_notes = notes
    first = dates[0] if dates else today
    state.participant_id = request["children"][0]
    state.activity_id = request["choice"][str(request["children"][0])]
    state.month = f"{first.year:04d}-{first.month:02d}"
    await turn.show("recap")


async def _take_back(turn: Turn, removed: set) -> None:
    """Basket items that a correction took out of the request ("enlève le 17")."""
    if not removed:
        return
    _, items = await basket_items(turn.db, turn.state.household_id)
    for item in items:
        key = (item.participant_id, item.session.activity_id, item.session.day.isoformat())
        if key in removed and item.state is BookingState.HELD:
            await remove_from_basket(turn.db, actor=turn.actor, booking_id=item.id, now=turn.now)


async def _add_days(
    turn: Turn,
    child: int,
    activity_id: int,
    days: list[date],
    names: dict[int, str],
    *,
    several: bool,
) -> list[str]:
    """Add one child's sessions of one activity on the days asked; lines for those refused."""
    t = turn.t
    sessions = await sessions_covering(turn.db, activity_id, days, turn.tz)
    who = f"{names.get(child, '')}{t.colon}" if several else ""
    if not sessions:
        return [who + t._("Pas de séance de cette activité à ces dates.")]
    refused = []
    _, held = await basket_items(turn.db, turn.state.household_id)
    already = {(b.participant_id, b.session_id) for b in held}
    for session in sessions:
        if (child, session.id) in already:
            continue
        try:
            await add_to_basket(
                turn.db, actor=turn.actor, participant_id=child, session_id=session.id, now=turn.now
            )
        except Refused as refusal:
            refused.append(f"• {t.short_day(session.day)}{t.colon}{explain(t, refusal)}")
            if refusal.code is Refusal.FULL and refusal.params.get("waitlist"):
                label = t._("Liste d'attente {day}", day=t.short_day(session.day))
                if len(turn.pending_rows) < 6:
                    turn.pending_rows.append(
                        [turn.button(label, "join_waitlist", child, session.id)]
                    )
    if not refused:
        return []
    return [who + t._("Pas possible :"), *refused]


@action("req_child")
@require_login
async def request_child(turn: Turn, participant_id: int) -> None:
    _, kids = await household_with_children(turn.db, turn.state.household_id)
    ids = [kid.id for kid in kids]
    minors = [kid.id for kid in kids if rules.age_on(kid.birth_date, turn.now.date()) < 18]
    if participant_id and participant_id not in ids:
        turn.say(turn.t._("Cet enfant ne fait pas partie de votre compte famille."))
        await turn.show("menu")
        return
    request = turn.state.request or {"intent": "book", "activities": [], "choice": {}}
    request["children"] = minors if participant_id == 0 else [participant_id]
    request.pop("ask_child", None)
    turn.state.request = request
    if request.get("intent") == "cancel":
        await _cancel_matching(turn)
    else:
        await resume(turn)


@action("req_activity")
@require_login
async def request_activity(turn: Turn, participant_id: int, activity_id: int) -> None:
    request = turn.state.request
    if request.get("intent") != "book":
        await turn.show()
        return
    request.setdefault("choice", {})[str(participant_id)] = activity_id
    await resume(turn)


@action("req_period")
@require_login
async def request_period(turn: Turn, first_of_month: str) -> None:
    if turn.state.request.get("intent") != "book":
        await turn.show()
        return
    await _apply_period(turn, date.fromisoformat(first_of_month))


@action("pick_date")
@require_login
async def picked_date(turn: Turn, iso_day: str) -> None:
    request = turn.state.request
    mode = request.pop("date_mode", "replace")
    dates = set(request.get("dates") or [])
    if mode == "add":
        dates.add(iso_day)
    elif mode == "remove":
        dates.discard(iso_day)
    else:
        dates = {iso_day}
    request["dates"] = sorted(dates)
    if request.get("intent") == "cancel":
        await _cancel_matching(turn)
    elif request.get("intent") == "book":
        await resume(turn)
    else:
        await turn.show()


@step("ask")
async def show_question(turn: Turn) -> None:
    """The question of the request being filled, asked again (after "retour", a stale tap)."""
    if not turn.state.logged_in or not turn.state.request:
        await show_menu(turn)
        return
    if turn.state.request.get("intent") == "cancel":
        await _cancel_matching(turn)
        return
    await resume(turn)


# --- Cancellation requests --------------------------------------------------------------------


async def cancel_request(turn: Turn, frame: Frame) -> None:
    """ "annule tout pour Paolo la semaine prochaine", "annule la cantine de Léa et de Paolo
    demain": the bookings named go to one recap; a vague request gets the list."""
    turn.state.request = {
        "intent": "cancel",
        "children": list(frame.child_ids),
        "activities": [a for a, _score in _top(frame)],
        "everything": frame.everything,
    }
    if frame.dates is not None:
        turn.state.request["dates"] = [d.isoformat() for d in frame.dates]
    if frame.ambiguous_dates:
        _ask_which_date(turn, frame.ambiguous_text, frame.ambiguous_dates)
        return
    for fragment in frame.invalid_dates:
        turn.say(turn.t._("« {text} » : cette date n'existe pas.", text=fragment))
    await _cancel_matching(turn)


def _top(frame: Frame) -> list[tuple[int, int]]:
    """For a cancellation every activity of the best score counts (no age to decide by)."""
    if not frame.activity_candidates:
        return []
    best = frame.activity_candidates[0][1]
    return [(a, s) for a, s in frame.activity_candidates if s == best]


async def _cancel_matching(turn: Turn) -> None:
    request = turn.state.request
    days = [date.fromisoformat(d) for d in request.get("dates") or []] or None
    child_ids = request.get("children") or []
    activity_ids = request.get("activities") or []
    found = [
        item
        for item in await upcoming_bookings(
            turn.db, turn.state.household_id, turn.now, turn.tz, days=days
        )
        if (not child_ids or item.booking.participant_id in child_ids)
        and (not activity_ids or item.booking.session.activity_id in activity_ids)
    ]
    turn.state.request = {}
    t = turn.t
    if not found:
        turn.say(t._("Je ne trouve pas de réservation à venir qui corresponde."))
        await turn.show("bookings")
        return
    named = days is not None and (child_ids or activity_ids or request.get("everything"))
    if len(found) > 1 and not named and not (request.get("everything") and child_ids):
        turn.say(t._("Plusieurs réservations correspondent : lesquelles annuler ?"))
        await show_bookings(turn, found)
        return
    open_ones = [item for item in found if item.cancel_refusal is None]
    blocked = [item for item in found if item.cancel_refusal is not None]
    if not open_ones:
        turn.say(explain(t, blocked[0].cancel_refusal))
        await turn.show("bookings")
        return
    turn.recap_notes = [
        f"✕ {item.booking.participant.first_name} — {item.booking.session.activity.name} — "
        f"{t.day(item.booking.session.day)}{t.colon}{explain(t, item.cancel_refusal)}"
        for item in blocked
    ]
    turn.state.to_cancel = sorted(
        set(turn.state.to_cancel) | {item.booking.id for item in open_ones}
    )
    await turn.show("recap")


# --- Browsing without an account --------------------------------------------------------------


async def browse_text(turn: Turn, frame: Frame, text: str) -> None:
    """ "quelles activités pour un enfant de 7 ans en juillet ?": age and dates as filters."""
    filters: dict = {}
    if frame.age is not None:
        filters["browse_age"] = frame.age
    if frame.dates:
        filters["browse_from"] = frame.dates[0].isoformat()
        filters["browse_to"] = frame.dates[-1].isoformat()
    folded = fold(text)
    for category in CATEGORY_NAMES:
        if any(
            re.search(rf"(?<![\w-]){re.escape(word)}", folded)
            for word in CATEGORY_WORDS.get(category.value, ())
        ):
            filters["browse_category"] = category.value
            break
    views = await browse(turn.db, now=turn.now)
    place = place_named(folded, {view.activity.place for view in views if view.activity.place})
    if place:
        filters["browse_place"] = place
    turn.state.question = filters
    await turn.show("browse")


#: Words that many places share: they do not single one out.
GENERIC_PLACE_WORDS = {"ecole", "groupe", "scolaire", "salle", "gymnase", "centre", "maison"}


def place_named(folded: str, places: set[str]) -> str | None:
    """The place a folded text names: written in full, or by its distinctive words
    ("au gymnase Coubertin", "à Coubertin")."""
    scores = {}
    for place in places:
        words = {w for w in re.findall(r"[\w-]+", fold(place)) if len(w) >= 4}
        score = 10 * (fold(place) in folded) + sum(
            re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", folded) is not None
            for word in words - GENERIC_PLACE_WORDS
        )
        if score:
            scores[place] = score
    return max(sorted(scores), key=scores.get) if scores else None

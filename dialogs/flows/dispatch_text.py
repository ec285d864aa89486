"""Sentences that carry a whole request: "inscris Léa à la cantine tous les lundis de mars",
"annule mercredi pour Paolo", "quelles activités pour 7 ans en juillet ?"."""

from __future__ import annotations

import re

from dialogs.dates import AmbiguousDate, DateSelection, parse_dates
from dialogs.flows.booking import add_days, ask_which_date, children, choose_child
from dialogs.intents import (
    Named,
    activities_named,
    age_in,
    children_named,
    fold,
    without_activity_names,
)
from dialogs.turn import Turn, action

# Intents that belong to the step being shown (the recap's "oui"/"non"), not global.
STEP_INTENTS = {"confirm", "abandon", None}


async def intent_text(turn: Turn, intent: str | None, text: str) -> bool:
    """Act on a request typed at any step; False when the step should read the text."""
    state = turn.state
    if intent == "browse" or (intent is None and not state.logged_in and age_in(text) is not None):
        await browse_text(turn, text)
        return True
    if intent == "login":
        from dialogs.flows.account import start_login

        await start_login(turn)
        return True
    if not state.logged_in:
        if intent in (
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
        ):
            turn.say(turn.t._("Connectez-vous d'abord pour cela."))
            await turn.show("login_user")
            return True
        return False
    if intent == "bookings":
        await turn.show("bookings")
    elif intent == "balance":
        await turn.show("balance")
    elif intent == "notifications":
        await turn.show("notifications")
    elif intent in ("top_up", "buy_coupons", "pay_debt"):
        from dialogs.flows.pay import payment_request_text

        await payment_request_text(turn, intent, text)
    elif intent == "basket":
        await turn.show("recap")
    elif intent == "cancel":
        await cancel_text(turn, text)
    elif intent == "book" or (intent is None and state.step in ("menu", "child", "activity")):
        return await book_text(turn, text, explicit=intent == "book")
    else:
        return False
    return True


async def _named_things(turn: Turn) -> tuple[list[Named], list[Named]]:
    from booking.services.queries import all_activities

    kids = [Named(c.id, c.first_name) for c in await children(turn)]
    activities = [Named(a.id, a.name, a.category.value) for a in await all_activities(turn.db)]
    return kids, activities


def _dates_in(
    turn: Turn, text: str, activities: list[Named]
) -> DateSelection | AmbiguousDate | None:
    """The dates of a request, its activity names left out ("mercredis loisirs")."""
    stripped = without_activity_names(text, activities)
    if stripped != fold(text):
        text = stripped
    return parse_dates(text, now=turn.now, locale=turn.t.locale)


async def book_text(turn: Turn, text: str, *, explicit: bool) -> bool:
    """Book from a sentence: fill in what it names, ask back what is missing or ambiguous."""
    kids, activities = await _named_things(turn)
    child_ids = children_named(text, kids)
    activity_ids = activities_named(text, activities)
    dates = _dates_in(turn, text, activities)
    if not explicit and not child_ids and not activity_ids:
        return False
    question = {"intent": "book", "activity_ids": activity_ids}
    if isinstance(dates, DateSelection):
        question["dates"] = [d.isoformat() for d in dates.dates]
    turn.state.question = question
    if isinstance(dates, AmbiguousDate):
        if len(child_ids) == 1:
            turn.state.participant_id = child_ids[0]
        await ask_which_date(turn, dates)
        return True
    unknown = unknown_child_name(text, kids, activities) if not child_ids else None
    if unknown is not None:
        turn.say(turn.t._("Je ne trouve pas cet enfant dans votre compte famille."))
    elif len(child_ids) == 1 or len(kids) == 1:
        await _book_with_child(turn, child_ids[0] if child_ids else kids[0].id)
        return True
    turn.state.step = "child"
    rows = [[turn.button(kid.name, "question_child", kid.id)] for kid in kids]
    from dialogs.flows.common import nav_row

    rows.append(nav_row(turn, back=False))
    turn.say(turn.t._("Pour quel enfant ?"), rows)
    return True


_NAME_AFTER = re.compile(
    r"\b(?:inscris|inscrire|inscrivez|reserve|réserve|réserver|reserver|book|pour|for|enrol)"
    r"\s+([A-ZÀ-Ý][\w'-]+)"
)


def unknown_child_name(text: str, kids: list[Named], activities: list[Named]) -> str | None:
    """A capitalised first name after "inscris"/"pour"/"book" that is no child of ours."""
    from dialogs.intents import fold

    known = {fold(kid.name) for kid in kids}
    activity_words = {w for a in activities for w in fold(a.name).split()}
    for name in _NAME_AFTER.findall(text):
        folded = fold(name)
        if folded not in known and folded not in activity_words and len(folded) > 2:
            return name
    return None


@action("question_child")
async def question_child(turn: Turn, participant_id: int) -> None:
    if turn.state.question.get("intent") == "book":
        await _book_with_child(turn, participant_id)
    elif turn.state.question.get("intent") == "cancel":
        turn.state.question["child_ids"] = [participant_id]
        await _cancel_matching(turn)
    else:
        await choose_child(turn, participant_id)


async def _bookable_for_child(
    turn: Turn, participant_id: int, activity_ids: list[int]
) -> list[int]:
    from booking.services.queries import activities_for, household_with_children

    household, kids = await household_with_children(turn.db, turn.state.household_id)
    child = next(kid for kid in kids if kid.id == participant_id)
    choices = await activities_for(turn.db, household, child, turn.now)
    bookable = [
        c.activity.id for c in choices if c.refusal is None and c.activity.id in activity_ids
    ]
    return bookable or activity_ids


async def _book_with_child(turn: Turn, participant_id: int) -> None:
    question = turn.state.question
    await choose_child(turn, participant_id)  # checks the child is the household's
    if turn.state.participant_id != participant_id:
        return
    activity_ids = question.get("activity_ids") or []
    if len(activity_ids) > 1:
        # "mercredis loisirs" names two age groups: keep those this child may book.
        activity_ids = await _bookable_for_child(turn, participant_id, activity_ids)
    if len(activity_ids) != 1:
        turn.state.question = {}
        return  # the activity step is shown: the parent picks among what the child may book
    from dialogs.flows.booking import choose_activity

    turn.replies.pop()  # the activity list is replaced by the calendar
    await choose_activity(turn, activity_ids[0])
    if turn.state.activity_id != activity_ids[0] or not question.get("dates"):
        turn.state.question = {}
        return
    from datetime import date

    selection = DateSelection(tuple(date.fromisoformat(d) for d in question["dates"]))
    turn.replies.pop()  # the calendar is shown again after the days are added
    turn.state.question = {}
    await add_days(turn, participant_id, activity_ids[0], selection)
    await turn.show("calendar")


async def continue_question(turn: Turn, selection: DateSelection) -> None:
    """A date picked after an ambiguity: resume the request that asked for it."""
    question = turn.state.question
    question["dates"] = [d.isoformat() for d in selection.dates]
    if question.get("intent") == "cancel":
        await _cancel_matching(turn)
    elif question.get("intent") == "book" and turn.state.participant_id:
        await _book_with_child(turn, turn.state.participant_id)
    else:
        await turn.show()


async def cancel_text(turn: Turn, text: str) -> None:
    kids, activities = await _named_things(turn)
    dates = _dates_in(turn, text, activities)
    turn.state.question = {
        "intent": "cancel",
        "child_ids": children_named(text, kids),
        "activity_ids": activities_named(text, activities),
    }
    if isinstance(dates, AmbiguousDate):
        await ask_which_date(turn, dates)
        return
    if isinstance(dates, DateSelection):
        turn.state.question["dates"] = [d.isoformat() for d in dates.dates]
    await _cancel_matching(turn)


async def _cancel_matching(turn: Turn) -> None:
    """Pick the bookings the request names; several match → the list to choose from."""
    from datetime import date

    from booking.services.queries import upcoming_bookings
    from dialogs.flows.info import show_bookings

    question = turn.state.question
    days = [date.fromisoformat(d) for d in question.get("dates", [])] or None
    child_ids = question.get("child_ids") or []
    activity_ids = question.get("activity_ids") or []
    found = [
        item
        for item in await upcoming_bookings(
            turn.db, turn.state.household_id, turn.now, turn.tz, days=days
        )
        if (not child_ids or item.booking.participant_id in child_ids)
        and (not activity_ids or item.booking.session.activity_id in activity_ids)
    ]
    turn.state.question = {}
    t = turn.t
    if not found:
        turn.say(t._("Je ne trouve pas de réservation à venir qui corresponde."))
        await turn.show("bookings")
        return
    if len(found) > 1 and not (days and child_ids and activity_ids):
        turn.say(t._("Plusieurs réservations correspondent : laquelle annuler ?"))
        await show_bookings(turn, found)
        return
    blocked = [item for item in found if item.cancel_refusal is not None]
    if blocked and len(blocked) == len(found):
        from dialogs.explain import explain

        turn.say(explain(t, blocked[0].cancel_refusal))
        await turn.show("bookings")
        return
    turn.state.to_cancel = [item.booking.id for item in found if item.cancel_refusal is None]
    await turn.show("recap")


async def browse_text(turn: Turn, text: str) -> None:
    """ "quelles activités pour un enfant de 7 ans en juillet ?": age and dates as filters."""
    from dialogs.flows.info import CATEGORY_NAMES
    from dialogs.intents import CATEGORY_WORDS, fold

    filters: dict = {}
    age = age_in(text)
    if age is not None:
        filters["browse_age"] = age
    dates = parse_dates(text, now=turn.now, locale=turn.t.locale)
    if isinstance(dates, DateSelection) and dates.dates:
        filters["browse_from"] = dates.dates[0].isoformat()
        filters["browse_to"] = dates.dates[-1].isoformat()
    folded = fold(text)
    for category in CATEGORY_NAMES:
        if any(f" {word}" in f" {folded}" for word in CATEGORY_WORDS.get(category.value, ())):
            filters["browse_category"] = category.value
            break
    from booking.services.queries import all_activities

    place = place_named(folded, {a.place for a in await all_activities(turn.db) if a.place})
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

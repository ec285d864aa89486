"""The journeys of issue 3 in English: a parent whose browser asks for English, the same town
(activity names stay as the town wrote them), the clock pinned at Monday 1 March 2027, 09:00."""

from __future__ import annotations

import asyncio
from datetime import date

from dialogs.engine import Engine, Incoming
from tests.unit import dialog_script
from tests.unit.dialog_script import FIRST_PASSWORD, Script, book_for

# The town and the engine (fixtures shared with the other language's journeys).
town_template = dialog_script.town_template
sqlite_url = dialog_script.sqlite_url
town = dialog_script.town
engine = dialog_script.engine

TODAY = date(2027, 3, 1)
TOMORROW = date(2027, 3, 2)
THURSDAY = date(2027, 3, 4)
FRIDAY = date(2027, 3, 5)
FULL_WEDNESDAY = date(2027, 3, 10)


def english(engine: Engine, key: str = "parent") -> Script:
    return Script(engine, key, locale="en")


async def logged_in(engine: Engine, key: str = "parent") -> Script:
    script = english(engine, key)
    await script.login()
    script.says("Hello Jean-Paul").offers("Book", "My bookings", "Log out")
    return script


async def test_a_visitor_sees_the_activities_for_a_seven_year_old_in_july(engine, town):
    visitor = english(engine, "visitor")
    await visitor.send("hello")
    visitor.says("Log in to book").offers("Log in", "See the activities", "Français")
    await visitor.send("what activities for a 7 year old in July?")
    visitor.says("Activities for 7-year-olds from Thursday 1 July to Saturday 31 July:")
    visitor.says("Centre de loisirs d'été (ages 3-12, Les Tilleuls) — €15.00", "Séjour montagne")
    visitor.never_says("Cantine")
    await visitor.press("Leisure centre")
    visitor.says("Centre de loisirs d'été").never_says("Séjour montagne")
    await visitor.send("what activities at Coubertin?")
    visitor.says("Escalade en famille (from age 6, Gymnase Coubertin)").never_says("Cantine")
    await visitor.send("book")
    visitor.says("Please log in first", "username")


async def test_a_first_login_then_a_lock_out_then_logging_out(engine, town, clock):
    parent = english(engine, "durand")
    await parent.login("durand", FIRST_PASSWORD)
    parent.says("Welcome, Nina! This is your first time logging in.")
    await parent.send("short")
    parent.says("10 characters")
    await parent.send("new-password-3")
    parent.says("Type it once more")
    await parent.send("new-password-3")
    parent.says("Your password is saved", "privacy notice").offers("I accept", "I decline")
    await parent.press("I accept")
    parent.says("Thank you").offers("Book")
    await parent.send("log out")
    parent.says("You are logged out")

    other = english(engine)
    for left in (4, 3, 2, 1):
        await other.login("dupont", "wrong-password-1")
        other.says("Wrong username or password", f"{left} attempt")
    await other.login("dupont", "wrong-password-1")
    other.says("Too many attempts", "09:01").does_not_offer("Book")
    clock.advance(minutes=16)
    await other.login("dupont")
    other.says("Hello Jean-Paul")
    await other.press("Log out")
    other.says("You are logged out").offers("Log in")


async def test_a_parent_books_with_buttons_and_the_calendar(engine, town):
    parent = await logged_in(engine)
    await parent.press("Book")
    parent.offers("Paolo (age 6)", "Léa (age 8)", "Amalia (age 13)")
    await parent.press("Léa")
    parent.says(
        "Which activity for Léa?",
        "École des sports: This activity needs an enrolment",
        "Séjour montagne: Bookings open on Thursday 1 April, 09:00",
    ).does_not_offer("École des sports")
    await parent.press("Cantine")
    assert parent.calendar.title == "March 2027"
    assert parent.calendar.weekdays[0] == "Mon"
    parent.shows_days("locked", TODAY).shows_days("booked", TOMORROW).shows_days("open", THURSDAY)
    assert parent.day(THURSDAY).label == "Thursday 4 March: open"
    await parent.tap(THURSDAY)
    parent.says("Thursday 4 March added to your basket", "Basket: 1 session, held until 10:00")
    await parent.press("Next month")
    await parent.tap(date(2027, 4, 1))
    await parent.press("Previous month")
    parent.shows_days("in_basket", THURSDAY)
    await parent.press("Review and confirm")
    parent.says(
        "Léa — Cantine — Thursday 4 March 11:30 — €3.35",
        "Léa — Cantine — Thursday 1 April 11:30 — €3.35",
        "Total: €6.70",
    ).offers("Confirm", "Change", "Discard")
    await parent.press("Change")
    await parent.tap(FRIDAY)
    await parent.press("Review and confirm")
    await parent.press("Confirm")
    parent.says("Thursday 4 March: confirmed", "Friday 5 March: confirmed")

    await parent.send("book Paolo at the canteen tomorrow")
    parent.says("Paolo — Cantine — Tuesday 2 March").offers("Confirm", "Discard")
    await parent.press("Discard")
    parent.says("Discarded: nothing was booked or cancelled")


async def test_a_parent_books_in_words_and_an_ambiguous_date_is_asked_back(engine, town):
    parent = await logged_in(engine)
    await parent.send("book Léa at the canteen every Monday and Thursday in March")
    parent.says("Mon 1 Mar: This session is already booked", "March: 4, 8, 11", "Total: €26.80")
    await parent.send("book Paolo at the canteen tomorrow")
    parent.says("Paolo — Cantine — Tuesday 2 March")
    await parent.send("add next Monday and Thursday")
    parent.says("Paolo — Cantine — Thursday 4 March", "Paolo — Cantine — Monday 8 March")
    await parent.send("add 03/04")
    parent.says("“03/04”: which date do you mean?")
    parent.offers("Thursday 4 March 2027", "Saturday 3 April 2027")
    await parent.press("Saturday 3 April")
    parent.says("This activity has no sessions on those dates")
    await parent.send("book Léa at the Centre de loisirs d'été from 6 to 10 July")
    parent.says(
        "Léa — Centre de loisirs d'été: 4 sessions (Tue, Wed, Thu, Fri)", "July: 6, 7, 8, 9"
    )
    await parent.send("basket")
    parent.says("Paolo — Cantine — Tuesday 2 March", "Total: €96.85")


async def test_one_basket_several_children_a_lost_place_and_the_waitlist(
    engine, town, clock, sqlite_database
):
    parent = await logged_in(engine)
    await parent.send("book Léa for the Mercredis loisirs on 24 March")
    parent.says("Léa — Mercredis loisirs 6-12 — Wednesday 24 March", "held until 10:00")
    clock.advance(minutes=40)
    await parent.send("book Paolo for the Accueil du soir on Friday")
    parent.says("Basket: 2 sessions, held until 10:00")
    clock.advance(minutes=25)
    day = town.session(town.mercredis, date(2027, 3, 24))
    for kid in town.voisins_kids:
        await book_for(sqlite_database, town.voisins, kid, day, clock.now())
    await parent.press("Confirm")
    parent.says(
        "Léa — Mercredis loisirs 6-12 — Wednesday 24 March: no longer available",
        "your basket has expired",
        "Paolo — Accueil du soir — Friday 5 March: confirmed",
        "Taken from your wallet: €2.50",
    )

    await parent.send("book Léa for the Mercredis loisirs on 10 March")
    parent.says("Wed 10 Mar", "full", "waiting list").offers("Waiting list for Wed 10 Mar")
    await parent.press("Waiting list")
    parent.says("number 1 on the waiting list")


async def test_my_bookings_cancelling_and_the_balance(engine, town):
    parent = await logged_in(engine)
    await parent.press("My bookings")
    parent.says("Your upcoming bookings:", "Monday 1 March 11:30 — Cantine (confirmed)")
    parent.says("can no longer be cancelled").offers("Cancel Léa Thu 4 Mar")
    await parent.press("Cancel Léa Thu 4 Mar")
    parent.says("Léa — Accueil du soir — Thursday 4 March (refund: €2.50)")
    await parent.press("Confirm")
    parent.says("cancelled — refunded to your wallet: €2.50")

    await parent.send("cancel Léa's climbing on Saturday")
    parent.says("(refund: 2 coupons)")
    await parent.send("yes")
    parent.says("cancelled — refund: 2 coupons")

    await parent.send("cancel Léa's canteen tomorrow")
    parent.says("Léa — Cantine — Tuesday 2 March (will not be charged)")
    await parent.press("Confirm")
    await parent.send("cancel Wednesday for Paolo")
    parent.says("Paolo — Mercredis loisirs 6-12 — Wednesday 3 March (refund: €12.00)")
    await parent.press("Confirm")
    await parent.send("cancel Léa's canteen today")
    parent.says("It is too late to cancel: the deadline was Sunday 28 February, 10:00")

    await parent.send("my balance")
    parent.says(
        "Wallet: €52.00",
        "Coupons: 10",
        "March 2027:",
        "February 2027:",
        "− €3.35 meal — Mon 15 Feb — Léa — Cantine",
        "+ €40.00 top-up — Wed 10 Feb",
        "Payments and refunds:",
    )


async def test_refusals_say_why_and_what_to_do(engine, town):
    martin = english(engine, "martin")
    await martin.login("martin")
    await martin.press("Book")
    martin.says("Nothing can be booked for Zoé", "the health form")
    bernard = english(engine, "bernard")
    await bernard.login("bernard")
    await bernard.send("book Tom at the canteen tomorrow")
    bernard.says("€45.00")
    await bernard.send("my balance")
    bernard.says("Owed to the town hall: €45.00")
    parent = await logged_in(engine)
    await parent.send("book Léa for the Séjour montagne")
    parent.says("Bookings open on Thursday 1 April, 09:00")


async def test_help_back_menu_language_nonsense_and_an_ambiguous_child(engine, town):
    parent = await logged_in(engine)
    await parent.send("book the canteen tomorrow")
    parent.says("For which child?").offers("Paolo", "Léa", "Amalia")
    await parent.press("Léa")
    parent.says("Tue 2 Mar", "already booked")
    await parent.send("book Léa")
    parent.says("Which activity for Léa?")
    await parent.send("help")
    parent.says("book Paolo at the canteen").offers("Cantine")
    await parent.send("back")
    parent.says("Who would you like to book for?")
    await parent.press("Léa")
    await parent.send("Français")
    parent.says("je vous parle en français", "Quelle activité pour Léa")
    await parent.send("English")
    parent.says("I'll speak English")
    await parent.send("purple monkey dishwasher")
    parent.says("didn't understand").offers("Cantine", "Back", "Menu")
    await parent.press("Menu")
    parent.says("What would you like to do?")


async def test_stale_buttons_racing_messages_and_a_restart(engine, town, clock):
    parent = await logged_in(engine)
    await parent.send("book Léa at the canteen")
    stale = parent.payload("Another child")
    await parent.tap(THURSDAY)
    await parent.press_payload(stale)
    parent.says("That button no longer works").shows_days("in_basket", THURSDAY)
    await parent.press_payload("forged.1")
    parent.says("That button no longer works")

    friday, monday = parent.day(FRIDAY).payload, parent.day(date(2027, 3, 8)).payload
    results = await asyncio.gather(
        engine.handle("web", "parent", Incoming(button=friday, locale_hint="en")),
        engine.handle("web", "parent", Incoming(button=monday, locale_hint="en")),
    )
    texts = ["\n".join(reply.text for reply in result.replies) for result in results]
    assert sum("added to your basket" in text for text in texts) == 1
    assert sum("That button no longer works" in text for text in texts) == 1

    restarted = Script(Engine(engine.database, clock), "parent", locale="en")
    await restarted.look()
    restarted.says("Léa — Cantine", "Basket: 2 sessions")
    await restarted.press("Review and confirm")
    await restarted.press("Confirm")
    restarted.says("Thursday 4 March: confirmed")

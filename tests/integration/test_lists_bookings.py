"""Lists never stop silently: "Mes réservations" and the cancel list page through every
booking, say how many there are, and narrow by child and by month, tapped or written; past
months are listed too. The engine on the scripted town (Monday 1 March 2027, 09:00)."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from booking.models import Booking, BookingState, Channel, Guardian, Session
from booking.services.basket import add_to_basket, confirm_basket
from booking.services.common import Actor
from dialogs.engine import Engine
from tests.unit import dialog_script
from tests.unit.dialog_script import Script, Town

town_template = dialog_script.town_template
sqlite_url = dialog_script.sqlite_url
town = dialog_script.town
engine = dialog_script.engine


async def logged_in(engine: Engine) -> Script:
    script = Script(engine, "parent")
    await script.login()
    return script


async def book_meals(engine: Engine, town: Town, child, first: date, count: int) -> list[date]:  # noqa: ANN001
    """`count` meals for the child from `first` on, booked and confirmed (invoiced)."""
    days = []
    async with engine.database.writing() as db:
        guardian = await db.scalar(select(Guardian).where(Guardian.household_id == town.dupont.id))
        actor = Actor(channel=Channel.WEB, household_id=town.dupont.id, guardian_id=guardian.id)
        sessions = (
            await db.scalars(
                select(Session)
                .where(Session.activity_id == town.cantine.id, Session.day >= first)
                .order_by(Session.day)
            )
        ).all()
        booked = {
            booking.session_id
            for booking in await db.scalars(
                select(Booking).where(
                    Booking.participant_id == child.id, Booking.state == BookingState.CONFIRMED
                )
            )
        }
        for session in sessions:
            if len(days) == count:
                break
            if session.id in booked:
                continue
            await add_to_basket(
                db,
                actor=actor,
                participant_id=child.id,
                session_id=session.id,
                now=engine.clock.now(),
            )
            days.append(session.day)
        await confirm_basket(db, actor=actor, now=engine.clock.now())
    return days


async def test_forty_bookings_page_to_the_last_one_which_is_cancelled_by_tapping(engine, town):
    lea_days = await book_meals(engine, town, town.lea, date(2027, 3, 4), 19)
    paolo_days = await book_meals(engine, town, town.paolo, date(2027, 3, 2), 16)
    parent = await logged_in(engine)
    total = 5 + 19 + 16  # the town's five bookings to come, and the meals
    assert total == 40

    await parent.press("Annuler")  # the cancel list is "Mes réservations"
    parent.says("Vos prochaines réservations :", f"1-8 sur {total}")
    parent.offers("Suite ›").does_not_offer("‹ Précédent")
    pages = 1
    while "Suite ›" in parent.buttons:
        await parent.press("Suite ›")
        pages += 1
    last = f"{(total - 1) // 8 * 8 + 1}-{total} sur {total}"
    parent.says(last).offers("‹ Précédent").does_not_offer("Suite ›")
    assert pages == -(-total // 8)

    # Per child, each by date: Paolo's last meal ends the list.
    final = paolo_days[-1]
    label = f"Annuler Paolo {_short(final)}"
    parent.offers(label)
    await parent.press(label)  # a meal billed later: cancelled at once, "Rétablir" offered
    parent.says(f"Paolo — Cantine — {_long(final)} : annulé (ne sera pas facturé)")
    parent.offers("Rétablir")
    async with engine.database.reading() as db:
        cancelled = await db.scalar(
            select(Booking.state)
            .join(Session, Session.id == Booking.session_id)
            .where(Booking.participant_id == town.paolo.id, Session.day == final)
            .order_by(Booking.id.desc())
            .limit(1)
        )
    assert cancelled is BookingState.CANCELLED
    assert lea_days  # Léa's meals stay


async def test_the_list_narrows_by_child_and_by_month_with_buttons(engine, town):
    await book_meals(engine, town, town.lea, date(2027, 3, 4), 20)
    parent = await logged_in(engine)
    await parent.press("Mes réservations")
    parent.offers("Léa", "Paolo", "mars 2027", "avril 2027")

    await parent.press("Paolo")
    parent.says("Paolo", "mercredi 3 mars 08:30 — Mercredis loisirs 6-12").never_says("Léa\n")
    parent.offers("✓ Paolo", "Tous les enfants")

    await parent.press("Tous les enfants")
    await parent.press("avril 2027")
    parent.says("Vos réservations en avril 2027 :").never_says("mars 08:30", "mars 11:30")
    parent.offers("✓ avril 2027", "Tous les mois")
    await parent.press("Tous les mois")
    parent.says("Vos prochaines réservations :")


async def test_the_list_narrows_to_what_a_message_names(engine, town):
    await book_meals(engine, town, town.lea, date(2027, 3, 4), 20)
    parent = await logged_in(engine)

    await parent.send("réservations de Léa en avril")

    parent.says("Vos réservations en avril 2027 :", "Léa", "— Cantine (confirmé)")
    parent.never_says("Paolo", "mars")
    parent.says("Cantine : facturé fin avril sur votre compte famille.")


async def test_a_past_month_lists_what_took_place_without_cancel_buttons(engine, town):
    parent = await logged_in(engine)

    await parent.send("mes réservations de février")

    parent.says("Vos réservations en février 2027 :", "lundi 15 février 11:30 — Cantine (passé)")
    parent.does_not_offer("Annuler Léa")


async def test_my_bookings_says_how_an_invoiced_activity_is_billed(engine, town):
    parent = await logged_in(engine)
    await parent.press("Mes réservations")
    parent.says("Cantine : facturé fin mars sur votre compte famille.")
    parent.never_says("Accueil du soir : facturé")  # paid from the wallet when booked


async def test_a_short_list_is_not_paged(engine, town):
    parent = await logged_in(engine)
    await parent.press("Mes réservations")
    assert re.search(r"\d+-\d+ sur \d+", parent.text) is None
    parent.does_not_offer("Suite ›", "‹ Précédent")


def _short(day: date) -> str:
    from babel.dates import format_date

    return format_date(day, "EEE d MMM", locale="fr").replace(" 1 ", " 1er ")


def _long(day: date) -> str:
    from babel.dates import format_date

    return format_date(day, "EEEE d MMMM", locale="fr").replace(" 1 ", " 1er ")

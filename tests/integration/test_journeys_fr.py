"""Every journey of issue 3 as a scripted conversation in French: the engine, a real SQLite
database holding a small town, and the clock pinned at Monday 1 March 2027, 09:00."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import select

from booking.models import Booking, BookingState, Conversation
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
WEDNESDAY = date(2027, 3, 3)
THURSDAY = date(2027, 3, 4)
FRIDAY = date(2027, 3, 5)
FULL_WEDNESDAY = date(2027, 3, 10)


async def logged_in(engine: Engine, key: str = "parent") -> Script:
    script = Script(engine, key)
    await script.login()
    script.says("Bonjour Jean-Paul").offers("Réserver", "Mes réservations", "Se déconnecter")
    return script


async def bookings_of(database, child_id: int, *states: BookingState) -> list[Booking]:
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(Booking).where(Booking.participant_id == child_id, Booking.state.in_(states))
            )
        )


# --- Browse without an account ----------------------------------------------------------


async def test_a_visitor_sees_the_activities_for_a_seven_year_old_in_july(engine, town):
    visitor = Script(engine, "visitor")
    await visitor.send("bonjour")
    visitor.says("Connectez-vous pour réserver").offers("Se connecter", "Voir les activités")

    await visitor.send("quelles activités pour un enfant de 7 ans en juillet ?")
    visitor.says("pour 7 ans", "juillet", "Centre de loisirs d'été", "Séjour montagne")
    visitor.says("Séjour montagne (6-12 ans, Chalet du Vercors) — 250,00 € — 0 séance ouverte")
    visitor.says("Les réservations ouvrent le jeudi 1er avril, 09:00")
    visitor.never_says("Cantine", "Accueil du soir")
    visitor.offers("Restauration scolaire", "Centre de loisirs", "Se connecter")

    await visitor.press("Centre de loisirs")  # narrows the same age and dates
    visitor.says("pour 7 ans", "Centre de loisirs d'été (3-12 ans, Les Tilleuls) — 15,00 €")
    visitor.never_says("Séjour montagne")

    await visitor.send("la cantine pour 5 ans")
    visitor.says("pour 5 ans", "Cantine (3-12 ans, Groupe scolaire Jules Ferry) — 3,35 €")
    visitor.never_says("Séjour montagne")

    await visitor.send("quelles activités aux Tilleuls ?")
    visitor.says("— Les Tilleuls", "Mercredis loisirs 6-12", "Centre de loisirs d'été")
    visitor.never_says("Cantine", "Escalade")

    await visitor.send("réserver")
    visitor.says("Connectez-vous d'abord", "identifiant")


# --- Logging in and out -----------------------------------------------------------------


async def test_words_typed_where_the_login_is_asked_are_read_as_words_not_as_a_login(engine, town):
    """No login holds a space: "se connecter" typed at the login step asks the login again,
    and is not spent as a login (a wrong password's tries, "Votre mot de passe ?")."""
    visitor = Script(engine, "words-at-login")
    await visitor.send("se connecter")
    visitor.says("identifiant")

    await visitor.send("se connecter")
    visitor.says("identifiant").never_says("mot de passe ?")

    await visitor.send("la cantine pour 5 ans")
    visitor.says("Cantine (3-12 ans").never_says("mot de passe ?")


async def test_a_first_login_asks_a_new_password_twice_and_the_terms(engine, town):
    parent = Script(engine, "durand")
    await parent.login("durand", FIRST_PASSWORD)
    parent.says("Bienvenue Nina", "première connexion", "nouveau mot de passe")
    assert parent.replies[-1].secret_input

    await parent.send("court")
    parent.says("trop simple", "10 caractères")
    await parent.send("nouveau-mot-3")
    parent.says("une seconde fois")
    await parent.send("autre-mot-44")
    parent.says("différents")
    await parent.send("nouveau-mot-3")
    await parent.send("nouveau-mot-3")
    parent.says("mot de passe est enregistré", "RGPD", "conditions d'utilisation")
    parent.offers("J'accepte", "Je refuse").does_not_offer("Réserver")

    await parent.press("J'accepte")
    parent.says("Merci").offers("Réserver", "Se déconnecter")

    await parent.press("Se déconnecter")
    parent.says("Vous êtes déconnecté").offers("Se connecter")
    await parent.send("mes réservations")
    parent.says("Connectez-vous d'abord")

    # The new password works, and the first-login steps are not asked again.
    await parent.login("durand", "nouveau-mot-3")
    parent.says("Bonjour Nina").never_says("RGPD")
    await parent.send("déconnexion")
    parent.says("Vous êtes déconnecté")


async def test_wrong_passwords_lock_the_account_with_a_clear_message(engine, town, clock):
    parent = Script(engine)
    for left in (4, 3, 2, 1):
        await parent.login("dupont", "pas-le-bon-1")
        parent.says("incorrect", f"Il vous reste {left} essai")
    await parent.login("dupont", "pas-le-bon-1")
    parent.says("Trop d'essais", "bloqué jusqu'à 09:01", "contactez la mairie")
    await parent.login("dupont")  # the right password does not open a locked account
    parent.says("Trop d'essais").does_not_offer("Réserver")

    clock.advance(minutes=16)
    await parent.login("dupont")
    parent.says("Bonjour Jean-Paul").offers("Réserver")


# --- Booking with buttons and the calendar -----------------------------------------------


async def test_a_parent_books_school_meals_by_tapping_the_calendar(engine, town):
    parent = await logged_in(engine)
    await parent.press("Réserver")
    parent.says("Pour qui").offers("Paolo (6 ans)", "Léa (8 ans)", "Amalia (13 ans)")

    await parent.press("Léa")
    parent.says("Quelle activité pour Léa")
    parent.offers("Cantine", "Mercredis loisirs 6-12", "Accueil du soir", "Escalade en famille")
    parent.does_not_offer("École des sports", "Séjour montagne")
    parent.says(
        "École des sports : Cette activité demande une inscription préalable",
        "Séjour montagne : Les réservations ouvrent le jeudi 1er avril, 09:00",
    )

    await parent.press("Cantine")
    parent.says("Léa — Cantine", "Touchez un jour")
    assert parent.calendar.title == "mars 2027"
    # Today's meal is past its cancellation deadline: drawn locked, it cannot be tapped.
    parent.shows_days("locked", TODAY).shows_days("booked", TOMORROW)
    parent.shows_days("open", THURSDAY, FRIDAY).shows_days("closed", WEDNESDAY)
    assert parent.day(TODAY).payload is None
    assert ("locked", "réservé, ne peut plus être annulé") in parent.calendar.legend
    assert parent.day(WEDNESDAY).payload is None
    parent.does_not_offer("Mois précédent")

    await parent.tap(THURSDAY)
    parent.says("jeudi 4 mars ajouté au panier", "Panier : 1 séance, gardée jusqu'à 10:00")
    parent.shows_days("in_basket", THURSDAY)
    await parent.tap(FRIDAY)
    await parent.tap(date(2027, 3, 8))
    await parent.tap(date(2027, 3, 8))  # a second tap takes the day out again
    parent.says("lundi 8 mars retiré du panier").shows_days("open", date(2027, 3, 8))

    await parent.press("Mois suivant")
    assert parent.calendar.title == "avril 2027"
    await parent.tap(date(2027, 4, 1))
    parent.says("Panier : 3 séances")
    await parent.press("Mois précédent")
    assert parent.calendar.title == "mars 2027"
    parent.shows_days("in_basket", THURSDAY, FRIDAY)

    await parent.press("Récapitulatif")
    parent.says(
        "Nouvelles réservations",
        "Léa — Cantine — jeudi 4 mars 11:30 — 3,35 €",
        "Léa — Cantine — vendredi 5 mars 11:30 — 3,35 €",
        "Léa — Cantine — jeudi 1er avril 11:30 — 3,35 €",
        "Total : 10,05 €",
        "gardées jusqu'à 10:00",
    ).offers("Confirmer", "Modifier", "Abandonner")

    await parent.press("Confirmer")
    parent.says(
        "jeudi 4 mars : confirmé", "vendredi 5 mars : confirmé", "jeudi 1er avril : confirmé"
    )
    parent.offers("Réserver")
    # February's and the two first March meals, an evening, a climbing session, and these three
    confirmed = await bookings_of(engine.database, town.lea.id, BookingState.CONFIRMED)
    assert len(confirmed) == 5 + 3


async def test_the_calendar_marks_days_past_the_deadline_and_full_days(engine, town):
    parent = await logged_in(engine)
    await parent.send("inscris Léa à l'accueil du soir")
    parent.shows_days("past_deadline", TODAY).shows_days("booked", THURSDAY)
    assert parent.day(TODAY).payload is None
    assert "délai dépassé" in parent.day(TODAY).label
    await parent.press("Autre activité")
    await parent.press("Mercredis loisirs")
    parent.shows_days("waitlist", FULL_WEDNESDAY).shows_days("open", WEDNESDAY)


async def test_modify_goes_back_to_the_calendar_and_abandon_books_nothing(engine, town):
    parent = await logged_in(engine)
    await parent.press("Réserver")
    await parent.press("Paolo")
    await parent.press("Cantine")
    await parent.tap(THURSDAY)
    await parent.press("Récapitulatif")
    parent.says("Paolo — Cantine — jeudi 4 mars")

    await parent.press("Modifier")
    parent.says("Paolo — Cantine").shows_days("in_basket", THURSDAY)
    await parent.tap(FRIDAY)
    await parent.press("Récapitulatif")
    parent.says("Total : 6,70 €")

    await parent.press("Abandonner")
    parent.says("abandonné", "rien n'a été réservé").offers("Réserver")
    await parent.send("panier")
    parent.says("Votre panier est vide")
    assert await bookings_of(engine.database, town.paolo.id, BookingState.HELD) == []


# --- Booking in words -------------------------------------------------------------------


async def test_a_parent_books_in_words(engine, town):
    parent = await logged_in(engine)
    await parent.send("inscris Léa à la cantine tous les lundis et jeudis de mars")
    # A whole request goes straight to the recap; the day already booked is named.
    parent.says(
        "lun. 1er mars : Cette séance est déjà réservée",
        # a term of days says short: per child and activity, count, weekdays, days
        "Léa — Cantine : 8 séances (lun., jeu.) — 26,80 €",
        "mars : 4, 8, 11, 15, 18, 22, 25, 29",
        "Total : 26,80 €",
        "Cantine : rien à payer maintenant, facturé en fin de mois sur votre compte famille.",
    )
    await parent.press("Modifier")
    parent.shows_days("in_basket", THURSDAY, date(2027, 3, 8), date(2027, 3, 29))
    parent.shows_days("open", FRIDAY)

    await parent.send("le 12/03")  # typed at the calendar: added to the days chosen
    parent.says("Léa — Cantine : 9 séances (lun., jeu., ven.)", "mars : 4, 8, 11, 12, 15")

    await parent.send("inscris Paolo à la cantine demain")
    parent.says("Paolo — Cantine — mardi 2 mars")
    await parent.send("ajoute lundi et jeudi prochains")
    parent.says("Paolo — Cantine — jeudi 4 mars", "Paolo — Cantine — lundi 8 mars")
    await parent.send("ajoute du 6 au 10 juillet")
    parent.says("Pas de séance de cette activité à ces dates")

    await parent.send("inscris Léa au centre de loisirs d'été du 6 au 10 juillet")
    parent.says("Léa — Centre de loisirs d'été : 4 séances (mar., mer., jeu., ven.) — 60,00 €")

    await parent.send("inscris Léa aux mercredis loisirs le 24 mars")
    parent.says("Léa — Mercredis loisirs 6-12 — mercredi 24 mars")
    parent.says(
        "Paolo — Cantine — mardi 2 mars",
        "Léa — Cantine : 9 séances",
        "juillet : 6, 7, 8, 9",
        "Léa — Mercredis loisirs 6-12 — mercredi 24 mars 08:30 — 12,00 €",
        # 8 + 1 + 3 meals at 3,35 €, 4 summer days at 15 €, a Wednesday at 12 €
        "Total : 112,20 €",
    )
    await parent.send("oui")
    parent.says("✓ Léa — Cantine : 9 séances (mars : 4, 8, 11, 12, 15, 18, 22, 25, 29) : confirmé")
    parent.says("À payer en ligne : 12,00 €")


# --- One basket, several children and activities ----------------------------------------


async def test_one_basket_holds_several_children_and_activities_until_its_expiry(
    engine, town, clock
):
    parent = await logged_in(engine)
    await parent.send("inscris Léa à la cantine jeudi")
    parent.says("Panier : 1 séance, gardée jusqu'à 10:00")
    clock.advance(minutes=20)
    await parent.press("Modifier")
    await parent.press("Autre enfant")
    await parent.press("Paolo")
    await parent.press("Accueil du soir")
    await parent.tap(FRIDAY)
    parent.says("Panier : 2 séances, gardées jusqu'à 10:00")
    await parent.send("inscris Paolo à l'escalade samedi")
    parent.says(
        "Léa — Cantine — jeudi 4 mars 11:30 — 3,35 €",
        "Paolo — Accueil du soir — vendredi 5 mars 16:30 — 2,50 €",
        "Paolo — Escalade en famille — samedi 6 mars 10:00 — 2 coupons",
        "Total : 5,85 € + 2 coupons",
        "Panier : 3 séances, gardées jusqu'à 10:00",
    )
    await parent.press("Confirmer")
    parent.says(
        "Léa — Cantine — jeudi 4 mars : confirmé",
        "Paolo — Accueil du soir — vendredi 5 mars : confirmé",
        "Débité du porte-monnaie : 2,50 €",
        "2 coupons utilisés",
    )


async def test_a_place_lost_while_the_basket_waited_is_named_at_confirmation(
    engine, town, clock, sqlite_database
):
    parent = await logged_in(engine)
    await parent.send("inscris Léa aux mercredis loisirs le 24 mars")
    parent.says("Léa — Mercredis loisirs 6-12 — mercredi 24 mars", "gardée jusqu'à 10:00")
    clock.advance(minutes=40)
    await parent.send("inscris Paolo à l'accueil du soir vendredi")
    parent.says("gardées jusqu'à 10:00")

    # Léa's hold runs out; another family takes both places of that Wednesday.
    clock.advance(minutes=25)
    day = town.session(town.mercredis, date(2027, 3, 24))
    for kid in town.voisins_kids:
        await book_for(sqlite_database, town.voisins, kid, day, clock.now())

    await parent.send("récapitulatif")
    parent.says(
        "Léa — Mercredis loisirs 6-12 — mercredi 24 mars : plus disponible",
        "le délai du panier a expiré",
        "Paolo — Accueil du soir — vendredi 5 mars",
    )
    await parent.press("Confirmer")
    parent.says(
        "✕ Léa — Mercredis loisirs 6-12 — mercredi 24 mars : plus disponible",
        "✓ Paolo — Accueil du soir — vendredi 5 mars : confirmé",
    )
    await parent.send("panier")
    parent.says("Votre panier est vide").never_says("plus disponible")


async def test_a_basket_whose_every_hold_ran_out_says_so_at_confirmation(engine, town, clock):
    parent = await logged_in(engine)
    await parent.send("inscris Léa à la cantine jeudi")
    clock.advance(minutes=61)
    await parent.press("Confirmer")
    parent.says("Léa — Cantine — jeudi 4 mars : plus disponible", "délai du panier a expiré")
    parent.offers("Réserver")


# --- The waitlist -----------------------------------------------------------------------


async def test_a_full_wednesday_offers_the_waitlist_and_tells_the_position(engine, town):
    parent = await logged_in(engine)
    await parent.send("inscris Léa aux mercredis loisirs")
    await parent.tap(FULL_WEDNESDAY)
    parent.says("mercredi 10 mars est complet", "liste d'attente").offers(
        "Liste d'attente mer. 10 mars"
    )
    await parent.press("Liste d'attente")
    parent.says("position 1 sur la liste d'attente", "Je vous préviendrai")

    await parent.send("inscris Paolo aux mercredis loisirs le 10 mars")
    parent.says("Cette séance est complète")
    await parent.press("Liste d'attente")
    parent.says("position 2")

    await parent.press("Menu")
    await parent.press("Mes réservations")
    parent.says("mercredi 10 mars 08:30 — Mercredis loisirs 6-12 (liste d'attente)")


# --- My bookings, cancelling -------------------------------------------------------------


async def test_my_bookings_lists_each_childs_bookings_with_what_can_be_cancelled(engine, town):
    parent = await logged_in(engine)
    await parent.press("Mes réservations")
    text = parent.text
    assert text.index("Léa") < text.index("Paolo")  # per child, each in date order
    assert text.index("lundi 1er mars") < text.index("samedi 6 mars") < text.index("Paolo")
    parent.says(
        "lundi 1er mars 11:30 — Cantine (confirmé) — ne peut plus être annulé",
        "mercredi 3 mars 08:30 — Mercredis loisirs 6-12 (confirmé)",
    )
    parent.offers("Annuler Léa mar. 2 mars", "Annuler Paolo mer. 3 mars")
    parent.does_not_offer("Annuler Léa lun. 1er mars")

    # Two bookings of one child on one day: the buttons say which is which.
    await parent.send("inscris Léa à la cantine jeudi")
    await parent.press("Confirmer")
    await parent.press("Mes réservations")
    parent.offers("Annuler Léa jeu. 4 mars · Cantine", "Annuler Léa jeu. 4 mars · Accueil du soir")


async def test_cancelling_with_buttons_shows_the_wallet_and_coupon_refunds(engine, town):
    parent = await logged_in(engine)
    await parent.press("Annuler")
    await parent.press("Annuler Léa jeu. 4 mars")
    parent.says("Annulations", "Léa — Accueil du soir — jeudi 4 mars (remboursé : 2,50 €)")
    await parent.press("Confirmer")
    parent.says(
        "Accueil du soir — jeudi 4 mars : annulé — remboursé sur votre porte-monnaie : 2,50 €"
    )

    await parent.press("Mes réservations")
    await parent.press("Annuler Léa sam. 6 mars")
    parent.says("Escalade en famille — samedi 6 mars (remboursé : 2 coupons)")
    await parent.press("Confirmer")
    parent.says("annulé — remboursé : 2 coupons")

    await parent.press("Solde")
    parent.says("Porte-monnaie : 40,00 €", "Coupons : 10")


async def test_cancelling_in_words(engine, town):
    parent = await logged_in(engine)
    await parent.send("annule la cantine de Léa demain")
    parent.says("Léa — Cantine — mardi 2 mars (ne sera pas facturé)").offers("Confirmer")
    await parent.press("Confirmer")
    parent.says("✓ Léa — Cantine — mardi 2 mars : annulé")

    await parent.send("annule mercredi pour Paolo")
    parent.says("Paolo — Mercredis loisirs 6-12 — mercredi 3 mars (remboursé : 12,00 €)")
    await parent.send("confirmer")
    parent.says("annulé — remboursé sur votre porte-monnaie : 12,00 €")

    await parent.send("annule la cantine de Paolo demain")
    parent.says("Je ne trouve pas de réservation à venir qui corresponde")


async def test_cancelling_past_the_deadline_says_why(engine, town):
    parent = await logged_in(engine)
    await parent.send("annule la cantine de Léa aujourd'hui")
    parent.says(
        "Il n'est plus possible d'annuler",
        "le délai d'annulation était le dimanche 28 février, 10:00",
    ).does_not_offer("Confirmer")
    parent.offers("Annuler Léa mar. 2 mars")  # what can still be cancelled

    await parent.send("inscris Léa à la cantine")
    assert parent.day(TODAY).state == "locked" and parent.day(TODAY).payload is None
    await parent.tap(TOMORROW)  # a booked day still cancellable turns "à annuler"
    parent.says("mardi 2 mars sera annulé quand vous confirmerez", "1 annulation à confirmer")
    parent.shows_days("to_cancel", TOMORROW)
    assert ("to_cancel", "à annuler") in parent.calendar.legend
    await parent.tap(TOMORROW)  # tapped again: kept
    parent.shows_days("booked", TOMORROW).never_says("annulation à confirmer")


# --- Balance and history ----------------------------------------------------------------


async def test_balance_and_history_of_this_month_and_last(engine, town):
    parent = await logged_in(engine)
    await parent.send("mon solde")
    parent.says(
        "Porte-monnaie : 37,50 €",
        "Coupons : 8",
        "Mars 2027",
        # today's meal has not been eaten yet at 09:00: a booking to come, not a consumption
        "5 réservations à venir (21,20 € + 2 coupons)",
        "Février 2027",
        "− 3,35 € repas — lun. 15 févr. — Léa — Cantine",
        "+ 40,00 € rechargement — mer. 10 févr.",
        "+ 10 coupons achetés — mer. 10 févr.",
    )
    parent.offers("Menu")


# --- Refusals ---------------------------------------------------------------------------


async def test_an_incomplete_dossier_says_which_document_is_missing(engine, town):
    parent = Script(engine, "martin")
    await parent.login("martin")
    await parent.press("Réserver")
    parent.says(
        "Aucune activité ne peut être réservée pour Zoé",
        "il manque la fiche sanitaire",
        "guichet unique",
    )
    assert parent.text.count("fiche sanitaire") == 1  # one reason, said once
    await parent.send("inscris Zoé à la cantine demain")
    parent.says("il manque la fiche sanitaire")


async def test_a_household_in_debt_is_told_what_it_owes(engine, town):
    parent = Script(engine, "bernard")
    await parent.login("bernard")
    await parent.send("inscris Tom à la cantine demain")
    parent.says("Les réservations sont bloquées : 45,00 € restent à régler à la mairie")
    await parent.send("mon solde")
    parent.says("À régler à la mairie : 45,00 €")


async def test_an_activity_not_open_yet_says_when_it_opens(engine, town):
    parent = await logged_in(engine)
    await parent.send("inscris Léa au séjour montagne")
    parent.says("Les réservations ouvrent le jeudi 1er avril, 09:00")


# --- Help, back, menu, language; not understood; ambiguities ------------------------------


async def test_help_back_menu_and_language_work_at_every_step(engine, town):
    parent = await logged_in(engine)
    await parent.press("Réserver")
    await parent.send("aide")
    parent.says("inscris Paolo à la cantine", "annule la semaine prochaine pour").offers(
        "Léa (8 ans)"
    )
    await parent.press("Léa")
    await parent.send("retour")
    parent.says("Pour qui voulez-vous réserver")
    await parent.press("Léa")
    await parent.press("Cantine")
    await parent.press("Retour")
    parent.says("Quelle activité pour Léa")
    await parent.press("Cantine")
    await parent.tap(THURSDAY)
    await parent.send("English")
    parent.says("I'll speak English", "Basket: 1 session").offers("Review and confirm")
    assert parent.calendar.title == "March 2027"
    await parent.send("français")
    parent.says("je vous parle en français").offers("Récapitulatif")
    await parent.press("Récapitulatif")
    await parent.send("aide")
    parent.says("Je comprends").offers("Confirmer")  # then the step, with its buttons
    await parent.press("Menu")
    parent.says("Que voulez-vous faire").offers("Réserver")
    await parent.send("panier")
    parent.says("Léa — Cantine — jeudi 4 mars")  # the basket waits through it all


async def test_text_that_is_not_understood_gets_a_short_answer_with_the_steps_buttons(engine, town):
    visitor = Script(engine, "visitor")
    await visitor.send("blablabla zut")
    visitor.says("Je n'ai pas compris", "« aide »").offers("Se connecter")

    parent = await logged_in(engine)
    await parent.send("inscris Léa à la cantine")
    await parent.send("la réponse D")
    parent.says("Je n'ai pas compris").offers("Récapitulatif", "Autre activité", "Menu")
    assert parent.calendar.title == "mars 2027"


async def test_an_ambiguous_child_is_asked_back_never_guessed(engine, town):
    parent = await logged_in(engine)
    await parent.send("inscris à la cantine demain")
    parent.says("Pour quel enfant").offers("Paolo", "Léa", "Amalia")
    assert await bookings_of(engine.database, town.paolo.id, BookingState.HELD) == []
    await parent.press("Paolo")
    parent.says("Paolo — Cantine — mardi 2 mars")


# --- Buttons that are stale, replayed or forged; races; restarts -------------------------


async def test_stale_replayed_and_forged_buttons_get_a_clear_message(engine, town):
    parent = await logged_in(engine)
    await parent.press("Réserver")
    lea = parent.payload("Léa")
    await parent.press("Paolo")
    await parent.press_payload(lea)  # a button of an earlier message
    parent.says("Ce bouton n'est plus valable", "Quelle activité pour Paolo")

    await parent.press("Cantine")
    await parent.tap(THURSDAY)
    await parent.press("Récapitulatif")
    confirm = parent.payload("Confirmer")
    await parent.press_payload(confirm)
    parent.says("confirmé")
    await parent.press_payload(confirm)  # replayed
    parent.says("Ce bouton n'est plus valable").never_says("confirmé")

    for forged in ("", "x", "AAAAA.0", parent.payload("Réserver").split(".")[0] + ".ff", "é" * 500):
        await parent.press_payload(forged)
        parent.says("Ce bouton n'est plus valable").offers("Réserver")

    # Another family's conversation cannot use this one's buttons; a menu button names only
    # an action ("Réserver"), which acts on the other family's own account.
    other = Script(engine, "martin")
    await other.login("martin")
    await other.press_payload(parent.payload("Réserver"))
    other.says("Zoé").never_says("Léa", "Paolo")
    await other.press_payload(confirm)
    other.says("Ce bouton n'est plus valable").never_says("Léa", "Paolo")


async def test_a_tap_on_an_old_menu_is_carried_out(engine, town):
    """Another tab, or a menu scrolled up: "Mes réservations" still means the same."""
    parent = await logged_in(engine)
    old_menu = parent.payload("Mes réservations")
    await parent.send("inscris Léa à la cantine jeudi")
    await parent.press_payload(old_menu)
    parent.says("Vos prochaines réservations").never_says("Ce bouton n'est plus valable")


async def test_two_racing_messages_leave_a_consistent_state(engine, town, sqlite_database):
    parent = await logged_in(engine)
    await parent.send("inscris Léa à la cantine jeudi")
    await parent.press("Modifier")
    friday, monday = parent.day(FRIDAY).payload, parent.day(date(2027, 3, 8)).payload
    first, second = await asyncio.gather(
        engine.handle("web", "parent", Incoming(button=friday)),
        engine.handle("web", "parent", Incoming(button=monday)),
    )
    texts = ["\n".join(r.text for r in result.replies) for result in (first, second)]
    assert sum("ajouté au panier" in text for text in texts) == 1
    assert sum("Ce bouton n'est plus valable" in text for text in texts) == 1

    first, second = await asyncio.gather(
        engine.handle("web", "parent", Incoming(text="inscris Paolo à la cantine demain")),
        engine.handle("web", "parent", Incoming(text="inscris Paolo à la cantine vendredi")),
    )
    await parent.send("récapitulatif")
    parent.says("Léa — Cantine — jeudi 4 mars", "Paolo — Cantine — mardi 2 mars")
    parent.says("Paolo — Cantine — vendredi 5 mars", "Panier : 4 séances")

    confirm = parent.payload("Confirmer")
    results = await asyncio.gather(
        engine.handle("web", "parent", Incoming(button=confirm)),
        engine.handle("web", "parent", Incoming(button=confirm)),
    )
    texts = ["\n".join(r.text for r in result.replies) for result in results]
    assert sum("confirmé" in text for text in texts) == 1
    async with sqlite_database.reading() as db:
        conversation = await db.scalar(
            select(Conversation).where(Conversation.key == "parent", Conversation.channel == "web")
        )
        held = await db.scalars(select(Booking).where(Booking.state == BookingState.HELD))
        assert list(held) == []
    assert conversation.state["step"] == "menu"


async def test_a_new_engine_continues_a_booking_where_the_parent_was(engine, town, clock):
    parent = await logged_in(engine)
    await parent.send("inscris Léa à la cantine")
    await parent.tap(THURSDAY)
    friday_button = parent.day(FRIDAY).payload

    restarted = Script(Engine(engine.database, clock), "parent")
    await restarted.press_payload(friday_button)  # the button shown before the restart
    restarted.says("vendredi 5 mars ajouté au panier", "Panier : 2 séances")
    restarted.shows_days("in_basket", THURSDAY, FRIDAY)
    await restarted.press("Récapitulatif")
    await restarted.press("Confirmer")
    restarted.says("jeudi 4 mars : confirmé", "vendredi 5 mars : confirmé")

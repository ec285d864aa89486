"""Money made plain in the chat: signed statement lines with their kind, bookings to come not
called consumptions, any month's history, the year to download, the porte-monnaie as a way to
pay, receipts, and the public price that depends on the family quotient. The engine on the
scripted town (Monday 1 March 2027, 09:00)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from booking.models import (
    Booking,
    BookingState,
    LinkCode,
    NoticeKind,
    OutboxMessage,
    Payment,
    PaymentState,
    Tariff,
    WalletKind,
)
from dialogs.engine import Engine
from tests import builders
from tests.unit import dialog_script
from tests.unit.dialog_script import Script

town_template = dialog_script.town_template
sqlite_url = dialog_script.sqlite_url
town = dialog_script.town
engine = dialog_script.engine


async def logged_in(engine: Engine) -> Script:
    script = Script(engine, "parent")
    await script.login()
    return script


# --- The statement --------------------------------------------------------------------------


async def test_the_statement_signs_each_line_and_names_its_kind(engine, town):
    parent = await logged_in(engine)
    await parent.send("mon solde")
    parent.says(
        "Février 2027 :",
        "− 3,35 € repas — lun. 15 févr. — Léa — Cantine",
        "+ 40,00 € rechargement — mer. 10 févr.",
        "+ 10 coupons achetés — mer. 10 févr.",
    )


async def test_bookings_to_come_are_not_called_consumptions(engine, town):
    parent = await logged_in(engine)
    await parent.send("mon solde")
    march = parent.text[parent.text.index("Mars 2027") : parent.text.index("Février 2027")]
    # Today's meal (11:30) and the rest of March are still to come at 09:00.
    assert "Aucune consommation." in march
    assert "5 réservations à venir (21,20 € + 2 coupons)" in march
    assert "consommations" not in march


async def test_a_refund_says_it_went_to_the_porte_monnaie(engine, town):
    parent = await logged_in(engine)
    await parent.press("Mes réservations")
    await parent.press("Annuler Léa jeu. 4 mars")
    await parent.press("Confirmer")
    await parent.send("mon solde")
    parent.says("+ 2,50 € remboursement sur le porte-monnaie — lun. 1er mars — Accueil du soir")


async def test_the_history_of_a_past_month_answers_with_that_month(engine, town):
    parent = await logged_in(engine)

    await parent.send("historique de février")

    parent.says("Février 2027 :", "− 3,35 € repas — lun. 15 févr. — Léa — Cantine")
    parent.never_says("Mars 2027", "Janvier 2027 :")
    parent.offers("‹ janvier 2027", "mars 2027 ›", "Télécharger 2027")

    await parent.send("historique de janvier")  # the January just gone, not next year's
    parent.says("Janvier 2027 :", "Aucune consommation.", "Aucun règlement.")
    parent.never_says("Février 2027 :", "2028")

    await parent.press("février 2027 ›")  # back to this month and the last
    parent.says("Mars 2027 :", "Février 2027 :", "Vos soldes").never_says("Janvier 2027 :")


async def test_the_year_is_offered_as_a_download_through_a_short_lived_link(engine, town):
    parent = await logged_in(engine)
    await parent.send("mon solde")

    await parent.press("Télécharger 2027")

    parent.says("Votre relevé 2027", "valable une heure")
    (link,) = [reply.link for reply in parent.replies if reply.link is not None]
    assert link.label == "Télécharger le relevé 2027"
    assert link.url.startswith("http://127.0.0.1:8080/documents/")
    assert link.url.endswith("/statement/2027.csv")
    async with engine.database.reading() as db:
        code = await db.scalar(select(LinkCode).order_by(LinkCode.id.desc()).limit(1))
    assert (code.expires_at - code.created_at).total_seconds() == 3600
    assert link.url.split("/")[4] not in code.code_hash  # only a hash is kept


# --- How an invoiced activity is billed; the public price --------------------------------------


async def test_the_balance_says_invoiced_bookings_are_billed_at_the_end_of_the_month(engine, town):
    parent = await logged_in(engine)
    await parent.send("mon solde")
    parent.says(
        "Réservations à venir d'ici le mercredi 31 mars, facturées en fin de mois sur votre "
        "compte famille : 6,70 €"
    )


async def test_the_catalogue_says_the_households_price_depends_on_its_quotient(engine, town):
    async with engine.database.writing() as db:
        db.add_all(
            [
                Tariff(activity_id=town.cantine.id, max_quotient=600, price_cents=80),
                Tariff(activity_id=town.cantine.id, min_quotient=601, price_cents=250),
            ]
        )
    visitor = Script(engine, "visitor")
    await visitor.send("la cantine pour 5 ans")
    visitor.says(
        "Cantine (3-12 ans, Groupe scolaire Jules Ferry) — 3,35 € (prix public ; le vôtre "
        "dépend de votre quotient familial : de 0,80 € à 3,35 €)"
    )
    await visitor.send("quelles activités pour 7 ans en juillet")
    visitor.says("Centre de loisirs d'été (3-12 ans, Les Tilleuls) — 15,00 € —")
    visitor.never_says("15,00 € (prix public")


# --- Paying from the porte-monnaie ----------------------------------------------------------------


async def test_places_waiting_for_payment_can_be_paid_from_the_porte_monnaie(engine, town):
    parent = await logged_in(engine)
    await parent.send("inscris Léa aux mercredis loisirs le 24 mars")
    await parent.press("Confirmer")
    parent.says("À payer en ligne : 12,00 €")

    await parent.press("Mes réservations")
    parent.says("En attente de paiement : 12,00 €")
    labels = [label.replace("\u00a0", " ") for label in parent.buttons]
    assert "Payer avec le porte-monnaie (solde 37,50 €)" in labels
    await parent.press("Payer avec le porte-monnaie")

    parent.says(
        "Payé avec le porte-monnaie : 12,00 €. Reçu n° R2027-",
        "✓ Léa — Mercredis loisirs 6-12 — mercredi 24 mars — 12,00 € : confirmé",
        "Reste sur le porte-monnaie : 25,50 €",
    )
    assert await builders.balance_of(engine.database, town.dupont.id, WalletKind.EUROS) == 2550
    async with engine.database.reading() as db:
        booking = await db.scalar(
            select(Booking).where(
                Booking.session_id == town.session(town.mercredis, date(2027, 3, 24)).id
            )
        )
        payment = await db.scalar(select(Payment).order_by(Payment.id.desc()).limit(1))
    assert booking.state is BookingState.CONFIRMED
    assert payment.state is PaymentState.PAID and payment.details["paid_from"] == "wallet"

    await parent.press("Mes réservations")
    parent.never_says("En attente de paiement").does_not_offer("Payer avec le porte-monnaie")


async def test_the_porte_monnaie_is_not_offered_when_it_holds_too_little(engine, town):
    parent = await logged_in(engine)
    await parent.send("inscris Léa aux mercredis loisirs les 17, 24 et 31 mars")
    await parent.send("inscris Paolo aux mercredis loisirs les 17 et 24 mars")
    await parent.press("Confirmer")
    parent.says("À payer en ligne : 60,00 €")
    await parent.press("Mes réservations")
    parent.says("En attente de paiement : 60,00 €").does_not_offer("Payer avec le porte-monnaie")


# --- Receipts -----------------------------------------------------------------------------------


async def paid_from_wallet(engine: Engine) -> Script:
    parent = await logged_in(engine)
    await parent.send("inscris Léa aux mercredis loisirs le 24 mars")
    await parent.press("Confirmer")
    await parent.press("Mes réservations")
    await parent.press("Payer avec le porte-monnaie")
    return parent


async def test_my_receipts_lists_them_and_one_opens_with_a_printable_link(engine, town):
    parent = await paid_from_wallet(engine)
    async with engine.database.reading() as db:
        payment = await db.scalar(select(Payment).order_by(Payment.id.desc()).limit(1))
    number = payment.receipt_number

    for asked in ("mes reçus", "je veux mon reçu"):
        await parent.send(asked)
        parent.says("Vos reçus :", f"{number} — lun. 1er mars — 12,00 € — 1 réservation")
    await parent.send("mon solde")
    await parent.press("Mes reçus")
    await parent.press(number)

    parent.says(
        f"Reçu n° {number}",
        "Payé le lundi 1er mars à 09:00",
        "Payé avec le porte-monnaie",
        "• Léa — Mercredis loisirs 6-12 — mercredi 24 mars — 12,00 €",
        "Total payé : 12,00 €",
    ).offers("Recevoir par e-mail")
    (link,) = [reply.link for reply in parent.replies if reply.link is not None]
    assert link.label == "Ouvrir le reçu (à imprimer)"
    assert link.url.endswith(f"/receipt/{payment.id}")


async def test_a_receipt_is_sent_again_by_email_through_the_outbox(engine, town):
    parent = await paid_from_wallet(engine)
    async with engine.database.writing() as db:
        household = await db.get(type(town.dupont), town.dupont.id)
        household.emails = "jp.dupont@example.org"
        household.notify_channels = ["web"]  # asked for: sent even with e-mails off
        payment = await db.scalar(select(Payment).order_by(Payment.id.desc()).limit(1))
    await parent.press("Mes reçus")
    await parent.press(payment.receipt_number)

    await parent.press("Recevoir par e-mail")
    parent.says(f"Le reçu n° {payment.receipt_number} part par e-mail à jp.dupont@example.org")
    await parent.press(payment.receipt_number)
    await parent.press("Recevoir par e-mail")  # twice asked, twice sent

    async with engine.database.reading() as db:
        rows = (
            await db.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.kind == NoticeKind.PAYMENT_RESULT,
                    OutboxMessage.channel == "email",
                )
            )
        ).all()
    assert [row.address for row in rows] == ["jp.dupont@example.org"] * 2
    assert rows[0].data["again"] is True and rows[0].data["receipt"] == payment.receipt_number


async def test_without_an_email_address_the_receipt_says_how_to_get_it(engine, town):
    parent = await paid_from_wallet(engine)
    async with engine.database.reading() as db:
        payment = await db.scalar(select(Payment).order_by(Payment.id.desc()).limit(1))
    await parent.press("Mes reçus")
    await parent.press(payment.receipt_number)
    await parent.press("Recevoir par e-mail")
    parent.says("Aucune adresse e-mail n'est enregistrée pour votre compte famille")


async def test_a_household_without_receipts_is_told_where_they_come_from(engine, town):
    parent = await logged_in(engine)
    await parent.send("mes reçus")
    parent.says("Vous n'avez pas encore de reçu")

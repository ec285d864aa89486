"""Receipts and the year's statement over HTTP, on the demo town: a printable receipt page and
a CSV download behind short-lived links that open one document of one household; a receipt
sent again by e-mail through the outbox to a real SMTP server; paying from the porte-monnaie
in the web chat; the pay page with the chat's look."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy import select

from booking.clock import FrozenClock
from booking.db import Database
from booking.models import BookingState, Guardian, PaymentState, WalletKind
from booking.services.documents import document_code, receipt_document, statement_document
from bot.app import build_app
from bot.settings import Settings
from bot.web.keys import OUTBOX
from tests import builders
from tests.integration import test_payments_flow as flow
from tests.integration.test_payments_flow import (
    MERCHANT,
    MERCREDIS,
    SECRET,
    Chat,
    booked_and_confirmed,
    household_of,
    page_of,
    path_of,
    pay,
    plain,
    receipts,
    states_of,
    the_payment,
)
from tests.smtp_server import SmtpServer, smtp_server

# The demo town served by the real app (fixtures shared with the payment flows).
demo_template = flow.demo_template
demo = flow.demo
client = flow.client


async def receipt_link(chat: Chat, number: str) -> str:
    await chat.say("mes reçus")
    await chat.press(number)
    link = chat.link
    assert plain(link["label"]) == "Ouvrir le reçu (à imprimer)"
    return link["url"]


async def paid_by_card(client: TestClient, demo: Database) -> tuple[Chat, str]:
    chat, url = await booked_and_confirmed(client)
    assert "Paiement accepté" in await pay(client, url)
    return chat, (await the_payment(demo, url)).receipt_number


async def code_for(demo: Database, login: str, document: str, clock: FrozenClock) -> str:
    async with demo.writing() as db:
        guardian_id = await db.scalar(select(Guardian.id).where(Guardian.login == login))
        return await document_code(db, guardian_id=guardian_id, document=document, now=clock.now())


# --- The receipt page ------------------------------------------------------------------------


async def test_a_receipt_opens_as_a_printable_page_of_the_town(client, demo):
    chat, number = await paid_by_card(client, demo)

    response = await client.get(path_of(client, await receipt_link(chat, number)))

    assert response.status == 200
    assert "no-store" in response.headers["Cache-Control"]
    page = await page_of(response)
    assert MERCHANT in page and f"Reçu n° {number}" in page
    assert "DUPONT" in page and "lundi 1er mars 2027, 09:00" in page
    assert "Carte bancaire (référence RIB" in page
    assert f"Léa — {MERCREDIS} — mercredi 10 mars" in page and "10,00 €" in page
    assert "Total payé : 20,00 €" in page
    assert '<link rel="stylesheet" href="/pages.css">' in page
    assert "window.print()" in page and 'href="/"' in page
    styles = await client.get("/pages.css")
    assert styles.status == 200 and styles.content_type == "text/css"
    assert "@media print" in await styles.text()


async def test_a_receipt_link_opens_that_receipt_of_that_household_only(client, demo, clock):
    chat, number = await paid_by_card(client, demo)
    url = path_of(client, await receipt_link(chat, number))
    _, _, code, _, payment_id = url.split("/")

    forged = [
        url.replace(code, code[:-1] + ("A" if code[-1] != "A" else "B")),
        f"/documents/{code}/receipt/{int(payment_id) + 1}",  # another receipt
        f"/documents/{code}/statement/2027.csv",  # another document
    ]
    for path in forged:
        response = await client.get(path)
        assert response.status == 404, path
        assert "Ce lien n'est plus valable" in await page_of(response)

    # Another household's code for this receipt opens nothing: it is not theirs.
    theirs = await code_for(demo, "martin", receipt_document(int(payment_id)), clock)
    assert (await client.get(f"/documents/{theirs}/receipt/{payment_id}")).status == 404

    clock.advance(days=1, minutes=1)  # a receipt link lasts a day
    assert (await client.get(url)).status == 404


# --- The year's statement --------------------------------------------------------------------


async def test_the_years_consumptions_and_payments_download_as_a_spreadsheet(client, demo, clock):
    chat, number = await paid_by_card(client, demo)
    clock.advance(days=10)  # the Wednesday of 10 March has taken place
    await chat.say("mon solde")
    await chat.press("Télécharger 2027")
    link = chat.link
    assert plain(link["label"]) == "Télécharger le relevé 2027"

    response = await client.get(path_of(client, link["url"]))

    assert response.status == 200 and response.content_type == "text/csv"
    assert 'filename="releve-2027.csv"' in response.headers["Content-Disposition"]
    body = (await response.read()).decode("utf-8")
    assert body.startswith("\ufeffDate;Nature;Enfant;Activité ou référence;Montant (€);Coupons")
    lines = body.splitlines()
    assert f"2027-03-01;paiement par carte;;{number};20,00;" in lines
    assert f"2027-03-10;centre de loisirs;Léa;{MERCREDIS};-10,00;" in lines
    assert not any("2027-03-17" in line for line in lines)  # to come: not consumed yet
    assert any(";rechargement;;" in line for line in lines)

    path = path_of(client, link["url"])
    assert (await client.get(path.replace("2027.csv", "2026.csv"))).status == 404
    clock.advance(hours=1)
    assert (await client.get(path)).status == 404


async def test_another_households_statement_holds_none_of_this_households_lines(
    client, demo, clock
):
    _, number = await paid_by_card(client, demo)
    code = await code_for(demo, "martin", statement_document(2027), clock)

    body = (await (await client.get(f"/documents/{code}/statement/2027.csv")).read()).decode()

    assert number not in body and "Léa" not in body


# --- Sent again by e-mail --------------------------------------------------------------------


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with smtp_server() as server:
        yield server


@pytest.fixture
async def mailing_client(
    demo: Database, clock: FrozenClock, smtp: SmtpServer
) -> AsyncIterator[TestClient]:
    """The real app with an SMTP relay: the outbox sends e-mail."""
    port = unused_port()
    settings = Settings(
        database_url="sqlite://unused",
        public_url=f"http://127.0.0.1:{port}",
        payment_secret=SECRET,
        smtp_url=smtp.url,
        chat_burst=1000,
    )
    app = build_app(settings, database=demo, clock=clock, run_scheduler=False)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    yield client
    await client.close()


async def test_a_receipt_is_sent_again_by_email_through_the_outbox(mailing_client, demo, smtp):
    chat, number = await paid_by_card(mailing_client, demo)
    await mailing_client.app[OUTBOX].run_once()
    before = len(smtp.messages)
    await receipt_link(chat, number)

    await chat.press("Recevoir par e-mail")
    assert f"Le reçu n° {number} part par e-mail à jean-paul.dupont@example.org" in chat.text
    await mailing_client.app[OUTBOX].run_once()

    (sent,) = smtp.messages[before:]
    assert sent["Subject"] == f"Votre reçu n° {number}"
    assert sent["To"] == "jean-paul.dupont@example.org"
    text = plain(sent.get_body(("plain",)).get_content())
    assert f"Reçu n° {number}" in text and "Total payé : 20,00 €" in text
    assert f"Léa — {MERCREDIS} — mercredi 10 mars — 10,00 €" in text


# --- Paying from the porte-monnaie in the web chat; the pay page's look ------------------------


async def test_the_porte_monnaie_pays_the_places_waiting_in_the_web_chat(client, demo):
    chat, url = await booked_and_confirmed(client)  # 20,00 € with 25,00 € in the wallet
    await chat.say("mes réservations")
    assert "Payer avec le porte-monnaie (solde 25,00 €)" in chat.buttons

    await chat.press("Payer avec le porte-monnaie")

    assert "Payé avec le porte-monnaie : 20,00 €" in chat.text
    assert "Reste sur le porte-monnaie : 5,00 €" in chat.text
    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.PAID
    assert await states_of(demo, payment) == [BookingState.CONFIRMED] * 2
    household = await household_of(demo, "dupont")
    assert await builders.balance_of(demo, household, WalletKind.EUROS) == 500
    assert receipts(await chat.pushed()) == []  # said in this chat already, not pushed again
    page = await page_of(await client.get(path_of(client, url)))
    assert "Paiement accepté" in page and "Payé avec le porte-monnaie" in page


async def test_the_pay_page_has_the_chats_look_the_town_the_items_and_a_way_back(client, demo):
    _, url = await booked_and_confirmed(client)

    page = await page_of(await client.get(path_of(client, url)))

    assert '<html lang="fr">' in page
    assert '<link rel="stylesheet" href="/pages.css">' in page
    assert re.search(r'<p class="town">[^<]*' + re.escape(MERCHANT), page)
    assert "<h1>Votre paiement</h1>" in page
    assert page.count("<li>") == 2 and "Total : 20,00 €" in page
    assert "<button class='button primary' type='submit'>Payer 20,00 €</button>" in page
    assert '<a class="button secondary" href="/">Revenir à la conversation</a>' in page
    assert "<style" not in page and "https://" not in page  # served CSS, nothing fetched elsewhere

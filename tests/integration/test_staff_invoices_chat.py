"""The parent's side of monthly invoices: the chat's balance lists them, a button gives a
short-lived link to the PDF, which opens for that household only. The scripted town (Monday
1 March 2027): February's canteen meals are invoiced."""

from __future__ import annotations

from urllib.parse import urlsplit

from booking.services.invoices import issue_month
from tests.staff_support import start_app
from tests.unit import dialog_script
from tests.unit.dialog_script import Script

town_template = dialog_script.town_template
sqlite_url = dialog_script.sqlite_url
town = dialog_script.town
engine = dialog_script.engine


async def test_the_balance_lists_the_invoices_and_opens_one_as_pdf(
    engine, town, sqlite_database, clock
):
    async with sqlite_database.writing() as db:
        issued = await issue_month(
            db,
            structure_id=town.dupont.structure_id,
            year=2027,
            month=2,
            staff=None,
            now=clock.now(),
        )
    mine = next(invoice for invoice in issued if invoice.household_id == town.dupont.id)
    parent = Script(engine, "parent")
    await parent.login()

    await parent.send("mon solde")

    parent.says("Vos factures :", f"Facture n° {mine.number} — février 2027 — ")
    parent.offers(f"PDF {mine.number}")
    await parent.press(f"PDF {mine.number}")
    link = next(reply.link for reply in parent.replies if reply.link is not None)
    assert link.label == f"Ouvrir {mine.number} (PDF)"

    client = await start_app(sqlite_database, clock)
    try:
        response = await client.get(urlsplit(link.url).path)
        body = await response.read()
        assert response.status == 200 and response.content_type == "application/pdf"
        assert body.startswith(b"%PDF") and mine.number.encode() in body
        others = [i.id for i in issued if i.household_id != town.dupont.id] + [mine.id + 100]
        for other_id in others:  # the code opens this invoice only
            forged = urlsplit(link.url).path.replace(f"/{mine.id}.pdf", f"/{other_id}.pdf")
            response = await client.get(forged)
            assert response.status == 404 and b"%PDF" not in await response.read()
    finally:
        await client.close()

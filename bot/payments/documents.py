"""A household's documents behind the short-lived links the chat gives (`booking.services.
documents`): a receipt as a printable page, the year's statement as a spreadsheet (CSV).

- `GET /documents/<code>/receipt/<payment id>`: the receipt, printable (its own print styles).
- `GET /documents/<code>/statement/<year>.csv`: consumptions and money movements of the year.
- `GET /documents/<code>/invoice/<invoice id>.pdf`: a monthly invoice or credit note (PDF).

A code opens one document of one household until it expires; anything else is a 404 that
says how to get a new link, never another household's data.
"""

from __future__ import annotations

import csv
import html
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from booking.models import Household, Invoice, Payment, PaymentPurpose
from booking.services.documents import (
    document_household,
    invoice_document,
    receipt_document,
    statement_document,
)
from booking.services.payments import order_id, paid_from
from booking.services.receipts import receipt_data, receipt_of
from booking.services.statements import year_statement
from bot.payments.pages import page, translator, ways_back
from bot.staff.invoice_pdf import invoice_pdf, pdf_filename
from bot.web.keys import CLOCK, DATABASE
from dialogs.explain import consumption_word, item_line, movement_word
from dialogs.i18n import Translator

RECEIPT = "/documents/{code}/receipt/{payment_id:[0-9]{1,12}}"
STATEMENT = "/documents/{code}/statement/{year:[0-9]{4}}.csv"
INVOICE = "/documents/{code}/invoice/{invoice_id:[0-9]{1,12}}.pdf"
PRIVATE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


async def _household(request: web.Request, document: str) -> Household | None:
    """The household the link's code opens this document for, with its structure."""
    async with request.app[DATABASE].reading() as db:
        household_id = await document_household(
            db, document=document, code=request.match_info["code"], now=request.app[CLOCK].now()
        )
        if household_id is None:
            return None
        return await db.scalar(
            select(Household)
            .where(Household.id == household_id)
            .options(joinedload(Household.structure))
        )


def _expired(request: web.Request, t: Translator) -> web.Response:
    return page(
        t,
        town="Ribambelle",
        title=t._("Ce lien n'est plus valable"),
        body="<p>"
        + html.escape(
            t._(
                "Les liens vers vos documents ne durent pas : demandez « mes reçus » ou "
                "« mon solde » dans la conversation pour en avoir un nouveau."
            )
        )
        + f"</p><div class='actions'>{ways_back(request, t)}</div>",
        status=404,
        headers=PRIVATE,
    )


async def receipt_page(request: web.Request) -> web.Response:
    """A receipt as a page to keep or print: town, number, when, how, what, total."""
    t = translator(request)
    payment_id = int(request.match_info["payment_id"])
    household = await _household(request, receipt_document(payment_id))
    if household is None:
        return _expired(request, t)
    async with request.app[DATABASE].reading() as db:
        payment = await receipt_of(db, household.id, payment_id)
    if payment is None:
        return _expired(request, t)
    tz = ZoneInfo(household.structure.timezone)
    data = receipt_data(payment)
    settled = datetime.fromisoformat(data["settled_at"]).astimezone(tz)
    how = (
        t._("Porte-monnaie")
        if paid_from(payment) == "wallet"
        else t._("Carte bancaire (référence {reference})", reference=order_id(payment))
    )
    facts = [
        (t._("Famille"), household.name),
        (t._("Payé le"), f"{t.day_with_year(settled.date())}, {t.time(settled)}"),
        (t._("Moyen de paiement"), how),
    ]
    rows = "".join(
        "<tr><td>"
        + html.escape(item_line(t, item, price=False))
        + "</td><td class='amount'>"
        + html.escape(t.money(int(item.get("amount_cents") or 0)))
        + "</td></tr>"
        for item in data["items"]
    ) or (
        "<tr><td>"
        + html.escape(_what(t, payment))
        + "</td><td class='amount'>"
        + html.escape(t.money(payment.amount_cents))
        + "</td></tr>"
    )
    credited = (
        "<p>"
        + html.escape(
            t._(
                "Le paiement est arrivé trop tard pour ces places : {amount} ont été "
                "crédités sur votre porte-monnaie.",
                amount=t.money(data["credited_cents"]),
            )
        )
        + "</p>"
        if data["credited_cents"]
        else ""
    )
    body = (
        "<dl class='facts'>"
        + "".join(
            f"<dt>{html.escape(term)}</dt><dd>{html.escape(value)}</dd>" for term, value in facts
        )
        + "</dl><table class='lines'><thead><tr><th scope='col'>"
        + html.escape(t._("Objet"))
        + "</th><th scope='col' class='amount'>"
        + html.escape(t._("Montant"))
        + "</th></tr></thead><tbody>"
        + rows
        + "</tbody></table>"
        + credited
        + "<p class='total'>"
        + html.escape(t._("Total payé : {amount}", amount=t.money(payment.amount_cents)))
        + "</p><div class='actions'><button class='button primary' type='button' "
        + "onclick='window.print()'>"
        + html.escape(t._("Imprimer"))
        + "</button>"
        + ways_back(request, t)
        + "</div>"
    )
    return page(
        t,
        town=household.structure.name,
        title=t._("Reçu n° {number}", number=payment.receipt_number or ""),
        body=body,
        headers=PRIVATE,
    )


def _what(t: Translator, payment: Payment) -> str:
    if payment.purpose is PaymentPurpose.TOP_UP and payment.coupons:
        return t.n_("{count} coupon", "{count} coupons", payment.coupons)
    if payment.purpose is PaymentPurpose.TOP_UP:
        return t._("Rechargement du porte-monnaie")
    return t._("Règlement des sommes dues")


async def statement_csv(request: web.Request) -> web.Response:
    """The year's consumptions and money movements, one line each, for a spreadsheet."""
    t = translator(request)
    year = int(request.match_info["year"])
    household = await _household(request, statement_document(year))
    if household is None:
        return _expired(request, t)
    tz = ZoneInfo(household.structure.timezone)
    async with request.app[DATABASE].reading() as db:
        statement = await year_statement(db, household.id, year, tz, now=request.app[CLOCK].now())
    rows: list[tuple[date, list[str]]] = []
    for line in statement.consumptions:
        rows.append(
            (
                line.day,
                [
                    consumption_word(t, line.category),
                    line.participant,
                    line.activity,
                    _euros(t, -line.price_cents) if line.price_cents else "",
                    str(-line.coupons) if line.coupons else "",
                ],
            )
        )
    for movement in statement.movements:
        coupons = movement.wallet.value == "coupons"
        rows.append(
            (
                movement.at.date(),
                [
                    movement_word(t, movement.kind, movement.wallet),
                    "",
                    movement.label,
                    "" if coupons else _euros(t, movement.amount),
                    str(movement.amount) if coupons else "",
                ],
            )
        )
    rows.sort(key=lambda row: row[0])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if t.locale == "fr" else ",", lineterminator="\r\n")
    writer.writerow(
        [
            t._("Date"),
            t._("Nature"),
            t._("Enfant"),
            t._("Activité ou référence"),
            t._("Montant (€)"),
            t._("Coupons"),
        ]
    )
    for day, cells in rows:
        writer.writerow([day.isoformat(), *cells])
    filename = t._("releve-{year}.csv", year=year)
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),  # the BOM: spreadsheets read UTF-8
        content_type="text/csv",
        charset="utf-8",
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _euros(t: Translator, cents: int) -> str:
    """A signed amount a spreadsheet reads as a number: "-3,35" in French, "-3.35" in English."""
    units, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}{units}{',' if t.locale == 'fr' else '.'}{rest:02d}"


async def invoice_pdf_page(request: web.Request) -> web.Response:
    """The household's own invoice (or credit note) as PDF, in the parent's language."""
    t = translator(request)
    invoice_id = int(request.match_info["invoice_id"])
    household = await _household(request, invoice_document(invoice_id))
    if household is None:
        return _expired(request, t)
    async with request.app[DATABASE].reading() as db:
        invoice = await db.get(Invoice, invoice_id)
        if invoice is None or invoice.household_id != household.id:
            return _expired(request, t)
        corrects = await db.get(Invoice, invoice.corrects_id) if invoice.corrects_id else None
    body = invoice_pdf(
        invoice,
        town=household.structure.name,
        t=t,
        tz=ZoneInfo(household.structure.timezone),
        corrects=corrects,
    )
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={**PRIVATE, "Content-Disposition": f'inline; filename="{pdf_filename(invoice)}"'},
    )


def setup_document_routes(app: web.Application) -> None:
    app.router.add_get(RECEIPT, receipt_page)
    app.router.add_get(INVOICE, invoice_pdf_page)
    app.router.add_get(STATEMENT, statement_csv)

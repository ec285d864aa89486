"""Back-office pages: the month's invoices (preview, issue), one invoice with its credit notes,
its PDF, and the accounting export (CSV)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from booking.models import Invoice, InvoiceKind, StaffRole, Structure
from booking.money import parse_euros, plain_euros
from booking.services.invoices import (
    InvoiceRefused,
    credit_notes_of,
    credited_lines,
    invoice_of,
    invoices_of_month,
    issue_credit_note,
    issue_month,
    month_bills,
    month_is_over,
)
from booking.services.staff_accounts import StaffContext
from bot.staff.invoice_pdf import invoice_pdf, pdf_filename
from bot.staff.web import (
    FORM,
    ZONE,
    chosen_month,
    csv_response,
    error_page,
    local_today,
    page,
    redirect,
    render,
    translator,
)
from bot.web.keys import CLOCK, DATABASE, OUTBOX
from dialogs.i18n import Translator

PRIVATE = {"Cache-Control": "private, no-store"}


def _month(request: web.Request) -> date:
    """The month asked (`?month=2027-02`), else (or when unreadable) last month."""
    last_month = (local_today(request).replace(day=1) - timedelta(days=1)).replace(day=1)
    return chosen_month(request, last_month) or last_month


async def _structure(request: web.Request, staff: StaffContext) -> Structure:
    async with request.app[DATABASE].reading() as db:
        structure = await db.get(Structure, staff.structure_id)
    assert structure is not None
    return structure


def refusal_text(t: Translator, refused: InvoiceRefused) -> str:
    messages = {
        "month_not_over": t._("Un mois se facture une fois terminé."),
        "unknown_invoice": t._("Facture introuvable."),
        "not_an_invoice": t._("Un avoir ne se corrige pas : corrigez la facture."),
        "reason_missing": t._("Indiquez le motif de l'avoir."),
        "nothing_to_credit": t._("Choisissez des lignes ou un montant à rembourser."),
        "line_already_credited": t._("La ligne {line} a déjà fait l'objet d'un avoir."),
        "too_much": t._("L'avoir dépasse ce qui reste facturé ({amount})."),
    }
    params = dict(refused.params)
    if "remaining_cents" in params:
        params["amount"] = t.money(params.pop("remaining_cents"))
    return messages.get(refused.code, refused.code).format(**params)


@page("GET", "/invoices", role=StaffRole.MANAGER, name="invoices")
async def invoices_page(request: web.Request, staff: StaffContext) -> web.Response:
    """The month: what would be billed (not invoiced yet) and what was issued."""
    structure = await _structure(request, staff)
    month = _month(request)
    async with request.app[DATABASE].reading() as db:
        bills = await month_bills(db, staff.structure_id, month.year, month.month)
        issued = await invoices_of_month(db, staff.structure_id, month.year, month.month)
    invoiced = {i.household_id for i in issued if i.kind is InvoiceKind.INVOICE}
    pending = [bill for bill in bills if bill.household_id not in invoiced and bill.total_cents]
    previous = (month - timedelta(days=1)).replace(day=1)
    following = (month + timedelta(days=31)).replace(day=1)
    return render(
        request,
        "invoices.html",
        {
            "month": month,
            "month_code": f"{month:%Y-%m}",
            "previous": f"{previous:%Y-%m}",
            "following": f"{following:%Y-%m}",
            "pending": pending,
            "pending_total": sum(bill.total_cents for bill in pending),
            "issued": issued,
            "can_issue": month_is_over(month.year, month.month, local_today(request)),
            "basis": structure.invoice_basis,
            "message": request.query.get("issued"),
        },
    )


@page("POST", "/invoices/issue", role=StaffRole.MANAGER, name="invoices_issue")
async def issue(request: web.Request, staff: StaffContext) -> web.Response:
    form = request[FORM]
    try:
        year, month = (int(part) for part in str(form.get("month", "")).split("-"))
        date(year, month, 1)
    except ValueError:
        return error_page(request, 400, translator(request)._("Mois invalide."))
    try:
        async with request.app[DATABASE].writing() as db:
            issued = await issue_month(
                db,
                structure_id=staff.structure_id,
                year=year,
                month=month,
                staff=staff,
                now=request.app[CLOCK].now(),
            )
    except InvoiceRefused as refused:
        return error_page(request, 409, refusal_text(translator(request), refused))
    request.app[OUTBOX].wake()  # the families are told now, not at the next tick
    return redirect(f"/staff/invoices?month={year}-{month:02d}&issued={len(issued)}")


async def _invoice(request: web.Request, staff: StaffContext) -> Invoice | None:
    async with request.app[DATABASE].reading() as db:
        return await invoice_of(db, staff.structure_id, int(request.match_info["invoice_id"]))


@page("GET", r"/invoices/{invoice_id:\d{1,12}}", role=StaffRole.MANAGER, name="invoice")
async def invoice_page(request: web.Request, staff: StaffContext) -> web.Response:
    t = translator(request)
    invoice = await _invoice(request, staff)
    if invoice is None:
        return error_page(request, 404, t._("Facture introuvable."))
    return await _invoice_view(request, invoice, message="")


async def _invoice_view(
    request: web.Request, invoice: Invoice, *, message: str, status: int = 200
) -> web.Response:
    async with request.app[DATABASE].reading() as db:
        notes = await credit_notes_of(db, invoice) if invoice.kind is InvoiceKind.INVOICE else []
        corrects = await db.get(Invoice, invoice.corrects_id) if invoice.corrects_id else None
    credited = credited_lines(notes)
    remaining = invoice.total_cents + sum(note.total_cents for note in notes)
    lines = [
        {
            "index": index,
            "credited": index in credited,
            "day": _day(line),
            "child": line.get("child") or "",
            "activity": line.get("activity") or line.get("label") or "",
            "unit_cents": line.get("unit_cents"),
            "amount_cents": int(line["amount_cents"]),
        }
        for index, line in enumerate(invoice.lines)
    ]
    return render(
        request,
        "invoices_detail.html",
        {
            "invoice": invoice,
            "credit": invoice.kind is InvoiceKind.CREDIT_NOTE,
            "lines": lines,
            "notes": notes,
            "corrects": corrects,
            "remaining": remaining,
            "period": date(invoice.year, invoice.month, 1),
            "month_code": f"{invoice.year}-{invoice.month:02d}",
            "message": message,
        },
        status=status,
    )


def _day(line: dict) -> date | None:
    return date.fromisoformat(line["day"]) if line.get("day") else None


def _cents(text: str) -> int | None:
    """ "12,50" or "12.50" euros as cents, 0 when empty; None if it is not an amount."""
    if not text.strip():
        return 0
    try:
        cents = parse_euros(text)
    except ValueError:
        return None
    return cents if cents >= 0 else None


@page("POST", r"/invoices/{invoice_id:\d{1,12}}/credit", role=StaffRole.MANAGER, name="credit")
async def credit(request: web.Request, staff: StaffContext) -> web.Response:
    """A credit note for the lines ticked, or an amount, with its reason."""
    t = translator(request)
    invoice = await _invoice(request, staff)
    if invoice is None:
        return error_page(request, 404, t._("Facture introuvable."))
    form = request[FORM]
    amount = _cents(str(form.get("amount", "")))
    if amount is None:
        return await _invoice_view(request, invoice, message=t._("Montant invalide."), status=400)
    indexes = [int(v) for v in form.getall("line", []) if str(v).isdigit() and len(str(v)) < 6]
    try:
        async with request.app[DATABASE].writing() as db:
            note = await issue_credit_note(
                db,
                structure_id=staff.structure_id,
                invoice_id=invoice.id,
                staff=staff,
                now=request.app[CLOCK].now(),
                reason=str(form.get("reason", "")),
                line_indexes=indexes,
                amount_cents=amount,
            )
    except InvoiceRefused as refused:
        return await _invoice_view(request, invoice, message=refusal_text(t, refused), status=400)
    return redirect(f"/staff/invoices/{note.id}")


@page("GET", r"/invoices/{invoice_id:\d{1,12}}.pdf", role=StaffRole.MANAGER, name="invoice_pdf")
async def pdf(request: web.Request, staff: StaffContext) -> web.StreamResponse:
    t = translator(request)
    invoice = await _invoice(request, staff)
    if invoice is None:
        return error_page(request, 404, t._("Facture introuvable."))
    structure = await _structure(request, staff)
    async with request.app[DATABASE].reading() as db:
        corrects = await db.get(Invoice, invoice.corrects_id) if invoice.corrects_id else None
    body = invoice_pdf(
        invoice, town=structure.name, t=t, tz=ZoneInfo(structure.timezone), corrects=corrects
    )
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={
            **PRIVATE,
            "Content-Disposition": f'inline; filename="{pdf_filename(invoice)}"',
        },
    )


@page("GET", "/invoices.csv", role=StaffRole.MANAGER, name="invoices_csv")
async def invoices_csv(request: web.Request, staff: StaffContext) -> web.Response:
    """The month's invoices and credit notes for the accounts: number, date, household
    reference and name, kind, total in euros; `;`-separated, UTF-8 with a BOM."""
    t = translator(request)
    tz = request[ZONE]
    month = _month(request)
    async with request.app[DATABASE].reading() as db:
        issued = await invoices_of_month(db, staff.structure_id, month.year, month.month)
    header = [
        t._("Numéro"),
        t._("Date"),
        t._("Référence famille"),
        t._("Nom"),
        t._("Type"),
        t._("Total (€)"),
    ]
    rows = [
        [
            invoice.number,
            invoice.issued_at.astimezone(tz).date().isoformat(),
            invoice.household_reference,
            invoice.household_name,
            t._("avoir") if invoice.kind is InvoiceKind.CREDIT_NOTE else t._("facture"),
            plain_euros(invoice.total_cents),
        ]
        for invoice in issued
    ]
    return csv_response(f"factures-{month:%Y-%m}.csv", header, rows, PRIVATE)

"""An invoice or a credit note as a PDF (fpdf2), in the reader's language.

fpdf2's core fonts are Latin-1 only (no "€", no "œ"): the text is set in DejaVu Sans, vendored
under static/fonts/ (Bitstream Vera licence, DejaVu-LICENSE.txt) so that no system font is
needed. The PDF is drawn from the invoice's own copy of its lines and household: a document
printed again years later says what was issued.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF

from booking.models import Invoice, InvoiceKind
from dialogs.i18n import Translator

FONTS = Path(__file__).parent / "static" / "fonts"
FONT = "DejaVu"


def document_title(t: Translator, invoice: Invoice) -> str:
    if invoice.kind is InvoiceKind.CREDIT_NOTE:
        return t._("Avoir n° {number}", number=invoice.number)
    return t._("Facture n° {number}", number=invoice.number)


def pdf_filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"


def invoice_pdf(
    invoice: Invoice,
    *,
    town: str,
    t: Translator,
    tz: ZoneInfo,
    corrects: Invoice | None = None,
    compress: bool = True,
) -> bytes:
    """The invoice as PDF bytes: town, household, number, date, lines, total."""
    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    pdf.set_title(document_title(t, invoice))
    pdf.set_subject(invoice.number)  # plain ASCII in the document's information
    pdf.set_author(town)
    pdf.set_creation_date(invoice.issued_at)  # the same invoice gives the same document
    pdf.set_creator("Ribambelle")
    pdf.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(FONT, "B", 16)
    pdf.cell(width, 9, town, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    pdf.cell(width, 6, t._("Services à l'enfance"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    pdf.set_font(FONT, "B", 14)
    pdf.cell(width, 8, document_title(t, invoice), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    issued = invoice.issued_at.astimezone(tz).date()
    month = t.month(date(invoice.year, invoice.month, 1))
    facts = [
        t._("Date : {day}", day=t.day_with_year(issued)),
        t._("Période : {month}", month=month),
        t._(
            "Famille : {name} (réf. {reference})",
            name=invoice.household_name,
            reference=invoice.household_reference,
        ),
    ]
    if corrects is not None:
        facts.append(t._("Corrige la facture n° {number}", number=corrects.number))
    for fact in facts:
        pdf.cell(width, 6, fact, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    columns = (
        (t._("Date"), 0.18, "L"),
        (t._("Enfant"), 0.17, "L"),
        (t._("Activité"), 0.35, "L"),
        (t._("Prix unitaire"), 0.15, "R"),
        (t._("Montant"), 0.15, "R"),
    )
    pdf.set_font(FONT, "B", 9)
    pdf.set_fill_color(235, 235, 235)
    for label, share, align in columns:
        pdf.cell(width * share, 7, label, border=1, align=align, fill=True)
    pdf.ln()
    pdf.set_font(FONT, "", 9)
    for line in invoice.lines:
        day = t.short_day(date.fromisoformat(line["day"])) if line.get("day") else ""
        what = line.get("activity") or line.get("label") or ""
        unit = t.money(int(line["unit_cents"])) if "unit_cents" in line else ""
        cells = (day, line.get("child", ""), what, unit, t.money(int(line["amount_cents"])))
        for value, (_, share, align) in zip(cells, columns, strict=True):
            pdf.cell(width * share, 6, _fit(pdf, str(value), width * share), border=1, align=align)
        pdf.ln()
    pdf.set_font(FONT, "B", 11)
    pdf.cell(width * 0.85, 8, t._("Total"), border=1, align="R")
    pdf.cell(width * 0.15, 8, t.money(invoice.total_cents), border=1, align="R")
    pdf.ln(12)
    pdf.set_font(FONT, "", 9)
    if invoice.kind is InvoiceKind.CREDIT_NOTE:
        reason = next((line.get("reason") for line in invoice.lines if line.get("reason")), "")
        if reason:
            pdf.multi_cell(width, 5, t._("Motif : {reason}", reason=reason))
        pdf.multi_cell(width, 5, t._("Ce montant est déduit de ce que vous devez à la mairie."))
    else:
        pdf.multi_cell(
            width,
            5,
            t._(
                "À régler auprès de la mairie. Votre solde est aussi dans « mon solde », "
                "dans la conversation Ribambelle."
            ),
        )
    return bytes(pdf.output())


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """Shorten a cell's text with "…" so that it stays in its column."""
    if pdf.get_string_width(text) <= width - 2:
        return text
    while text and pdf.get_string_width(text + "…") > width - 2:
        text = text[:-1]
    return text + "…"

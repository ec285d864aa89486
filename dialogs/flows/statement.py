"""Balance and history: the wallets, then this month's and last month's statement (or any
month asked for) in signed lines with their kind, and the year to download."""

from __future__ import annotations

import re
from datetime import date, timedelta

from booking.models import Invoice, InvoiceKind, WalletKind
from booking.services.documents import document_code, invoice_document, statement_document
from booking.services.invoices import household_invoice, household_invoices
from booking.services.statements import (
    Consumption,
    MonthStatement,
    Movement,
    month_bounds,
    month_statement,
    wallet_forecasts,
)
from dialogs.explain import consumption_word, movement_word, signed_coupons, signed_money
from dialogs.flows.common import nav_row, require_login
from dialogs.flows.pay import history_lines, payment_rows
from dialogs.replies import Link
from dialogs.turn import Turn, action, step

#: Statement lines per section before "… and N more": two months fit a phone's screen.
STATEMENT_LINES = 8
MONTH_LINES = 15
#: Invoices listed with the balance, newest first, each with its PDF button.
INVOICES_SHOWN = 3
#: A ledger label that is a receipt's number ("R2027-000012").
RECEIPT_NUMBER = re.compile(r"R\d{4}-\d+")


async def show_history(turn: Turn, month: date | None) -> None:
    """One month's statement ("historique de janvier"), or this month's and the last."""
    turn.state.question = {"history": month.isoformat()} if month else {}
    await turn.show("balance")


@action("balance")
@require_login
async def open_balance(turn: Turn) -> None:
    turn.state.question = {}
    await turn.show("balance")


@action("history")
@require_login
async def open_history(turn: Turn, month: str | None) -> None:
    """Another month's statement ("‹ février 2027"), or back to this month and the last."""
    await show_history(turn, date.fromisoformat(month) if month else None)


@step("balance")
async def show_balance(turn: Turn) -> None:
    """Balances, then this month's and last month's statement (or the month asked for), with
    signed lines: "+ 30,00 € rechargement", "− 3,35 € repas"."""
    state = turn.state
    if not state.logged_in:
        await turn.show("start")
        return
    state.step = "balance"
    t = turn.t
    today = turn.now.astimezone(turn.tz).date()
    lines = await _balance_lines(turn, today)
    invoices = await household_invoices(turn.db, state.household_id, limit=INVOICES_SHOWN)
    if invoices:
        lines.append(t._("Vos factures :"))
        lines += ["• " + _invoice_line(turn, invoice) for invoice in invoices]
    this_month = today.replace(day=1)
    asked = (state.question or {}).get("history")
    if asked:
        months = [date.fromisoformat(asked)]
    else:
        months = [this_month, (this_month - timedelta(days=1)).replace(day=1)]
    most = MONTH_LINES if asked else STATEMENT_LINES
    for month_start in months:
        statement = await month_statement(
            turn.db,
            state.household_id,
            month_start.year,
            month_start.month,
            turn.tz,
            now=turn.now,
        )
        lines.append("")
        lines += _statement_lines(turn, statement, most)
    if not asked:
        history = await history_lines(turn)
        if history:
            lines.append("")
            lines.extend(history)
    shown = months[-1]
    earlier = (shown - timedelta(days=1)).replace(day=1)
    later = month_bounds(months[0].year, months[0].month)[1]
    nav = [turn.button("‹ " + t.month(earlier), "history", earlier.isoformat())]
    if asked and later <= this_month:
        nav.append(
            turn.button(
                t.month(later) + " ›",
                "history",
                None
                if later >= (this_month - timedelta(days=1)).replace(day=1)
                else later.isoformat(),
            )
        )
    years = sorted({month.year for month in months}, reverse=True)
    downloads = [
        turn.button(t._("Télécharger {year} (tableur)", year=year), "download_year", year)
        for year in years
    ]
    pdfs = [
        turn.button(t._("PDF {number}", number=invoice.number), "invoice_pdf", invoice.id)
        for invoice in invoices
    ]
    turn.say(
        "\n".join(lines),
        [
            *await payment_rows(turn),
            *([pdfs] if pdfs else []),
            nav,
            downloads,
            nav_row(turn, back=False),
        ],
    )


def _invoice_line(turn: Turn, invoice: Invoice) -> str:
    """ "Facture n° F2027-00001 — février 2027 — 6,70 €"."""
    t = turn.t
    month = t.month(date(invoice.year, invoice.month, 1))
    if invoice.kind is InvoiceKind.CREDIT_NOTE:
        title = t._("Avoir n° {number}", number=invoice.number)
        amount = signed_money(t, -invoice.total_cents)
    else:
        title = t._("Facture n° {number}", number=invoice.number)
        amount = t.money(invoice.total_cents)
    return f"{title} — {month} — {amount}"


@action("invoice_pdf")
@require_login
async def open_invoice(turn: Turn, invoice_id: int) -> None:
    """A short-lived link to one of the household's invoices, as PDF."""
    t = turn.t
    invoice = await household_invoice(turn.db, turn.state.household_id, invoice_id)
    if invoice is None:
        turn.say(t._("Cette facture n'est pas disponible."), [nav_row(turn, back=False)])
        return
    code = await document_code(
        turn.db,
        guardian_id=turn.state.guardian_id,
        document=invoice_document(invoice.id),
        now=turn.now,
    )
    turn.say(
        _invoice_line(turn, invoice) + "\n" + t._("Le lien est valable une heure."),
        [nav_row(turn, back=False)],
        link=Link(
            t._("Ouvrir {number} (PDF)", number=invoice.number),
            f"{turn.public_url}/documents/{code}/invoice/{invoice.id}.pdf",
        ),
    )


async def _balance_lines(turn: Turn, today: date) -> list[str]:
    t = turn.t
    until = today + timedelta(days=30)
    forecasts = await wallet_forecasts(turn.db, turn.state.household_id, today=today, until=until)
    lines = [t._("Vos soldes :")]
    for forecast in forecasts:
        if forecast.kind is WalletKind.EUROS:
            lines.append("• " + t._("Porte-monnaie : {amount}", amount=t.money(forecast.balance)))
        elif forecast.kind is WalletKind.COUPONS:
            lines.append("• " + t.n_("Coupons : {count}", "Coupons : {count}", forecast.balance))
        elif forecast.balance < 0:
            lines.append(
                "• " + t._("À régler à la mairie : {amount}", amount=t.money(-forecast.balance))
            )
        if forecast.kind is WalletKind.ACCOUNT and forecast.estimated_cost:
            lines.append(
                "• "
                + t._(
                    "Réservations à venir d'ici le {day}, facturées en fin de mois sur votre "
                    "compte famille : {amount}",
                    day=t.day(until),
                    amount=t.money(forecast.estimated_cost),
                )
            )
    return lines


def _statement_lines(turn: Turn, statement: MonthStatement, most: int) -> list[str]:
    t = turn.t
    month = date(statement.year, statement.month, 1)
    lines = [t._("{month} :", month=t.month(month)).capitalize()]
    total = _amounts(turn, statement.consumed_cents, statement.consumed_coupons)
    if statement.consumptions:
        lines.append(
            t.n_("{count} consommation", "{count} consommations", len(statement.consumptions))
            + (f" ({total})" if total else "")
            + t.colon.rstrip()
        )
        lines += [f"  {_consumption_line(turn, line)}" for line in statement.consumptions[:most]]
        lines += _more(turn, len(statement.consumptions) - most)
    else:
        lines.append(t._("Aucune consommation."))
    if statement.upcoming:
        upcoming = _amounts(turn, statement.upcoming_cents, statement.upcoming_coupons)
        lines.append(
            t.n_(
                "{count} réservation à venir",
                "{count} réservations à venir",
                len(statement.upcoming),
            )
            + (f" ({upcoming})" if upcoming else "")
            + " — "
            + t._("voir « Mes réservations »")
        )
    if statement.payments:
        lines.append(t._("Règlements et remboursements :"))
        lines += [f"  {_movement_line(turn, line)}" for line in statement.payments[:most]]
        lines += _more(turn, len(statement.payments) - most)
    else:
        lines.append(t._("Aucun règlement."))
    return lines


def _amounts(turn: Turn, cents: int, coupons: int) -> str:
    parts = []
    if cents:
        parts.append(turn.t.money(cents))
    if coupons:
        parts.append(turn.t.n_("{count} coupon", "{count} coupons", coupons))
    return " + ".join(parts)


def _more(turn: Turn, hidden: int) -> list[str]:
    if hidden <= 0:
        return []
    return [
        "  "
        + turn.t.n_(
            "… et {count} autre : téléchargez l'année pour tout voir",
            "… et {count} autres : téléchargez l'année pour tout voir",
            hidden,
        )
    ]


def _consumption_line(turn: Turn, line: Consumption) -> str:
    """ "− 3,35 € repas — lun. 1er mars — Léa — Cantine"."""
    t = turn.t
    amount = (
        signed_coupons(t, -line.coupons) if line.coupons else signed_money(t, -line.price_cents)
    )
    kind = consumption_word(t, line.category)
    return " — ".join(
        part
        for part in (
            f"{amount} {kind}".strip(),
            t.short_day(line.day),
            line.participant,
            line.activity,
        )
        if part
    )


def _movement_line(turn: Turn, line: Movement) -> str:
    """ "+ 30,00 € rechargement — mer. 10 févr. — reçu n° R2027-000003"."""
    t = turn.t
    amount = (
        signed_coupons(t, line.amount)
        if line.wallet is WalletKind.COUPONS
        else signed_money(t, line.amount)
    )
    kind = movement_word(t, line.kind, line.wallet)
    label = line.label
    if line.payment_id is not None and RECEIPT_NUMBER.fullmatch(label):
        label = t._("reçu n° {number}", number=label)
    elif label and kind and kind.casefold() in label.casefold():
        label = ""
    return " — ".join(
        part for part in (f"{amount} {kind}".strip(), t.short_day(line.at.date()), label) if part
    )


@action("download_year")
@require_login
async def download_year(turn: Turn, year: int) -> None:
    """A short-lived link to the year's consumptions and payments, as a spreadsheet (CSV)."""
    t = turn.t
    code = await document_code(
        turn.db,
        guardian_id=turn.state.guardian_id,
        document=statement_document(year),
        now=turn.now,
    )
    turn.say(
        t._(
            "Votre relevé {year} : consommations, règlements et remboursements, à ouvrir "
            "dans un tableur. Le lien est valable une heure.",
            year=year,
        ),
        [nav_row(turn, back=False)],
        link=Link(
            t._("Télécharger le relevé {year}", year=year),
            f"{turn.public_url}/documents/{code}/statement/{year}.csv",
        ),
    )

"""Monthly invoices: the preview is what gets issued, one invoice per household and month,
numbers without gaps even with two staff issuing at once, attendance as the billing basis,
credit notes instead of changes, the household's account, the PDF, the accounting CSV, and the
pages' access across structures and roles. The clock: Monday 1 March 2027, February is over."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from booking.clock import PARIS
from booking.models import (
    Attendance,
    AttendanceStatus,
    Booking,
    BookingState,
    Category,
    Invoice,
    InvoiceKind,
    LedgerKind,
    NoticeKind,
    OutboxMessage,
    PaymentMode,
    StaffAudit,
    StaffRole,
    Structure,
    WalletKind,
)
from booking.services.invoices import (
    InvoiceRefused,
    household_invoices,
    invoices_of_month,
    issue_credit_note,
    issue_month,
    month_bills,
)
from booking.services.staff_accounts import StaffContext
from bot.delivery import Deliveries
from bot.notify.email import Mailer, SmtpSettings
from bot.notify.worker import OutboxWorker
from tests import builders as b
from tests.smtp_server import smtp_server
from tests.staff_support import StaffBrowser, make_staff

FEBRUARY = (2027, 2)


async def _book(db, session, family, child=None, state=BookingState.CONFIRMED) -> Booking:
    booking = Booking(
        session_id=session.id,
        participant_id=(child or family.child).id,
        household_id=family.household.id,
        state=state,
        price_cents=session.price_cents,
        created_at=datetime(2027, 1, 20, 10, 0, tzinfo=PARIS),
        confirmed_at=datetime(2027, 1, 20, 10, 0, tzinfo=PARIS),
    )
    db.add(booking)
    await db.flush()
    return booking


def _meal(day: int, month: int = 2) -> datetime:
    return datetime(2027, month, day, 11, 30, tzinfo=PARIS)


async def _town(database, *, basis: str = "bookings"):
    """Two families eating at the canteen in February (and one cancelled meal, one meal paid
    at once, one in March), and another town's family."""
    async with database.writing() as db:
        town = await b.structure(db)
        town.invoice_basis = basis
        cantine = await b.activity(db, town, name="Cantine", category=Category.RESTAURATION)
        mercredis = await b.activity(db, town, name="Mercredis", mode=PaymentMode.IMMEDIATE)
        days = [await b.session(db, cantine, starts_at=_meal(d), price_cents=335) for d in (15, 16)]
        march = await b.session(db, cantine, starts_at=_meal(2, 3), price_cents=335)
        paid = await b.session(db, mercredis, starts_at=_meal(17), price_cents=1200)
        dupont = await b.family(db, town, name="DUPONT")
        dupont.household.emails = "dupont@exemple.fr"
        martin = await b.family(db, town, name="MARTIN")
        bookings = {
            "dupont_15": await _book(db, days[0], dupont),
            "dupont_16": await _book(db, days[1], dupont),
            "martin_15": await _book(db, days[0], martin),
            "martin_16": await _book(db, days[1], martin, state=BookingState.CANCELLED),
        }
        await _book(db, march, dupont)
        await _book(db, paid, dupont)
        other = await b.structure(db)
        other_cantine = await b.activity(db, other, name="Cantine")
        other_family = await b.family(db, other, name="AILLEURS")
        await _book(db, await b.session(db, other_cantine, starts_at=_meal(15)), other_family)
        return town.id, other.id, dupont, martin, bookings, days


def _staff(structure_id: int, staff_id: int | None = None) -> StaffContext:
    return StaffContext(staff_id or 0, structure_id, "gestion", "Gestion", StaffRole.MANAGER)


async def _issue(database, clock, structure_id, staff_id=None, month=FEBRUARY):
    async with database.writing() as db:
        staff = _staff(structure_id, staff_id) if staff_id else None
        return await issue_month(
            db,
            structure_id=structure_id,
            year=month[0],
            month=month[1],
            staff=staff,
            now=clock.now(),
        )


async def test_the_preview_bills_confirmed_invoiced_bookings_of_the_month(database, clock):
    town_id, _, dupont, martin, bookings, _ = await _town(database)
    async with database.reading() as db:
        bills = await month_bills(db, town_id, *FEBRUARY)

    assert [(bill.name, bill.total_cents) for bill in bills] == [("DUPONT", 670), ("MARTIN", 335)]
    assert [line.booking_id for line in bills[0].lines] == [
        bookings["dupont_15"].id,
        bookings["dupont_16"].id,
    ]
    line = bills[0].lines[0]
    assert (line.day.isoformat(), line.child, line.activity, line.unit_cents) == (
        "2027-02-15",
        "Léa",
        "Cantine",
        335,
    )


async def test_issuing_copies_the_preview_numbers_in_order_and_posts_to_the_account(
    database, clock
):
    town_id, _, dupont, martin, _, _ = await _town(database)
    staff = await make_staff(database, town_id, "gestion", now=clock.now())
    async with database.reading() as db:
        preview = await month_bills(db, town_id, *FEBRUARY)

    issued = await _issue(database, clock, town_id, staff.id)

    assert [i.number for i in issued] == ["F2027-00001", "F2027-00002"]
    assert [i.lines for i in issued] == [[line.as_json() for line in b.lines] for b in preview]
    assert [i.total_cents for i in issued] == [670, 335]
    assert issued[0].household_name == "DUPONT" and issued[0].issued_by == staff.id
    ledger = await b.ledger_of(database, dupont.household.id, WalletKind.ACCOUNT)
    assert [(e.kind, e.amount, e.label) for e in ledger] == [
        (LedgerKind.INVOICE, -670, "F2027-00001")
    ]
    assert await b.balance_of(database, martin.household.id, WalletKind.ACCOUNT) == -335
    async with database.reading() as db:
        notices = (
            await db.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == NoticeKind.INVOICE_ISSUED)
            )
        ).all()
        audit = (
            await db.scalars(
                select(StaffAudit)
                .where(StaffAudit.action == "invoice_issued")
                .order_by(StaffAudit.id)
            )
        ).all()
        mine = await household_invoices(db, dupont.household.id)
    assert [(n.channel, n.address, n.data["number"], n.data["amount_cents"]) for n in notices] == [
        ("email", "dupont@exemple.fr", "F2027-00001", 670)
    ]
    assert [(a.action, a.staff_id, a.household_id) for a in audit] == [
        ("invoice_issued", staff.id, dupont.household.id),
        ("invoice_issued", staff.id, martin.household.id),
    ]
    assert [i.number for i in mine] == ["F2027-00001"]


async def test_issuing_again_issues_only_the_households_not_invoiced_yet(database, clock):
    town_id, _, dupont, _, _, days = await _town(database)
    await _issue(database, clock, town_id)
    async with database.writing() as db:
        town = await db.get(Structure, town_id)
        late = await b.family(db, town, name="BERNARD")
        await _book(db, days[1], late)
        await _book(db, days[1], dupont, child=await b.participant(db, dupont.household))

    again = await _issue(database, clock, town_id)

    assert [(i.number, i.household_name) for i in again] == [("F2027-00003", "BERNARD")]
    assert await _issue(database, clock, town_id) == []
    async with database.reading() as db:
        month = await invoices_of_month(db, town_id, *FEBRUARY)
    assert [i.number for i in month] == ["F2027-00001", "F2027-00002", "F2027-00003"]
    assert await b.balance_of(database, dupont.household.id, WalletKind.ACCOUNT) == -670


async def test_a_month_not_over_is_not_invoiced(database, clock):
    town_id, *_ = await _town(database)
    with pytest.raises(InvoiceRefused) as refused:
        await _issue(database, clock, town_id, month=(2027, 3))
    assert refused.value.code == "month_not_over"


async def test_the_attendance_basis_bills_present_and_absent_not_excused_nor_cancelled(
    database, clock
):
    town_id, _, dupont, martin, bookings, days = await _town(database, basis="attendance")
    async with database.writing() as db:
        for key, status in (
            ("dupont_15", AttendanceStatus.PRESENT),
            ("dupont_16", AttendanceStatus.EXCUSED),
            ("martin_15", AttendanceStatus.ABSENT),
        ):
            booking = bookings[key]
            db.add(
                Attendance(
                    booking_id=booking.id,
                    session_id=booking.session_id,
                    participant_id=booking.participant_id,
                    household_id=booking.household_id,
                    status=status,
                    marked_at=clock.now() - timedelta(days=10),
                )
            )
        unmarked = await _book(db, days[1], martin, child=await b.participant(db, martin.household))

    issued = await _issue(database, clock, town_id)

    lines = {
        i.household_name: [(x["booking_id"], x["attendance"]) for x in i.lines] for i in issued
    }
    assert lines == {
        "DUPONT": [(bookings["dupont_15"].id, "present")],
        "MARTIN": [(bookings["martin_15"].id, "absent"), (unmarked.id, None)],
    }


async def test_an_issued_invoice_never_changes_and_a_credit_note_corrects_it(database, clock):
    town_id, _, dupont, _, _, _ = await _town(database)
    first, _ = await _issue(database, clock, town_id)
    for change in ({"total_cents": 1}, {"lines": []}, {"household_name": "X"}):
        with pytest.raises(ValueError, match="never changes"):
            async with database.writing() as db:
                invoice = await db.get(Invoice, first.id)
                for name, value in change.items():
                    setattr(invoice, name, value)
    with pytest.raises(ValueError, match="never changes"):
        async with database.writing() as db:
            await db.delete(await db.get(Invoice, first.id))

    clock.advance(timedelta(days=2))
    async with database.writing() as db:
        note = await issue_credit_note(
            db,
            structure_id=town_id,
            invoice_id=first.id,
            staff=None,
            now=clock.now(),
            reason="Repas non servi (grève)",
            line_indexes=[1],
        )

    assert (note.number, note.kind, note.total_cents, note.corrects_id) == (
        "F2027-00003",
        InvoiceKind.CREDIT_NOTE,
        -335,
        first.id,
    )
    assert note.lines[0]["credits_line"] == 1 and note.lines[0]["amount_cents"] == -335
    reread = await b.reload(database, Invoice, first.id)
    assert (reread.total_cents, len(reread.lines)) == (670, 2)
    ledger = await b.ledger_of(database, dupont.household.id, WalletKind.ACCOUNT)
    assert [(e.amount, e.label) for e in ledger] == [(-670, "F2027-00001"), (335, "F2027-00003")]
    for kwargs, code in (
        ({"line_indexes": [1]}, "line_already_credited"),
        ({"amount_cents": 336}, "too_much"),
        ({"amount_cents": 0}, "nothing_to_credit"),
        ({"amount_cents": 100, "reason": " "}, "reason_missing"),
    ):
        with pytest.raises(InvoiceRefused) as refused:
            async with database.writing() as db:
                await issue_credit_note(
                    db,
                    structure_id=town_id,
                    invoice_id=first.id,
                    staff=None,
                    now=clock.now(),
                    **{"reason": "x", **kwargs},
                )
        assert refused.value.code == code
    with pytest.raises(InvoiceRefused):  # another town's staff cannot credit it
        async with database.writing() as db:
            other = await b.structure(db)
            await issue_credit_note(
                db,
                structure_id=other.id,
                invoice_id=first.id,
                staff=None,
                now=clock.now(),
                reason="x",
                amount_cents=100,
            )
    assert await b.balance_of(database, dupont.household.id, WalletKind.ACCOUNT) == -335
    assert await b.ledger_mismatches(database) == []


async def test_two_staff_issuing_at_once_leave_no_gap_and_no_second_invoice(database, clock):
    async with database.writing() as db:
        town = await b.structure(db)
        cantine = await b.activity(db, town, name="Cantine")
        meals = [await b.session(db, cantine, starts_at=_meal(d), capacity=50) for d in (15, 16)]
        for index in range(12):
            family = await b.family(db, town, name=f"FAMILLE {index:02d}")
            for meal in meals:
                await _book(db, meal, family)
        town_id = town.id

    first, second = await asyncio.gather(
        _issue(database, clock, town_id), _issue(database, clock, town_id)
    )

    assert len(first) + len(second) == 12
    async with database.reading() as db:
        invoices = (await db.scalars(select(Invoice).order_by(Invoice.sequence))).all()
    assert [i.sequence for i in invoices] == list(range(1, 13))
    assert len({i.household_id for i in invoices}) == 12
    assert await b.ledger_mismatches(database) == []


# --- The pages ------------------------------------------------------------------------------


async def test_a_manager_previews_issues_opens_and_credits_an_invoice(
    database, clock, staff_client
):
    town_id, *_ = await _town(database)
    await make_staff(database, town_id, "gestion", StaffRole.MANAGER, now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("gestion")

    await browser.get("/staff/invoices?month=2027-02")
    assert browser.status == 200
    assert "DUPONT" in browser.text and "6,70 €" in browser.text and "10,05 €" in browser.text
    assert "AILLEURS" not in browser.text

    await browser.post("/staff/invoices/issue", {"month": "2027-02"})
    assert browser.status == 200
    assert "2 factures émises." in browser.text
    assert "F2027-00001" in browser.text and "F2027-00002" in browser.text
    assert "Rien à facturer pour ce mois." in browser.text

    async with database.reading() as db:
        first = await db.scalar(select(Invoice).where(Invoice.number == "F2027-00001"))
    await browser.get(f"/staff/invoices/{first.id}")
    assert "Facture n° F2027-00001" in browser.text and "Léa" in browser.text

    response = await staff_client.get(f"/staff/invoices/{first.id}.pdf")
    body = await response.read()
    assert response.status == 200 and response.content_type == "application/pdf"
    assert body.startswith(b"%PDF") and b"F2027-00001" in body and b"DejaVu" in body

    await browser.post(
        f"/staff/invoices/{first.id}/credit", {"line": "0", "amount": "", "reason": "Grève"}
    )
    assert "Avoir n° F2027-00003" in browser.text and "-3,35 €" in browser.text.replace("−", "-")

    await browser.post(f"/staff/invoices/{first.id}/credit", {"amount": "99", "reason": "x"})
    assert browser.status == 400 and "dépasse ce qui reste facturé" in browser.text

    response = await staff_client.get("/staff/invoices.csv?month=2027-02")
    text = (await response.read()).decode("utf-8")
    assert text.startswith("\ufeffNuméro;Date;Référence famille;Nom;Type;Total (€)\r\n")
    rows = [row.split(";") for row in text.strip().splitlines()[1:]]
    assert [(r[0], r[3], r[4], r[5]) for r in rows] == [
        ("F2027-00001", "DUPONT", "facture", "6,70"),
        ("F2027-00002", "MARTIN", "facture", "3,35"),
        ("F2027-00003", "DUPONT", "avoir", "-3,35"),
    ]
    assert rows[0][1] == "2027-03-01"


async def test_a_month_still_running_shows_its_preview_without_the_issue_button(
    database, clock, staff_client
):
    town_id, *_ = await _town(database)
    await make_staff(database, town_id, "gestion", StaffRole.MANAGER, now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("gestion")
    await browser.get("/staff/invoices?month=2027-03")
    assert "Un mois se facture une fois terminé." in browser.text
    assert "Émettre" not in browser.text
    await browser.post("/staff/invoices/issue", {"month": "2027-03"})
    assert browser.status == 409


async def test_another_towns_staff_and_an_agent_never_see_the_invoices(
    database, clock, staff_client
):
    town_id, other_id, *_ = await _town(database)
    first, *_ = await _issue(database, clock, town_id)
    await make_staff(database, other_id, "ailleurs", StaffRole.ADMIN, now=clock.now())
    await make_staff(database, town_id, "cantine", StaffRole.AGENT, now=clock.now())

    stranger = StaffBrowser(staff_client)
    await stranger.log_in("ailleurs")
    for path in (f"/staff/invoices/{first.id}", f"/staff/invoices/{first.id}.pdf"):
        await stranger.get(path)
        assert stranger.status == 404 and "DUPONT" not in stranger.page
    await stranger.get("/staff/invoices?month=2027-02")
    assert "DUPONT" not in stranger.text and "F2027" not in stranger.text
    response = await staff_client.get("/staff/invoices.csv?month=2027-02")
    assert "DUPONT" not in (await response.text())
    await stranger.post(f"/staff/invoices/{first.id}/credit", {"amount": "1", "reason": "x"})
    assert stranger.status == 404
    await stranger.post("/staff/invoices/issue", {"month": "2027-02"})
    async with database.reading() as db:
        theirs = (await db.scalars(select(Invoice).where(Invoice.structure_id == other_id))).all()
        ours = (await db.scalars(select(Invoice).where(Invoice.structure_id == town_id))).all()
    assert [(i.number, i.household_name) for i in theirs] == [("F2027-00001", "AILLEURS")]
    assert len(ours) == 2  # their own numbering; this town's families untouched

    agent = StaffBrowser(staff_client)
    await agent.log_in("cantine")
    for path in (
        "/staff/invoices?month=2027-02",
        f"/staff/invoices/{first.id}",
        f"/staff/invoices/{first.id}.pdf",
        "/staff/invoices.csv?month=2027-02",
    ):
        await agent.get(path)
        assert agent.status == 403 and "DUPONT" not in agent.page
    await agent.post("/staff/invoices/issue", {"month": "2027-02"})
    assert agent.status == 403
    await agent.post(f"/staff/invoices/{first.id}/credit", {"amount": "1", "reason": "x"})
    assert agent.status == 403


async def test_the_household_receives_its_invoice_by_email_with_the_pdf(database, clock):
    town_id, *_ = await _town(database)
    await _issue(database, clock, town_id)
    async with smtp_server() as smtp:
        worker = OutboxWorker(
            database,
            clock,
            Deliveries(database, clock),
            public_url="http://127.0.0.1",
            mailer=Mailer(SmtpSettings.from_url(smtp.url), clock=clock),
        )
        while await worker.run_once():
            pass
        [message] = smtp.messages
    assert message["To"] == "dupont@exemple.fr"
    assert message["Subject"] == "Facture n° F2027-00001 — février 2027"
    text = message.get_body(("plain",)).get_content().replace("\xa0", " ")
    assert "n° F2027-00001, 6,70 €, à régler à la mairie." in text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "F2027-00001.pdf"
    assert attachment.get_content().startswith(b"%PDF")

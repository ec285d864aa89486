"""A household's personal data on SQLite and PostgreSQL: the export holds every table that
holds a household's data (checked against the schema), and nothing of another household or
any secret; erasure leaves no personal field anywhere in the database, keeps bookings and
accounting under a pseudonym, kills the login and waits while money is in motion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Table, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import Database
from booking.models import (
    AccountToken,
    Activity,
    Attendance,
    AttendanceStatus,
    Base,
    Basket,
    BasketState,
    Booking,
    BookingEvent,
    BookingState,
    Channel,
    Conversation,
    EnrolmentStatus,
    EventKind,
    Guardian,
    Household,
    Invoice,
    InvoiceKind,
    LedgerEntry,
    LedgerKind,
    LinkCode,
    NoticeKind,
    OutboxMessage,
    OutboxState,
    Participant,
    Payment,
    PaymentPurpose,
    PaymentState,
    PushedMessage,
    SandboxTransaction,
    StaffAudit,
    Wallet,
    WalletKind,
)
from booking.models.conversations import MessageKind
from booking.passwords import hash_password
from booking.refusals import Refusal, Refused
from booking.services.account_tokens import Purpose, issue_token
from booking.services.accounts import authenticate
from booking.services.common import Actor, record_event
from booking.services.erasure import (
    UNUSABLE_PASSWORD,
    ErasureBlocked,
    erase_household,
    reduced_birth_date,
)
from booking.services.privacy import SECTIONS, export_household
from booking.services.wallets import post_entry
from tests import builders as b
from tests.conftest import PINNED_NOW

PASSWORD = "quincampoix-pass-1"
#: What the household under test is called, and what must leave the database with it.
MARKERS = (
    "hippolyte",
    "quincampoix",
    "philibert",
    "eulalie",
    "zebulon",  # a dossier's free text, and a message
    "918273645",  # a Telegram chat id
    "06 99 000001",  # a guardian's phone
    "2019-05-17",  # birth dates
    "2016-11-23",
)
OTHER = ("gontran", "vermandois")
LAST_MONTH = PINNED_NOW - timedelta(days=30)


@dataclass
class Seeded:
    household_id: int
    login: str
    other_household_id: int
    other_login: str


# A household with a row in every table that can hold its data --------------------------


async def _family(
    db: AsyncSession, town, *, surname: str, first: str, children: dict[str, date]
) -> tuple[Household, Guardian, list[Participant]]:
    home = Household(
        structure_id=town.id,
        reference=f"{surname.lower()}-ref",
        name=surname,
        emails=f"{first.lower()}.{surname.lower()}@exemple.test",
        family_quotient=742,
    )
    db.add(home)
    await db.flush()
    adult = Guardian(
        household_id=home.id,
        login=f"{first[0].lower()}{surname.lower()}",
        password_hash=hash_password(PASSWORD),
        first_name=first,
        last_name=surname,
        email=f"{first.lower()}.{surname.lower()}@exemple.test",
        must_change_password=False,
        terms_accepted_at=LAST_MONTH,
    )
    db.add(adult)
    await db.flush()
    kids = []
    for name, born in children.items():
        kid = await b.participant(db, home, first_name=name, born=born)
        kids.append(kid)
    return home, adult, kids


async def _everything(
    db: AsyncSession, town, activity, home, adult, kids, chat_id: str, tag: str, friend: str
) -> None:
    """Rows in every table that holds a household's data, in what the parents wrote too."""
    first, surname = adult.first_name, home.name
    kid = kids[0]
    await b.enrolment(db, kid, activity, EnrolmentStatus.APPROVED)
    past = await b.session(db, activity, starts_at=PINNED_NOW - timedelta(days=12))
    basket = Basket(household_id=home.id, state=BasketState.CHECKED_OUT, created_at=LAST_MONTH)
    db.add(basket)
    await db.flush()
    booking = Booking(
        session_id=past.id,
        participant_id=kid.id,
        household_id=home.id,
        basket_id=basket.id,
        state=BookingState.CONFIRMED,
        price_cents=1200,
        created_at=LAST_MONTH,
        confirmed_at=LAST_MONTH,
    )
    db.add(booking)
    await db.flush()
    # What the town's staff hold: the door details, attendance, an invoice, their audit.
    adult.phone = f"06 99 {tag}"
    kid.school_class = f"CM1 chez {friend}"
    await db.execute(
        text("UPDATE dossiers SET notes = :notes WHERE participant_id = :id"),
        {"notes": f"Allergie aux œufs, appeler {first} {surname}", "id": kid.id},
    )
    db.add(
        Attendance(
            booking_id=booking.id,
            session_id=past.id,
            participant_id=kid.id,
            household_id=home.id,
            status=AttendanceStatus.PRESENT,
            marked_at=LAST_MONTH,
        )
    )
    db.add(
        Invoice(
            structure_id=town.id,
            household_id=home.id,
            number=f"F2027-{tag}",
            sequence=int(tag),
            kind=InvoiceKind.INVOICE,
            year=2027,
            month=2,
            household_name=surname,
            household_reference=home.reference,
            lines=[{"participant": kid.first_name, "activity": "Centre", "amount_cents": 1200}],
            total_cents=1200,
            issued_at=LAST_MONTH,
        )
    )
    db.add(
        StaffAudit(
            at=LAST_MONTH,
            structure_id=town.id,
            action="household_created",
            target=f"household:{home.id}",
            household_id=home.id,
            data={"name": surname, "guardian": f"{first} {surname}"},
        )
    )
    actor = Actor(channel=Channel.WEB, household_id=home.id, guardian_id=adult.id)
    record_event(db, kind=EventKind.CONFIRMED, at=LAST_MONTH, actor=actor, booking=booking)
    payment = Payment(
        household_id=home.id,
        basket_id=basket.id,
        purpose=PaymentPurpose.BASKET,
        amount_cents=1200,
        provider="sandbox",
        provider_reference=f"sbx_{tag}",
        state=PaymentState.PAID,
        created_at=LAST_MONTH,
        settled_at=LAST_MONTH,
        receipt_number=f"R2027-{tag}",
        token=f"pay-{tag}",
        details={
            "booking_ids": [booking.id],
            "items": [{"participant": kid.first_name, "activity": "Centre", "amount_cents": 1200}],
            "redirect_url": f"https://payfip.example/?mel={home.emails}",
            "ticket": {
                "receipt": "R",
                "provider": {"backend": "payfip", "bank_data": {"mel": home.emails}},
            },
        },
    )
    db.add(payment)
    db.add(
        SandboxTransaction(
            reference=f"sbx_{tag}",
            order_id="RIB1",
            amount_cents=1200,
            merchant="Ville",
            items=[f"{kid.first_name} — Centre — 10,00 €"],
            notify_url="http://x/n",
            return_url="http://x/r",
            created_at=LAST_MONTH,
        )
    )
    await db.flush()
    await post_entry(
        db,
        household_id=home.id,
        kind=WalletKind.EUROS,
        amount=3000,
        entry_kind=LedgerKind.TOP_UP,
        at=LAST_MONTH,
        label="Rechargement",
    )
    await post_entry(
        db,
        household_id=home.id,
        kind=WalletKind.EUROS,
        amount=-1200,
        entry_kind=LedgerKind.DEBIT,
        at=LAST_MONTH,
        label=activity.name,
        booking_id=booking.id,
        payment_id=payment.id,
    )
    web = Conversation(
        channel="web",
        key=f"web-{tag}",
        state={
            "step": "menu",
            "household_id": home.id,
            "guardian_id": adult.id,
            "login": adult.login,
            "nonce": "abcde",
            "buttons": {"0": ["book"]},
            "question": {"new_password_hash": "$argon2id$secret"},
        },
        household_id=home.id,
        guardian_id=adult.id,
        history_from=3,
        history_household_id=home.id,
        last_message_id=4,
        created_at=LAST_MONTH,
        updated_at=LAST_MONTH,
    )
    telegram = Conversation(
        channel="telegram",
        key=chat_id,
        state={"step": "menu"},
        household_id=home.id,
        guardian_id=adult.id,
        created_at=LAST_MONTH,
        updated_at=LAST_MONTH,
    )
    # A shared tablet, logged out since: what it showed the household is hidden, not gone.
    shared = Conversation(
        channel="web",
        key=f"shared-{tag}",
        state={"step": "start"},
        history_from=5,
        last_message_id=5,
        created_at=LAST_MONTH,
        updated_at=LAST_MONTH,
    )
    db.add_all([web, telegram, shared])
    await db.flush()
    db.add(
        PushedMessage(
            conversation_id=shared.id,
            message_id=2,
            body={"id": "2", "text": f"Bonjour {first} ! Réserver pour {kid.first_name} ?"},
            created_at=LAST_MONTH,
            kind=MessageKind.REPLY,
        )
    )
    for message_id, words, kind in (
        (1, f"Bonjour ! (avant la connexion de {first})", MessageKind.REPLY),
        (3, f"Bonjour {first} ! {kid.first_name} mange chez {friend} le mardi.", MessageKind.REPLY),
        (4, f"Reçu : {kid.first_name} {surname}, 12,00 €", MessageKind.PUSH),
    ):
        db.add(
            PushedMessage(
                conversation_id=web.id,
                message_id=message_id,
                body={"id": str(message_id), "text": words},
                created_at=LAST_MONTH,
                kind=kind,
            )
        )
    db.add(
        OutboxMessage(
            household_id=home.id,
            kind=NoticeKind.PAYMENT_RESULT,
            channel="email",
            address=home.emails,
            data={"items": [{"participant": kid.first_name}]},
            delivery_key=f"payment:{payment.id}:paid:email:{home.emails}",
            state=OutboxState.SENT,
            next_attempt_at=LAST_MONTH,
            created_at=LAST_MONTH,
            sent_at=LAST_MONTH,
        )
    )
    await issue_token(
        db,
        adult.id,
        Purpose.EMAIL_CHANGE,
        LAST_MONTH,
        data={"emails": [f"nouvelle.{surname.lower()}@exemple.test"]},
    )
    db.add(
        LinkCode(
            code_hash=f"{tag:0>64}",
            guardian_id=adult.id,
            created_at=LAST_MONTH,
            expires_at=LAST_MONTH + timedelta(minutes=15),
        )
    )
    await db.flush()


async def seed(database: Database) -> Seeded:
    async with database.writing() as db:
        town = await b.structure(db)
        activity = await b.activity(db, town, name="Centre de loisirs", enrolment_required=True)
        home, adult, kids = await _family(
            db,
            town,
            surname="QUINCAMPOIX",
            first="Hippolyte",
            children={"Philibert": date(2019, 5, 17), "Eulalie": date(2016, 11, 23)},
        )
        await b.participant(db, home, first_name="Zebulon", born=date(2020, 2, 2), dossier=False)
        dossier_kid = kids[1]
        await db.execute(
            text("UPDATE dossiers SET missing_items = :items WHERE participant_id = :id"),
            {"items": json.dumps(["certificat de l'orthophoniste Zebulon"]), "id": dossier_kid.id},
        )
        await _everything(db, town, activity, home, adult, kids, "918273645", "000001", "Zebulon")
        other, other_adult, other_kids = await _family(
            db,
            town,
            surname="VERMANDOIS",
            first="Gontran",
            children={"Clothilde": date(2018, 1, 9)},
        )
        await _everything(
            db, town, activity, other, other_adult, other_kids, "555000111", "000002", "Anselme"
        )
    return Seeded(home.id, adult.login, other.id, other_adult.login)


@pytest.fixture
async def seeded(database: Database) -> Seeded:
    return await seed(database)


async def export_of(database: Database, household_id: int) -> dict:
    async with database.reading() as db:
        return await export_household(db, household_id, PINNED_NOW)


# The export ----------------------------------------------------------------------------------

#: Tables that hold no household's data, and why they stay out of the export.
NOT_A_HOUSEHOLDS = {
    "structures": "the town itself (its name is in the export's `structure`)",
    "activities": "the catalogue: the same for every family",
    "opening_waves": "the catalogue",
    "tariffs": "the catalogue",
    "supplements": "the catalogue",
    "bus_routes": "the catalogue",
    "bus_stops": "the catalogue",
    "sessions": "the catalogue (a booking's session is described in the booking)",
    "leases": "which server process polls Telegram",
    "login_throttles": "wrong passwords per client address (or a digest of an unknown login), "
    "not per household; kept a day (docs/privacy.md)",
    "telegram_updates": "ids of Telegram updates taken in, with no chat nor household; a week",
    "sandbox_transactions": "the test provider's own books, linked by the payment's "
    "`provider_reference` (in the export), like a real provider's",
    "staff_members": "the town's employees' accounts, not a family's",
    "staff_sessions": "the employees' logged-in browsers",
    "staff_messages": "what the staff wrote to a group of families (each household's copy "
    "is in its `outbox`)",
    "invoice_sequences": "the town's last invoice number per year",
}
#: The tables a household's data starts from.
ROOTS = {"households", "guardians", "participants", "conversations"}


def _reaches_a_household(table: Table, seen: frozenset[str] = frozenset()) -> bool:
    if table.name in ROOTS:
        return True
    return any(
        _reaches_a_household(fk.column.table, seen | {table.name})
        for fk in table.foreign_keys
        if fk.column.table.name not in seen | {table.name}
    )


def test_every_table_either_is_exported_or_holds_no_households_data() -> None:
    tables = Base.metadata.tables
    reaching = {name for name, table in tables.items() if _reaches_a_household(table)}
    assert reaching >= {"ledger_entries", "booking_events", "pushed_messages", "account_tokens"}
    assert reaching <= set(SECTIONS), f"not exported: {sorted(reaching - set(SECTIONS))}"
    assert not reaching & set(NOT_A_HOUSEHOLDS), "a table holding a household's data is excluded"
    unclassified = set(tables) - set(SECTIONS) - set(NOT_A_HOUSEHOLDS)
    assert unclassified == set(), f"say whether these hold a household's data: {unclassified}"


async def test_the_export_has_a_filled_section_for_every_table_holding_the_households_data(
    database: Database, seeded: Seeded
) -> None:
    exported = await export_of(database, seeded.household_id)

    for table, section in SECTIONS.items():
        assert exported[section], f"{section} ({table}) is empty"
    assert exported["structure"]["name"] == "Ville de Test"
    assert exported["household"]["name"] == "QUINCAMPOIX"
    assert {p["first_name"] for p in exported["participants"]} == {
        "Philibert",
        "Eulalie",
        "Zebulon",
    }
    assert exported["guardians"][0]["email"] == "hippolyte.quincampoix@exemple.test"
    assert exported["conversations"][1]["telegram_chat"] == "918273645"
    assert exported["receipts"][0]["receipt"] == "R2027-000001"
    assert json.loads(json.dumps(exported)) == exported  # plain JSON values only


async def test_the_export_holds_no_secret_and_only_the_households_own_messages(
    database: Database, seeded: Seeded
) -> None:
    exported = await export_of(database, seeded.household_id)
    dumped = json.dumps(exported, ensure_ascii=False).lower()

    assert "$argon2" not in dumped, "a password hash (or the one a new password gets)"
    async with database.reading() as db:
        token_hash = await db.scalar(select(AccountToken.token_hash))
        code_hash = await db.scalar(select(LinkCode.code_hash))
    assert token_hash not in dumped and code_hash not in dumped
    assert "web-000001" not in dumped, "a web chat's key"
    assert "pay-000001" not in dumped and "payfip.example" not in dumped
    assert "held hashed" in exported["guardians"][0]["password"]
    state = exported["conversations"][0]["state"]
    assert state["login"] == "hquincampoix" and not {"nonce", "buttons", "question"} & set(state)
    texts = [message["body"]["text"] for message in exported["pushed_messages"]]
    assert len(texts) == 2 and not any("avant la connexion" in t for t in texts), (
        "messages from before the household's login are not its own"
    )
    assert not any(word in dumped for word in OTHER)


async def test_the_export_gives_money_in_cents_and_formatted_and_instants_in_iso(
    database: Database, seeded: Seeded
) -> None:
    exported = await export_of(database, seeded.household_id)

    booking = exported["bookings"][0]
    assert (booking["price_cents"], booking["price"]) == (1200, "12,00\u00a0€")
    assert booking["starts_at"] == "2027-02-17T09:00:00+01:00"
    assert exported["participants"][0]["birth_date"] == "2019-05-17"
    wallet = exported["wallets"][0]
    assert (wallet["balance_amount_cents"], wallet["balance_amount"]) == (1800, "18,00\u00a0€")
    assert [e["amount_cents"] for e in exported["ledger_entries"]] == [3000, -1200]
    assert exported["payments"][0]["amount"] == "12,00\u00a0€"
    assert datetime.fromisoformat(exported["generated_at"]) == PINNED_NOW


# Erasure ---------------------------------------------------------------------------------------


def _table_names(connection) -> list[str]:  # noqa: ANN001
    return inspect(connection).get_table_names()


async def dump_every_table(database: Database) -> str:
    """Every row of every table of the database, as text (raw SQL: JSON as stored)."""
    lines = []
    async with database.reading() as db:
        connection = await db.connection()
        for name in await connection.run_sync(_table_names):
            for row in await db.execute(text(f'SELECT * FROM "{name}"')):
                lines.append(f"{name}: " + " | ".join(str(value) for value in row))
    return "\n".join(lines).lower()


async def accounting(database: Database) -> dict[str, object]:
    """What erasure must not change: bookings per session and state, events, money."""
    async with database.reading() as db:
        return {
            "bookings": sorted(
                (
                    await db.execute(
                        select(Booking.session_id, Booking.state, func.count()).group_by(
                            Booking.session_id, Booking.state
                        )
                    )
                ).all()
            ),
            "events": await db.scalar(select(func.count(BookingEvent.id))),
            "ledger": sorted(
                (
                    await db.execute(
                        select(LedgerEntry.wallet_id, func.sum(LedgerEntry.amount)).group_by(
                            LedgerEntry.wallet_id
                        )
                    )
                ).all()
            ),
            "wallets": sorted((await db.execute(select(Wallet.id, Wallet.balance))).all()),
            "payments": sorted(
                (await db.execute(select(Payment.id, Payment.amount_cents, Payment.state))).all()
            ),
            "participants": await db.scalar(select(func.count(Participant.id))),
        }


async def erase(database: Database, household_id: int):  # noqa: ANN201
    async with database.writing() as db:
        return await erase_household(db, household_id, PINNED_NOW)


async def test_the_seed_holds_the_markers_everywhere_it_should(
    database: Database, seeded: Seeded
) -> None:
    dumped = await dump_every_table(database)
    for marker in (*MARKERS, *OTHER):
        assert marker in dumped, marker


async def test_an_erased_household_leaves_no_personal_field_in_any_table(
    database: Database, seeded: Seeded
) -> None:
    erasure = await erase(database, seeded.household_id)

    dumped = await dump_every_table(database)
    left = {marker for marker in MARKERS if marker in dumped}
    assert left == set(), "\n".join(
        line for line in dumped.splitlines() if any(marker in line for marker in left)
    )
    assert erasure.pseudonym in dumped
    for marker in OTHER:
        assert marker in dumped, "another household's data is untouched"


async def test_erasure_keeps_bookings_events_payments_and_the_ledger_under_a_pseudonym(
    database: Database, seeded: Seeded
) -> None:
    before = await accounting(database)
    erasure = await erase(database, seeded.household_id)

    assert await accounting(database) == before
    assert (erasure.kept_bookings, erasure.kept_payments, erasure.kept_ledger_entries) == (1, 1, 2)
    assert erasure.balances == {"euros": 1800}
    assert (erasure.guardians, erasure.participants, erasure.conversations) == (1, 3, 2)
    assert erasure.messages == 3 + 3  # its own, and those no conversation shows anymore
    async with database.reading() as db:
        household = await db.get(Household, seeded.household_id)
        kids = (
            await db.scalars(
                select(Participant)
                .where(Participant.household_id == seeded.household_id)
                .order_by(Participant.id)
            )
        ).all()
        payment = await db.scalar(
            select(Payment).where(Payment.household_id == seeded.household_id)
        )
    assert household.reference == household.name == erasure.pseudonym
    assert household.erased_at == PINNED_NOW and household.emails == ""
    assert [(kid.first_name, kid.birth_date) for kid in kids] == [
        ("P1", date(2019, 7, 1)),
        ("P2", date(2016, 7, 1)),
        ("P3", date(2020, 7, 1)),
    ]
    assert payment.details["items"][0]["participant"] == "P1"
    assert payment.receipt_number == "R2027-000001"


async def test_the_erased_login_can_never_log_in_again(database: Database, seeded: Seeded) -> None:
    async with database.writing() as db:
        assert (await authenticate(db, seeded.login, PASSWORD, PINNED_NOW)).id
    erasure = await erase(database, seeded.household_id)

    async with database.writing() as db:
        for login in (seeded.login, f"{erasure.pseudonym}-g1"):
            with pytest.raises(Refused) as refused:
                await authenticate(db, login, PASSWORD, PINNED_NOW)
            assert refused.value.code is Refusal.BAD_CREDENTIALS
        guardian = await db.scalar(
            select(Guardian).where(Guardian.household_id == seeded.household_id)
        )
    assert guardian.password_hash == UNUSABLE_PASSWORD


async def test_another_household_is_untouched_by_an_erasure(
    database: Database, seeded: Seeded
) -> None:
    before = await export_of(database, seeded.other_household_id)
    await erase(database, seeded.household_id)

    assert await export_of(database, seeded.other_household_id) == before
    async with database.writing() as db:
        assert (await authenticate(db, seeded.other_login, PASSWORD, PINNED_NOW)).id


async def test_an_erased_household_cannot_be_erased_twice(
    database: Database, seeded: Seeded
) -> None:
    await erase(database, seeded.household_id)
    with pytest.raises(LookupError):
        await erase(database, seeded.household_id)


async def _with(database: Database, seeded: Seeded, **booking: object) -> None:
    async with database.writing() as db:
        kid = await db.scalar(
            select(Participant).where(Participant.household_id == seeded.household_id).limit(1)
        )
        activity_id = await db.scalar(text("SELECT id FROM activities LIMIT 1"))
        session = await b.session(
            db,
            await db.get(Activity, activity_id),
            starts_at=booking.pop("starts_at", PINNED_NOW + timedelta(days=9)),
        )
        db.add(
            Booking(
                session_id=session.id,
                participant_id=kid.id,
                household_id=seeded.household_id,
                created_at=PINNED_NOW,
                **booking,
            )
        )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("payment", "payment_open"),
        ("held", "places_held"),
        ("upcoming", "upcoming_bookings"),
        ("waitlisted", "upcoming_bookings"),
    ],
)
async def test_erasure_waits_while_money_is_in_motion_or_a_child_is_expected(
    database: Database, seeded: Seeded, change: str, code: str
) -> None:
    if change == "payment":
        async with database.writing() as db:
            db.add(
                Payment(
                    household_id=seeded.household_id,
                    purpose=PaymentPurpose.TOP_UP,
                    amount_cents=2000,
                    state=PaymentState.CREATED,
                    created_at=PINNED_NOW,
                )
            )
    elif change == "held":
        await _with(
            database,
            seeded,
            state=BookingState.HELD,
            held_until=PINNED_NOW + timedelta(hours=1),
        )
    elif change == "upcoming":
        await _with(database, seeded, state=BookingState.CONFIRMED, confirmed_at=PINNED_NOW)
    else:
        await _with(database, seeded, state=BookingState.WAITLISTED)
    before = await dump_every_table(database)

    with pytest.raises(ErasureBlocked) as blocked:
        await erase(database, seeded.household_id)

    assert [blocker.code for blocker in blocked.value.blockers] == [code]
    assert await dump_every_table(database) == before


async def test_a_booking_of_a_session_already_past_does_not_hold_an_erasure_back(
    database: Database, seeded: Seeded
) -> None:
    await _with(
        database,
        seeded,
        state=BookingState.CONFIRMED,
        confirmed_at=PINNED_NOW,
        starts_at=PINNED_NOW - timedelta(hours=1),
    )
    assert (await erase(database, seeded.household_id)).kept_bookings == 2


def test_a_birth_date_is_reduced_to_1_july_of_its_year() -> None:
    assert reduced_birth_date(date(2018, 12, 31)) == date(2018, 7, 1)
    assert reduced_birth_date(date(2018, 1, 1)) == date(2018, 7, 1)

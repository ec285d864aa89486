"""Households as the town's staff handle them: search, one household's account (guardians,
children and dossiers, bookings, payments, ledger, messages), creation by form or by CSV
import (all or nothing), the first password of the login letter, and unlocking a login.

The CSV import format (UTF-8, ";" or "," between fields, a header line naming the columns in
any order) is CSV_COLUMNS: one line per child, the lines with the same `reference` forming one
household; a line may leave the child's columns empty (a household without children yet, or a
second guardian). The household's columns are read from its first line.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.email_addresses import MAX_ADDRESS_LENGTH, read_addresses, valid_address
from booking.models import (
    Activity,
    Booking,
    Dossier,
    Guardian,
    Household,
    LedgerEntry,
    LoginThrottle,
    OutboxMessage,
    Participant,
    Payment,
    Session,
    Wallet,
    WalletKind,
)
from booking.services.login_throttles import unknown_login_key
from booking.services.staff_accounts import StaffContext, record_staff_change
from booking.services.wallets import balances

GROUPS = ("resident", "non_resident")
LANGUAGES = ("fr", "en")
#: An unusable hash: nobody logs in before the login letter gives a first password.
NO_PASSWORD = "!no-password-yet"
CSV_COLUMNS = (
    "reference",
    "household_name",
    "group",
    "quotient",
    "emails",
    "guardian_first_name",
    "guardian_last_name",
    "login",
    "email",
    "phone",
    "child_first_name",
    "child_last_name",
    "birth_date",
    "class",
    "missing_items",
)
REQUIRED_COLUMNS = ("reference", "household_name", "login")
MAX_IMPORT_LINES = 5000
SEARCH_LIMIT = 50
#: The first password's letters: no 0/O, 1/l/I that a parent would misread on paper.
_READABLE = "abcdefghjkmnpqrstuvwxyz23456789"
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")
_PHONE = re.compile(r"[0-9+() .-]{6,32}")


# Search ------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case without accents: "Zoé MARTIN" and "zoe martin" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class HouseholdHit:
    id: int
    name: str
    reference: str
    guardians: list[str]
    children: list[str]


async def search_households(db: AsyncSession, structure_id: int, query: str) -> list[HouseholdHit]:
    """The structure's households matching every word of `query` in their name, reference,
    guardians' names, logins, e-mails and phones, or children's names, ignoring case and
    accents; SEARCH_LIMIT at most, by name. An empty query lists the first ones by name.

    Folded in Python, not SQL: SQLite's lower() knows no accents, and a town's few thousand
    households read in three narrow queries.
    """
    households = (
        await db.execute(
            select(Household.id, Household.name, Household.reference, Household.emails)
            .where(Household.structure_id == structure_id, Household.erased_at.is_(None))
            .order_by(Household.name, Household.id)
        )
    ).all()
    guardians = await db.execute(
        select(
            Guardian.household_id,
            Guardian.first_name,
            Guardian.last_name,
            Guardian.login,
            Guardian.email,
            Guardian.phone,
        )
        .join(Household, Household.id == Guardian.household_id)
        .where(Household.structure_id == structure_id)
        .order_by(Guardian.id)
    )
    children = await db.execute(
        select(Participant.household_id, Participant.first_name, Participant.last_name)
        .join(Household, Household.id == Participant.household_id)
        .where(Household.structure_id == structure_id)
        .order_by(Participant.birth_date)
    )
    texts: dict[int, list[str]] = {
        row.id: [row.name, row.reference, row.emails] for row in households
    }
    adults: dict[int, list[str]] = {}
    kids: dict[int, list[str]] = {}
    for household_id, first, last, login, email, phone in guardians:
        texts.setdefault(household_id, []).extend(
            [first, last, login, email, phone, re.sub(r"\D", "", phone)]
        )
        adults.setdefault(household_id, []).append(f"{first} {last}")
    for household_id, first, last in children:
        texts.setdefault(household_id, []).extend([first, last])
        kids.setdefault(household_id, []).append(first)
    words = fold(query).split()
    hits = []
    for row in households:
        blob = fold(" ".join(texts[row.id]))
        if all(word in blob for word in words):
            hits.append(
                HouseholdHit(
                    row.id, row.name, row.reference, adults.get(row.id, []), kids.get(row.id, [])
                )
            )
            if len(hits) >= SEARCH_LIMIT:
                break
    return hits


# One household's account --------------------------------------------------------------------


@dataclass(frozen=True)
class GuardianState:
    guardian: Guardian
    waiting_until: datetime | None  # wrong passwords made the login wait
    first_password_pending: bool  # must change the password given in the login letter


@dataclass(frozen=True)
class BookingLine:
    id: int
    participant: str
    activity: str
    day: date
    starts_at: datetime
    state: str
    price_cents: int
    coupons: int


@dataclass(frozen=True)
class HouseholdAccount:
    household: Household
    guardians: list[GuardianState]
    children: list[tuple[Participant, Dossier | None]]
    upcoming: list[BookingLine]
    recent: list[BookingLine]
    payments: list[Payment]
    balances: dict[WalletKind, int]
    ledger: list[tuple[LedgerEntry, WalletKind]]
    messages: list[OutboxMessage]


async def household_of(db: AsyncSession, structure_id: int, household_id: int) -> Household | None:
    """The household if it is the structure's (None: another town's, or none)."""
    household = await db.get(Household, household_id)
    if household is None or household.structure_id != structure_id:
        return None
    return household


async def household_account(
    db: AsyncSession, structure_id: int, household_id: int, now: datetime, *, rows: int = 30
) -> HouseholdAccount | None:
    """Everything the staff sees of one household; None for another structure's."""
    household = await household_of(db, structure_id, household_id)
    if household is None:
        return None
    guardians = (
        await db.scalars(
            select(Guardian).where(Guardian.household_id == household.id).order_by(Guardian.id)
        )
    ).all()
    children = (
        await db.execute(
            select(Participant, Dossier)
            .outerjoin(
                Dossier,
                (Dossier.participant_id == Participant.id) & (Dossier.structure_id == structure_id),
            )
            .where(Participant.household_id == household.id)
            .order_by(Participant.birth_date)
        )
    ).all()
    lines = select(Booking, Session, Activity, Participant).join(
        Session, Session.id == Booking.session_id
    )
    lines = lines.join(Activity, Activity.id == Session.activity_id).join(
        Participant, Participant.id == Booking.participant_id
    )
    lines = lines.where(Booking.household_id == household.id)
    upcoming = await db.execute(
        lines.where(Session.starts_at >= now).order_by(Session.starts_at, Booking.id).limit(rows)
    )
    recent = await db.execute(
        lines.where(Session.starts_at < now)
        .order_by(Session.starts_at.desc(), Booking.id.desc())
        .limit(rows)
    )
    payments = (
        await db.scalars(
            select(Payment)
            .where(Payment.household_id == household.id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(rows)
        )
    ).all()
    ledger = (
        await db.execute(
            select(LedgerEntry, Wallet.kind)
            .join(Wallet, Wallet.id == LedgerEntry.wallet_id)
            .where(Wallet.household_id == household.id)
            .order_by(LedgerEntry.at.desc(), LedgerEntry.id.desc())
            .limit(rows)
        )
    ).all()
    messages = (
        await db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.household_id == household.id)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(rows)
        )
    ).all()
    return HouseholdAccount(
        household=household,
        guardians=[
            GuardianState(
                guardian,
                guardian.locked_until
                if guardian.locked_until is not None and guardian.locked_until > now
                else None,
                guardian.must_change_password,
            )
            for guardian in guardians
        ],
        children=[(child, dossier) for child, dossier in children],
        upcoming=[_line(*row) for row in upcoming],
        recent=[_line(*row) for row in recent],
        payments=list(payments),
        balances=await balances(db, household.id),
        ledger=[(entry, kind) for entry, kind in ledger],
        messages=list(messages),
    )


def _line(
    booking: Booking, session: Session, activity: Activity, child: Participant
) -> BookingLine:
    return BookingLine(
        booking.id,
        child.first_name,
        activity.name,
        session.day,
        session.starts_at,
        booking.state.value,
        booking.price_cents,
        booking.coupons,
    )


# Creating households -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    """What is wrong in a form or an import: `line` of the file (None for a form), `field`
    (a CSV column name), `code` ("required", "taken", "duplicate", "invalid", "too_long"),
    and `item`, the guardian's or child's rank in a form (1, 2…)."""

    line: int | None
    field: str
    code: str
    item: int | None = None


class HouseholdRejected(ValueError):
    """Nothing was created: every error is listed."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


@dataclass
class NewGuardian:
    first_name: str
    last_name: str
    login: str
    email: str = ""
    phone: str = ""
    line: int | None = None


@dataclass
class NewChild:
    first_name: str
    last_name: str
    birth_date: str  # as typed: 2019-09-03 or 03/09/2019
    school_class: str = ""
    missing_items: list[str] = field(default_factory=list)
    line: int | None = None


@dataclass
class NewHousehold:
    """A household as typed in the form or read from the import's lines."""

    reference: str
    name: str
    group: str = "resident"
    quotient: str = ""
    emails: str = ""
    language: str = "fr"
    guardians: list[NewGuardian] = field(default_factory=list)
    children: list[NewChild] = field(default_factory=list)
    line: int | None = None


def read_day(text: str) -> date | None:
    """A birth date typed as 2019-09-03 or 03/09/2019 (None if neither)."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        found = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        if found:
            return date(int(found[3]), int(found[2]), int(found[1]))
    except ValueError:
        return None
    return None


def _check_text(
    errors: list[FieldError],
    line: int | None,
    name: str,
    value: str,
    limit: int,
    *,
    required: bool = True,
    item: int | None = None,
) -> None:
    if required and not value.strip():
        errors.append(FieldError(line, name, "required", item))
    elif len(value) > limit:
        errors.append(FieldError(line, name, "too_long", item))


def _check(new: NewHousehold, today: date) -> list[FieldError]:
    """The rules a household must pass, except uniqueness against the database."""
    errors: list[FieldError] = []
    line = new.line
    _check_text(errors, line, "reference", new.reference, 64)
    _check_text(errors, line, "household_name", new.name, 200)
    if new.group not in GROUPS:
        errors.append(FieldError(line, "group", "invalid"))
    if new.quotient.strip() and not (
        new.quotient.strip().isdigit() and int(new.quotient) < 100_000
    ):
        errors.append(FieldError(line, "quotient", "invalid"))
    addresses = read_addresses(new.emails)
    if addresses.invalid is not None or addresses.too_many:
        errors.append(FieldError(line, "emails", "invalid"))
    if new.language not in LANGUAGES:
        errors.append(FieldError(line, "language", "invalid"))
    if not new.guardians:
        errors.append(FieldError(line, "login", "required", 1 if line is None else None))
    for rank, adult in enumerate(new.guardians, 1):
        at = adult.line if adult.line is not None else line
        item = rank if adult.line is None else None
        _check_text(errors, at, "guardian_first_name", adult.first_name, 100, item=item)
        _check_text(errors, at, "guardian_last_name", adult.last_name, 100, item=item)
        if not adult.login.strip():
            errors.append(FieldError(at, "login", "required", item))
        elif not _LOGIN.fullmatch(adult.login.strip().lower()):
            errors.append(FieldError(at, "login", "invalid", item))
        if adult.email.strip() and (
            not valid_address(adult.email.strip()) or len(adult.email) > MAX_ADDRESS_LENGTH
        ):
            errors.append(FieldError(at, "email", "invalid", item))
        if adult.phone.strip() and not _PHONE.fullmatch(adult.phone.strip()):
            errors.append(FieldError(at, "phone", "invalid", item))
    for rank, child in enumerate(new.children, 1):
        at = child.line if child.line is not None else line
        item = rank if child.line is None else None
        _check_text(errors, at, "child_first_name", child.first_name, 100, item=item)
        _check_text(errors, at, "child_last_name", child.last_name, 100, item=item)
        born = read_day(child.birth_date)
        if not child.birth_date.strip():
            errors.append(FieldError(at, "birth_date", "required", item))
        elif born is None or born > today or born.year < today.year - 100:
            errors.append(FieldError(at, "birth_date", "invalid", item))
        _check_text(errors, at, "class", child.school_class, 50, required=False, item=item)
        if len(child.missing_items) > 20 or any(len(i) > 100 for i in child.missing_items):
            errors.append(FieldError(at, "missing_items", "too_long", item))
    return errors


async def _check_unique(db: AsyncSession, households: list[NewHousehold]) -> list[FieldError]:
    """References and logins: new, and each once in what is created together."""
    errors: list[FieldError] = []
    references = [new.reference.strip() for new in households]
    logins = [adult.login.strip().lower() for new in households for adult in new.guardians]
    taken_references = set(
        (
            await db.scalars(select(Household.reference).where(Household.reference.in_(references)))
        ).all()
    )
    taken_logins = set(
        (
            await db.scalars(
                select(func.lower(Guardian.login)).where(func.lower(Guardian.login).in_(logins))
            )
        ).all()
    )
    seen_references: set[str] = set()
    seen_logins: set[str] = set()
    for new in households:
        reference = new.reference.strip()
        if reference in taken_references:
            errors.append(FieldError(new.line, "reference", "taken"))
        elif reference and reference in seen_references:
            errors.append(FieldError(new.line, "reference", "duplicate"))
        seen_references.add(reference)
        for rank, adult in enumerate(new.guardians, 1):
            login = adult.login.strip().lower()
            at = adult.line if adult.line is not None else new.line
            item = rank if adult.line is None else None
            if login in taken_logins:
                errors.append(FieldError(at, "login", "taken", item))
            elif login and login in seen_logins:
                errors.append(FieldError(at, "login", "duplicate", item))
            seen_logins.add(login)
    return errors


async def _create(
    db: AsyncSession, structure_id: int, new: NewHousehold, now: datetime
) -> Household:
    household = Household(
        structure_id=structure_id,
        reference=new.reference.strip(),
        name=new.name.strip(),
        group=new.group,
        family_quotient=int(new.quotient) if new.quotient.strip() else None,
        emails=";".join(read_addresses(new.emails).addresses),
        language=new.language,
    )
    db.add(household)
    await db.flush()
    for adult in new.guardians:
        db.add(
            Guardian(
                household_id=household.id,
                login=adult.login.strip().lower(),
                password_hash=NO_PASSWORD,
                first_name=adult.first_name.strip(),
                last_name=adult.last_name.strip(),
                email=adult.email.strip(),
                phone=adult.phone.strip(),
                must_change_password=True,
            )
        )
    children = [
        Participant(
            household_id=household.id,
            first_name=child.first_name.strip(),
            last_name=child.last_name.strip(),
            birth_date=read_day(child.birth_date),
            school_class=child.school_class.strip(),
        )
        for child in new.children
    ]
    db.add_all(children)
    await db.flush()
    # The staff enters a household from its papers: with nothing missing, its dossier is
    # validated; otherwise it waits in the dossiers' queue until the items are brought.
    db.add_all(
        Dossier(
            participant_id=participant.id,
            structure_id=structure_id,
            missing_items=list(child.missing_items),
            validated_at=None if child.missing_items else now,
        )
        for participant, child in zip(children, new.children, strict=True)
    )
    await db.flush()
    return household


async def create_households(
    db: AsyncSession,
    staff: StaffContext,
    households: list[NewHousehold],
    now: datetime,
    *,
    action: str = "household_created",
) -> list[Household]:
    """Create households with their guardians, children and dossiers, all or none.

    Rules: `_check` (required fields, formats, a guardian at least) and unique references
    and logins, against the database and among themselves; guardians get no usable password
    (the login letter gives the first one); a child's dossier is validated unless items are
    missing. One audit row per household.

    Raises:
        HouseholdRejected: with every error found; nothing is written.
    """
    today = now.date()
    errors = [error for new in households for error in _check(new, today)]
    errors += await _check_unique(db, households)
    if errors:
        raise HouseholdRejected(sorted(errors, key=lambda e: (e.line or 0, e.item or 0)))
    if not households:
        raise HouseholdRejected([FieldError(2, "reference", "required")])
    made = []
    for new in households:
        household = await _create(db, staff.structure_id, new, now)
        record_staff_change(
            db,
            staff,
            now,
            action,
            f"household:{household.id}",
            household_id=household.id,
            reference=household.reference,
            guardians=len(new.guardians),
            children=len(new.children),
        )
        made.append(household)
    return made


def read_import(text: str) -> tuple[list[NewHousehold], list[FieldError]]:
    """The households of an import file (CSV_COLUMNS), or the errors of its form: a missing
    or unknown column, too many lines. Line numbers count the header as line 1."""
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [fold(name).strip() for name in next(reader)]
    except StopIteration:
        return [], [FieldError(1, "reference", "required")]
    errors = [FieldError(1, name, "unknown_column") for name in header if name not in CSV_COLUMNS]
    errors += [
        FieldError(1, name, "missing_column") for name in REQUIRED_COLUMNS if name not in header
    ]
    if errors:
        return [], errors
    households: dict[str, NewHousehold] = {}
    order: list[NewHousehold] = []
    for line, cells in enumerate(reader, 2):
        if not any(cell.strip() for cell in cells):
            continue
        if line > MAX_IMPORT_LINES + 1:
            return [], [FieldError(line, "reference", "too_long")]
        row: dict[str, Any] = {name: "" for name in CSV_COLUMNS}
        row.update(zip(header, (cell.strip() for cell in cells), strict=False))
        reference = row["reference"]
        household = households.get(reference) if reference else None
        if household is None:
            household = NewHousehold(
                reference=reference,
                name=row["household_name"],
                group=row["group"] or "resident",
                quotient=row["quotient"],
                emails=row["emails"],
                line=line,
            )
            order.append(household)
            if reference:
                households[reference] = household
        if row["login"] and row["login"].lower() not in {
            adult.login.lower() for adult in household.guardians
        }:
            household.guardians.append(
                NewGuardian(
                    row["guardian_first_name"],
                    row["guardian_last_name"],
                    row["login"],
                    row["email"],
                    row["phone"],
                    line=line,
                )
            )
        child_columns = ("child_first_name", "child_last_name", "birth_date", "class")
        if any(row[name] for name in child_columns):
            household.children.append(
                NewChild(
                    row["child_first_name"],
                    row["child_last_name"],
                    row["birth_date"],
                    row["class"],
                    [i.strip() for i in row["missing_items"].split(",") if i.strip()],
                    line=line,
                )
            )
    return order, errors


async def import_households(
    db: AsyncSession, staff: StaffContext, text: str, now: datetime
) -> list[Household]:
    """Import a CSV of households (`read_import`), all or nothing (`create_households`).

    Raises:
        HouseholdRejected: every error, naming its line and field; nothing is written.
    """
    households, errors = read_import(text)
    if errors:
        raise HouseholdRejected(errors)
    return await create_households(db, staff, households, now, action="household_imported")


# Logins --------------------------------------------------------------------------------------


def first_password() -> str:
    """A first password a parent types from paper: 12 letters and digits in three groups of
    four (`abcd-2345-wxyz`), with both letters and digits, none that looks like another."""
    while True:
        chars = "".join(secrets.choice(_READABLE) for _ in range(12))
        if any(c.isdigit() for c in chars) and any(c.isalpha() for c in chars):
            return "-".join(chars[i : i + 4] for i in range(0, 12, 4))


async def _guardian_of(
    db: AsyncSession, structure_id: int, household_id: int, guardian_id: int
) -> Guardian | None:
    return await db.scalar(
        select(Guardian)
        .join(Household, Household.id == Guardian.household_id)
        .where(
            Guardian.id == guardian_id,
            Guardian.household_id == household_id,
            Household.structure_id == structure_id,
        )
        .with_for_update(of=Guardian)
    )


async def set_first_password(
    db: AsyncSession,
    staff: StaffContext,
    household_id: int,
    guardian_id: int,
    password_hash: str,
    now: datetime,
) -> Guardian | None:
    """Give a guardian the first password of a login letter (hashed by the caller, outside
    the transaction): the parent must change it at the first login; waits are lifted.

    The password itself is never stored: only the letter printed from the response shows it.
    Returns None for another structure's guardian.
    """
    guardian = await _guardian_of(db, staff.structure_id, household_id, guardian_id)
    if guardian is None:
        return None
    guardian.password_hash = password_hash
    guardian.must_change_password = True
    guardian.failed_logins = 0
    guardian.locked_until = None
    record_staff_change(
        db,
        staff,
        now,
        "login_letter",
        f"guardian:{guardian.id}",
        household_id=household_id,
        login=guardian.login,
    )
    return guardian


async def unlock_login(
    db: AsyncSession, staff: StaffContext, household_id: int, guardian_id: int, now: datetime
) -> Guardian | None:
    """End the wait that wrong passwords started for a guardian's login (the parent called).

    Returns None for another structure's guardian.
    """
    guardian = await _guardian_of(db, staff.structure_id, household_id, guardian_id)
    if guardian is None:
        return None
    before = {"failed_logins": guardian.failed_logins, "locked_until": guardian.locked_until}
    guardian.failed_logins = 0
    guardian.locked_until = None
    await db.execute(
        delete(LoginThrottle).where(
            LoginThrottle.key == unknown_login_key(guardian.login.strip().lower()[:64])
        )
    )
    record_staff_change(
        db,
        staff,
        now,
        "login_unlocked",
        f"guardian:{guardian.id}",
        household_id=household_id,
        login=guardian.login,
        failed_logins=before["failed_logins"],
        locked_until=before["locked_until"].isoformat() if before["locked_until"] else None,
    )
    return guardian

"""What a structure's admin changes: staff accounts, the catalogue, the structure's settings.

Each change is made for the admin's own structure only (another structure's staff id is
unknown here) and writes a StaffAudit row naming the admin.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.catalogue_file import (
    CatalogueError,
    CatalogueSpec,
    ImportReport,
    load_catalogue,
    read_catalogue_file,
)
from booking.models import StaffAudit, StaffMember, StaffRole, StaffSession, Structure
from booking.passwords import hash_password, off_loop
from booking.services.accounts import MIN_PASSWORD_LENGTH, password_refusal
from booking.services.staff_accounts import (
    StaffContext,
    add_staff,
    record_staff_change,
    valid_login,
)

INVOICE_BASES = ("bookings", "attendance")

#: The settings an admin may change, with their bounds (inclusive).
SETTING_RANGES: dict[str, tuple[int, int]] = {
    "attendance_until_hour": (0, 23),
    "digest_hour": (0, 23),
    "reminder_hour": (0, 23),
    "hold_minutes": (1, 7 * 24 * 60),  # as in the catalogue file
}
SETTINGS = (*SETTING_RANGES, "invoice_basis")
AUDIT_SHOWN = 200


class AdminRefusal(enum.StrEnum):
    UNKNOWN_STAFF = "unknown_staff"
    LOGIN_TAKEN = "login_taken"  # login
    BAD_LOGIN = "bad_login"
    WEAK_PASSWORD = "weak_password"  # min_length
    NOT_YOURSELF = "not_yourself"  # an admin cannot disable or demote themself
    OTHER_STRUCTURE = "other_structure"  # slug: the catalogue names another structure
    OUT_OF_RANGE = "out_of_range"  # setting, low, high
    BAD_INVOICE_BASIS = "bad_invoice_basis"


class AdminRefused(Exception):
    """An admin change refused: a code with its parameters, translated by the page."""

    def __init__(self, code: AdminRefusal, /, **params: Any) -> None:
        super().__init__(code.value)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class StaffLine:
    id: int
    login: str
    name: str
    email: str
    role: StaffRole
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    staff_login: str | None
    action: str
    target: str
    household_id: int | None
    data: dict


async def staff_of(db: AsyncSession, structure_id: int) -> list[StaffLine]:
    """The structure's staff accounts, active ones first, by login."""
    rows = await db.scalars(
        select(StaffMember)
        .where(StaffMember.structure_id == structure_id)
        .order_by(StaffMember.disabled_at.is_not(None), StaffMember.login)
    )
    return [
        StaffLine(m.id, m.login, m.name, m.email, m.role, m.created_at, m.disabled_at) for m in rows
    ]


def first_password() -> str:
    """A first password that passes the parents' rule: letters and digits, 16 characters."""
    while True:
        password = secrets.token_urlsafe(12)[:16]
        if password_refusal(password) is None:
            return password


async def create_staff(
    db: AsyncSession,
    admin: StaffContext,
    *,
    login: str,
    role: StaffRole,
    now: datetime,
    name: str = "",
    email: str = "",
    password: str = "",
) -> tuple[StaffMember, str]:
    """A new staff account of the admin's structure; returns it and its first password
    (the admin's, or a generated one to show once).

    Rules: the login is unique across structures; a password set by the admin follows the
    parents' rule (`password_refusal`). Audited as `staff_added` by `add_staff`.

    Raises:
        AdminRefused: BAD_LOGIN, LOGIN_TAKEN or WEAK_PASSWORD; nothing was written.
    """
    login = login.strip().lower()
    if not valid_login(login):
        raise AdminRefused(AdminRefusal.BAD_LOGIN)
    if password:
        if password_refusal(password) is not None:
            raise AdminRefused(AdminRefusal.WEAK_PASSWORD, min_length=MIN_PASSWORD_LENGTH)
    else:
        password = first_password()
    digest = await off_loop(hash_password, password)
    try:
        member = await add_staff(
            db,
            structure_id=admin.structure_id,
            login=login,
            role=role,
            password_hash=digest,
            now=now,
            name=name.strip()[:200],
            email=email.strip()[:200],
            by=admin,
        )
    except ValueError:
        raise AdminRefused(AdminRefusal.LOGIN_TAKEN, login=login) from None
    return member, password


async def _member(db: AsyncSession, admin: StaffContext, staff_id: int) -> StaffMember:
    member = await db.get(StaffMember, staff_id)
    if member is None or member.structure_id != admin.structure_id:
        raise AdminRefused(AdminRefusal.UNKNOWN_STAFF)
    return member


async def change_role(
    db: AsyncSession, admin: StaffContext, staff_id: int, role: StaffRole, now: datetime
) -> StaffMember:
    """Give a staff member of the admin's structure another role.

    Rules: not the admin's own role (a structure would lose its last admin by mistake).
    Audited as `staff_role_changed` with the roles before and after.
    """
    member = await _member(db, admin, staff_id)
    if member.id == admin.id:
        raise AdminRefused(AdminRefusal.NOT_YOURSELF)
    if member.role != role:
        before, member.role = member.role, role
        record_staff_change(
            db, admin, now, "staff_role_changed", f"staff:{member.id}",
            login=member.login, before=before.value, after=role.value,
        )  # fmt: skip
    return member


async def disable_staff(
    db: AsyncSession, admin: StaffContext, staff_id: int, now: datetime
) -> StaffMember:
    """Disable an account: it cannot log in and its open sessions end at once.

    Rules: an admin cannot disable themself. Audited as `staff_disabled`.
    """
    member = await _member(db, admin, staff_id)
    if member.id == admin.id:
        raise AdminRefused(AdminRefusal.NOT_YOURSELF)
    if member.disabled_at is None:
        member.disabled_at = now
        await db.execute(
            update(StaffSession)
            .where(StaffSession.staff_id == member.id, StaffSession.ended_at.is_(None))
            .values(ended_at=now)
        )
        record_staff_change(
            db, admin, now, "staff_disabled", f"staff:{member.id}", login=member.login
        )
    return member


async def enable_staff(
    db: AsyncSession, admin: StaffContext, staff_id: int, now: datetime
) -> StaffMember:
    """Let a disabled account log in again (with its password). Audited as `staff_enabled`."""
    member = await _member(db, admin, staff_id)
    if member.disabled_at is not None:
        member.disabled_at = None
        record_staff_change(
            db, admin, now, "staff_enabled", f"staff:{member.id}", login=member.login
        )
    return member


async def read_catalogue_upload(content: bytes, filename: str = "catalogue.yaml") -> CatalogueSpec:
    """Check an uploaded catalogue with the command line's reader (the same schema, the same
    messages, YAML errors with their line and column).

    Raises:
        CatalogueError: the file is wrong; its errors name the upload, not a temporary file.
    """

    def read() -> CatalogueSpec:
        with tempfile.TemporaryDirectory(prefix="ribambelle-catalogue-") as folder:
            path = Path(folder) / "upload.yaml"
            path.write_bytes(content)
            try:
                return read_catalogue_file(path)
            except CatalogueError as error:
                shown = Path(filename).name or "catalogue.yaml"
                raise CatalogueError(
                    [line.replace(str(path), shown) for line in error.errors]
                ) from None

    return await asyncio.to_thread(read)


async def import_catalogue(
    db: AsyncSession, admin: StaffContext, spec: CatalogueSpec, now: datetime
) -> ImportReport:
    """Import a checked catalogue into the admin's own structure (`load_catalogue`'s rules).

    Rules: the file must name the admin's structure (its slug); one naming another
    structure, existing or new, is refused. Audited as `catalogue_imported` with the counts.

    Raises:
        AdminRefused: OTHER_STRUCTURE. CatalogueError: from `load_catalogue`.
    """
    structure = await db.get(Structure, admin.structure_id)
    if structure is None or spec.structure.slug != structure.slug:
        raise AdminRefused(AdminRefusal.OTHER_STRUCTURE, slug=spec.structure.slug)
    report = await load_catalogue(db, spec, now)
    record_staff_change(
        db, admin, now, "catalogue_imported", f"structure:{structure.id}",
        activities_created=report.activities_created,
        activities_updated=report.activities_updated,
        sessions_created=report.sessions_created,
        sessions_updated=report.sessions_updated,
        sessions_deleted=report.sessions_deleted,
        warnings=len(report.warnings),
    )  # fmt: skip
    return report


def settings_of(structure: Structure) -> dict[str, Any]:
    return {name: getattr(structure, name) for name in SETTINGS}


def check_settings(values: dict[str, str]) -> dict[str, Any]:
    """Typed settings from a form's text values.

    Raises:
        AdminRefused: OUT_OF_RANGE (the first wrong number) or BAD_INVOICE_BASIS.
    """
    checked: dict[str, Any] = {}
    for name, (low, high) in SETTING_RANGES.items():
        try:
            number = int(str(values.get(name, "")).strip())
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise AdminRefused(AdminRefusal.OUT_OF_RANGE, setting=name, low=low, high=high)
        checked[name] = number
    basis = str(values.get("invoice_basis", "")).strip()
    if basis not in INVOICE_BASES:
        raise AdminRefused(AdminRefusal.BAD_INVOICE_BASIS)
    checked["invoice_basis"] = basis
    return checked


async def update_settings(
    db: AsyncSession, admin: StaffContext, values: dict[str, str], now: datetime
) -> dict[str, Any]:
    """Change the admin's structure's settings; returns what changed as {name: [old, new]}.

    Rules: every value within its range (`check_settings`); nothing is written unless all
    are right. Audited as `settings_changed` when something changed.
    """
    checked = check_settings(values)
    structure = await db.get(Structure, admin.structure_id, with_for_update=True)
    changes = {}
    for name, value in checked.items():
        if getattr(structure, name) != value:
            changes[name] = [getattr(structure, name), value]
            setattr(structure, name, value)
    if changes:
        record_staff_change(
            db, admin, now, "settings_changed", f"structure:{structure.id}", changes=changes
        )
    return changes


async def latest_audit(
    db: AsyncSession, structure_id: int, limit: int = AUDIT_SHOWN
) -> list[AuditLine]:
    """The structure's latest staff changes, newest first, with the staff member's login."""
    rows = await db.execute(
        select(StaffAudit, StaffMember.login)
        .outerjoin(StaffMember, StaffMember.id == StaffAudit.staff_id)
        .where(StaffAudit.structure_id == structure_id)
        .order_by(StaffAudit.at.desc(), StaffAudit.id.desc())
        .limit(limit)
    )
    return [
        AuditLine(audit.at, login, audit.action, audit.target, audit.household_id, audit.data)
        for audit, login in rows
    ]

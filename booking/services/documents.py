"""Links to a household's documents (a receipt, the year's statement): short-lived and
unguessable, each good for one document of one household.

A link carries a random code; only a hash of it is stored, with the guardian it was made
for and its expiry. The codes sit in `link_codes` beside the one-time codes that link a
channel, but hashed with the document's name: a document code can never be redeemed as a
channel link, a channel code never opens a document, and a receipt's code opens no other
receipt nor the statement.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Guardian, LinkCode

#: How long a document link works; the chat gives a new one whenever it is asked again.
#: A receipt link stays in the conversation's history for a day; a download, an hour.
LIFETIMES = {
    "receipt": timedelta(days=1),
    "statement": timedelta(hours=1),
    "invoice": timedelta(hours=1),
}
_DOCUMENT = re.compile(r"(?:receipt:\d{1,12}|statement:\d{4}|invoice:\d{1,12})")


def receipt_document(payment_id: int) -> str:
    return f"receipt:{payment_id}"


def statement_document(year: int) -> str:
    return f"statement:{year}"


def invoice_document(invoice_id: int) -> str:
    """A monthly invoice or credit note as PDF (booking/services/invoices.py)."""
    return f"invoice:{invoice_id}"


def _digest(document: str, code: str) -> str:
    return hashlib.sha256(f"document|{document}|{code}".encode()).hexdigest()


async def document_code(db: AsyncSession, *, guardian_id: int, document: str, now: datetime) -> str:
    """A new code opening `document` for the guardian's household until the link expires."""
    if not _DOCUMENT.fullmatch(document):
        raise ValueError(f"not a document: {document!r}")
    code = secrets.token_urlsafe(18)
    db.add(
        LinkCode(
            code_hash=_digest(document, code),
            guardian_id=guardian_id,
            created_at=now,
            expires_at=now + LIFETIMES[document.partition(":")[0]],
        )
    )
    await db.flush()
    return code


async def document_household(
    db: AsyncSession, *, document: str, code: str, now: datetime
) -> int | None:
    """The household a code opens `document` for; None for an unknown or expired code."""
    if not code or len(code) > 64 or not _DOCUMENT.fullmatch(document):
        return None
    return await db.scalar(
        select(Guardian.household_id)
        .join(LinkCode, LinkCode.guardian_id == Guardian.id)
        .where(
            LinkCode.code_hash == _digest(document, code),
            LinkCode.expires_at > now,
            LinkCode.used_at.is_(None),
        )
    )

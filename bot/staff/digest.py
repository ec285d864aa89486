"""The daily staff digest by e-mail: written in French or English from
`booking.services.staff_digest`, sent by the scheduler once a day per structure.

It goes through the Mailer directly, not the outbox: outbox rows belong to a household.
The day's claim (a StaffAudit row) is committed before sending, so two server processes
never both send it; a crash while sending loses that day's digest (at most once).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from booking.clock import Clock
from booking.db import Database
from booking.models import Structure
from booking.services.staff_digest import (
    Digest,
    claim_digest,
    compose_digest,
    digest_due,
    digest_recipients,
)
from bot.notify.email import Email, EmailError, EmailSender
from dialogs.i18n import Translator

log = logging.getLogger(__name__)


def digest_email(digest: Digest, t: Translator) -> tuple[str, str]:
    """The subject and plain text of a digest."""
    tomorrow = t.day(digest.day + timedelta(days=1))
    subject = t._("Compte rendu du {day} — {town}", day=t.day(digest.day), town=digest.town)
    lines = [t._("Demain, {day} :", day=tomorrow)]
    if digest.tomorrow:
        lines += [
            "• "
            + t._(
                "{activity} : {booked} / {capacity} places",
                activity=count.activity,
                booked=count.booked,
                capacity=count.capacity,
            )
            for count in digest.tomorrow
        ]
    else:
        lines.append("• " + t._("aucune séance"))
    lines += [
        "",
        t._("Hier, {day} :", day=t.day(digest.reported_day)),
        "• " + t.n_("{count} réservation", "{count} réservations", digest.bookings),
        "• " + t.n_("{count} annulation", "{count} annulations", digest.cancellations),
        "",
        t._("Listes d'attente :"),
    ]
    if digest.waitlists:
        lines += [
            "• "
            + f"{note.activity} — {t.short_day(note.day)}"
            + (f" ({note.label})" if note.label else "")
            + " : "
            + t.n_("{count} en attente", "{count} en attente", note.count)
            for note in digest.waitlists
        ]
    else:
        lines.append("• " + t._("personne en attente"))
    anomalies = [
        t._(
            "{activity} — {day} : complet {minutes} min après l'ouverture",
            activity=note.activity,
            day=t.short_day(note.day),
            minutes=note.minutes,
        )
        for note in digest.fast_fills
    ] + [
        t._(
            "{activity} — {day} : {count} annulations sur {total} réservations hier",
            activity=note.activity,
            day=t.short_day(note.day),
            count=note.count,
            total=note.out_of,
        )
        for note in digest.cancellation_spikes
    ]
    if digest.dead_notifications:
        anomalies.append(
            t.n_(
                "{count} message aux familles non distribué (voir l'exploitant)",
                "{count} messages aux familles non distribués (voir l'exploitant)",
                digest.dead_notifications,
            )
        )
    lines += ["", t._("Anomalies :")]
    lines += ["• " + line for line in anomalies] or ["• " + t._("aucune")]
    return subject, "\n".join(lines)


async def send_digests_once(
    database: Database, clock: Clock, mailer: EmailSender | None, *, locale: str = "fr"
) -> int:
    """Send the digest of every structure whose digest hour has come and whose day's digest
    has not gone yet; returns how many structures were sent."""
    if mailer is None:
        return 0
    now = clock.now()
    async with database.reading() as db:
        structures = (await db.scalars(select(Structure).order_by(Structure.id))).all()
    sent = 0
    for structure in structures:
        day = digest_due(structure, now)
        if day is None:
            continue
        async with database.reading() as db:
            recipients = await digest_recipients(db, structure.id)
        if not recipients:
            continue
        async with database.writing() as db:
            if not await claim_digest(db, structure.id, day, now):
                continue
        async with database.reading() as db:
            digest = await compose_digest(db, structure.id, day)
        subject, text = digest_email(digest, Translator(locale))
        for address in recipients:
            try:
                await mailer.send(
                    Email(
                        to=[address],
                        subject=subject,
                        text=text,
                        message_id_key=f"digest:{structure.id}:{day.isoformat()}:{address}",
                        language=locale,
                    )
                )
            except EmailError as error:
                log.warning("staff digest of structure %s not sent: %s", structure.id, error)
        sent += 1
    return sent

"""Messages sent outside a turn (a payment's result), rendered in each recipient's language.

The news is taken as plain values inside the transaction that made it, and rendered later,
once per recipient, by the delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from booking.models import Booking, PaymentPurpose, PaymentState
from booking.services.payments import Outcome
from dialogs.i18n import Translator
from dialogs.replies import Link, Reply


@dataclass(frozen=True)
class Item:
    participant: str
    activity: str
    day: date
    amount_cents: int


def _items(bookings: list[Booking]) -> list[Item]:
    return [
        Item(b.participant.first_name, b.session.activity.name, b.session.day, b.price_cents)
        for b in bookings
    ]


@dataclass(frozen=True)
class PaymentNotice:
    household_id: int
    state: PaymentState
    purpose: PaymentPurpose
    amount_cents: int
    coupons: int
    receipt: str | None
    settled_at: datetime
    confirmed: list[Item] = field(default_factory=list)
    lost: list[Item] = field(default_factory=list)
    released: list[Item] = field(default_factory=list)
    credited_cents: int = 0

    @classmethod
    def of(cls, outcome: Outcome) -> PaymentNotice:
        payment = outcome.payment
        return cls(
            household_id=payment.household_id,
            state=outcome.state,
            purpose=payment.purpose,
            amount_cents=payment.amount_cents,
            coupons=payment.coupons,
            receipt=payment.receipt_number,
            settled_at=payment.settled_at or payment.created_at,
            confirmed=_items(outcome.confirmed),
            lost=_items(outcome.lost),
            released=_items(outcome.released),
            credited_cents=outcome.credited_cents,
        )

    def render(self, t: Translator, tz: ZoneInfo, chat_url: str | None = None) -> list[Reply]:
        if self.state is PaymentState.PAID:
            text = self._paid(t, tz)
        elif self.state is PaymentState.REFUSED:
            text = t._("Le paiement de {amount} a été refusé.", amount=t.money(self.amount_cents))
        elif self.state is PaymentState.ABANDONED:
            text = t._("Le paiement de {amount} a été annulé.", amount=t.money(self.amount_cents))
        else:
            text = t._(
                "Le délai de paiement de {amount} est dépassé.", amount=t.money(self.amount_cents)
            )
        if self.released:
            text += "\n" + t._("Les places sont libérées :")
            text += "".join("\n• " + _line(t, item) for item in self.released)
            text += "\n" + t._("Vous pouvez réserver à nouveau si des places restent.")
        link = Link(t._("Revenir à la conversation"), chat_url) if chat_url else None
        return [Reply(text=text, link=link, locale=t.locale)]

    def _paid(self, t: Translator, tz: ZoneInfo) -> str:
        lines = [
            t._("Paiement reçu, merci !"),
            t._("Reçu n° {number}", number=self.receipt or ""),
            t._(
                "Payé le {day} à {time}",
                day=t.day(self.settled_at.astimezone(tz).date()),
                time=t.time(self.settled_at.astimezone(tz)),
            ),
        ]
        if self.purpose is PaymentPurpose.TOP_UP and self.coupons:
            lines.append(t.n_("{count} coupon ajouté", "{count} coupons ajoutés", self.coupons))
        elif self.purpose is PaymentPurpose.TOP_UP:
            lines.append(
                t._("Porte-monnaie crédité de {amount}", amount=t.money(self.amount_cents))
            )
        elif self.purpose is PaymentPurpose.DEBT:
            lines.append(
                t._("Règlement de votre dette de {amount}", amount=t.money(self.amount_cents))
            )
        lines.extend("✓ " + _line(t, item) + " : " + t._("confirmé") for item in self.confirmed)
        for item in self.lost:
            lines.append("✕ " + _line(t, item) + " : " + t._("plus de place"))
        if self.credited_cents:
            lines.append(
                t._(
                    "Le paiement est arrivé trop tard pour ces places : {amount} ont été "
                    "crédités sur votre porte-monnaie.",
                    amount=t.money(self.credited_cents),
                )
            )
        lines.append(t._("Total payé : {amount}", amount=t.money(self.amount_cents)))
        return "\n".join(lines)


def _line(t: Translator, item: Item) -> str:
    return (
        f"{item.participant} — {item.activity} — {t.day(item.day)} — {t.money(item.amount_cents)}"
    )

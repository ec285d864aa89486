"""Notifications make money plain: where a refund went, when an invoiced booking is billed, a
card refused that keeps the places with a link to try again, a payment from the porte-monnaie,
a receipt sent again. Rendered from the outbox's data, as the worker renders them."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from booking.models import NoticeKind
from dialogs.i18n import Translator
from dialogs.notices import Rendered, render

PARIS = ZoneInfo("Europe/Paris")
PUBLIC = "https://ribambelle.example.org"


def rendered(kind: NoticeKind, data: dict[str, Any]) -> Rendered:
    return render(kind, data, Translator("fr"), PARIS, PUBLIC)


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def meal(day: str, mode: str | None = "invoice", cents: int = 335) -> dict[str, Any]:
    item = {
        "booking_id": 1,
        "participant": "Léa",
        "activity": "Cantine",
        "day": day,
        "starts_at": f"{day}T11:30:00+01:00",
        "amount_cents": cents,
        "coupons": 0,
    }
    if mode is not None:
        item["mode"] = mode
    return item


def test_a_confirmation_says_when_and_how_an_invoiced_activity_is_billed() -> None:
    notice = rendered(
        NoticeKind.BOOKING_CONFIRMED,
        {"items": [meal("2027-03-02"), meal("2027-03-04"), meal("2027-04-01")]},
    )
    text = plain(notice.text)
    assert "Cantine : facturé fin mars sur votre compte famille (6,70 €)" in text
    assert "Cantine : facturé fin avril sur votre compte famille (3,35 €)" in text


def test_a_confirmation_paid_when_booked_says_nothing_of_an_invoice() -> None:
    notice = rendered(
        NoticeKind.BOOKING_CONFIRMED, {"items": [meal("2027-03-04", mode="wallet", cents=250)]}
    )
    assert "facturé" not in notice.text


def test_a_waitlist_place_confirmed_on_an_invoiced_activity_says_when_it_is_billed() -> None:
    data = {**meal("2027-03-10"), "state": "confirmed", "held_until": None}
    notice = rendered(NoticeKind.WAITLIST_OFFER, data)
    assert "facturé fin mars sur votre compte famille" in notice.text


def cancelled(**refund: Any) -> str:
    data = {"items": [meal("2027-03-04", mode="wallet")], "refund_cents": 0} | refund
    return plain(rendered(NoticeKind.BOOKING_CANCELLED, data).text)


def test_a_refund_says_where_the_money_went() -> None:
    assert "remboursé sur votre porte-monnaie : 2,50 €" in cancelled(refund_cents=250)
    assert "remboursé sur votre carte : 10,00 €" in cancelled(refund_cents=1000, to_card=True)
    assert "rendu sur vos coupons : 2 coupons" in cancelled(refund_coupons=2)
    assert "remboursé" not in cancelled()


def test_a_town_cancellation_says_where_the_refund_went() -> None:
    data = {
        "activity": "Mercredis loisirs",
        "day": "2027-03-10",
        "participants": ["Léa"],
        "refund_cents": 1200,
        "refund_coupons": 0,
        "to_card": False,
        "reason": "",
    }
    text = plain(rendered(NoticeKind.SESSION_CANCELLED, data).text)
    assert "remboursé sur votre porte-monnaie : 12,00 €" in text


def payment(state: str, **more: Any) -> dict[str, Any]:
    return {
        "payment_id": 7,
        "state": state,
        "purpose": "basket",
        "amount_cents": 2000,
        "coupons": 0,
        "receipt": "R2027-000007" if state == "paid" else None,
        "settled_at": "2027-03-01T09:05:00+01:00",
        "paid_from": "card",
        "confirmed": [],
        "lost": [],
        "released": [],
        "kept": [],
        "credited_cents": 0,
        "retry_token": None,
        "retry_amount_cents": 0,
        "held_until": None,
    } | more


def test_a_refused_card_keeps_the_places_and_links_to_a_new_try() -> None:
    kept = [meal("2027-03-10", mode="immediate", cents=1000)]
    notice = rendered(
        NoticeKind.PAYMENT_RESULT,
        payment(
            "refused",
            kept=kept,
            retry_token="tok-retry",
            retry_amount_cents=1000,
            held_until="2027-03-01T10:00:00+01:00",
        ),
    )
    text = plain(notice.text)
    assert "Le paiement de 20,00 € a été refusé." in text
    assert "Rien n'a été payé. Les places restent gardées pour vous jusqu'à 10:00 :" in text
    assert "• Léa — Cantine — mercredi 10 mars — 10,00 €" in text
    assert "libérées" in text and "Les places sont libérées" not in text
    assert plain(notice.link.label) == "Réessayer le paiement (10,00 €)"
    assert notice.link.url == f"{PUBLIC}/pay/tok-retry"


def test_a_payment_from_the_porte_monnaie_says_so_on_its_receipt() -> None:
    paid = payment("paid", paid_from="wallet", confirmed=[meal("2027-03-10", "immediate", 2000)])
    text = plain(rendered(NoticeKind.PAYMENT_RESULT, paid).text)
    assert "Paiement reçu, merci !" in text and "Reçu n° R2027-000007" in text
    assert "Payé avec le porte-monnaie" in text


def test_a_receipt_sent_again_is_the_receipt_with_its_own_subject() -> None:
    again = payment("paid", again=True, items=[meal("2027-03-10", "immediate", 2000)])
    for key in ("confirmed", "lost"):
        again.pop(key)
    notice = rendered(NoticeKind.PAYMENT_RESULT, again)
    assert notice.subject == "Votre reçu n° R2027-000007"
    text = plain(notice.text)
    assert "Paiement reçu, merci" not in text
    assert "Payé le lundi 1er mars à 09:05" in text
    assert "• Léa — Cantine — mercredi 10 mars — 20,00 €" in text
    assert "Total payé : 20,00 €" in text
    assert "R2027-000007" in notice.html()

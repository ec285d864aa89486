"""Told to parents in their language: refusals (why, and what they can do next), and money
(where a refund went, when an invoiced booking is billed, signed amounts)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from booking.models import Category, LedgerKind, PaymentMode, WalletKind
from booking.refusals import Refusal, Refused
from booking.services.statements import billing_day
from dialogs.i18n import N_, Translator

PARIS = ZoneInfo("Europe/Paris")

DOSSIER_ITEMS = {
    "attestation d'assurance": N_("l'attestation d'assurance"),
    "fiche sanitaire": N_("la fiche sanitaire"),
    "justificatif de domicile": N_("le justificatif de domicile"),
    "vaccinations": N_("le carnet de vaccinations"),
    "avis d'imposition": N_("l'avis d'imposition"),
}


def _when(t: Translator, value: datetime | None) -> str:
    return t.moment(value.astimezone(PARIS)) if value is not None else ""


def explain(t: Translator, refused: Refused) -> str:
    """One or two sentences: what went wrong and the next step."""
    p = refused.params
    code = refused.code
    if code is Refusal.TOO_YOUNG:
        return t._(
            "Cette activité accueille les enfants à partir de {age} ans.", age=p.get("min_age")
        )
    if code is Refusal.TOO_OLD:
        return t._(
            "Cette activité accueille les enfants de moins de {age} ans.", age=p.get("max_age")
        )
    if code is Refusal.DOSSIER_INCOMPLETE:
        missing = [t._(DOSSIER_ITEMS.get(item, item)) for item in p.get("missing") or []]
        if p.get("reason"):
            return t._(
                "La mairie n'a pas validé le dossier d'inscription. Motif : {reason}. "
                "Une fois le dossier corrigé au guichet unique, vous pourrez réserver.",
                reason=str(p["reason"]).rstrip(". "),
            )
        if missing:
            return t._(
                "Le dossier d'inscription n'est pas complet : il manque {items}. Déposez ces "
                "pièces au guichet unique de la mairie, puis vous pourrez réserver.",
                items=", ".join(missing),
            )
        return t._(
            "Le dossier d'inscription n'a pas encore été validé par la mairie. Vous pourrez "
            "réserver dès sa validation."
        )
    if code is Refusal.ENROLMENT_REQUIRED:
        return t._(
            "Cette activité demande une inscription préalable validée par la mairie. "
            "Faites la demande au guichet unique."
        )
    if code is Refusal.ENROLMENT_PENDING:
        return t._(
            "La demande d'inscription à cette activité est en cours d'examen par la mairie. "
            "Vous pourrez réserver dès qu'elle sera acceptée."
        )
    if code is Refusal.ENROLMENT_REFUSED and p.get("reason"):
        return t._(
            "L'inscription à cette activité n'a pas été acceptée. Motif : {reason}. "
            "Contactez la mairie.",
            reason=str(p["reason"]).rstrip(". "),
        )
    if code is Refusal.ENROLMENT_REFUSED:
        return t._("L'inscription à cette activité n'a pas été acceptée. Contactez la mairie.")
    if code is Refusal.IN_DEBT:
        return t._(
            "Les réservations sont bloquées : {amount} restent à régler à la mairie. "
            "Une fois la somme réglée, vous pourrez réserver à nouveau.",
            amount=t.money(p.get("owed_cents", 0)),
        )
    if code is Refusal.NOT_OPEN_YET:
        return t._(
            "Les réservations ouvrent le {when}. Revenez à ce moment-là.",
            when=_when(t, p.get("opens_at")),
        )
    if code is Refusal.PAST_DEADLINE:
        return t._(
            "Le délai de réservation est passé (il fallait réserver avant le {when}). "
            "Choisissez une autre date.",
            when=_when(t, p.get("deadline")),
        )
    if code is Refusal.SESSION_CANCELLED:
        return t._("Cette séance a été annulée par la mairie. Choisissez une autre date.")
    if code is Refusal.FULL:
        if p.get("waitlist"):
            return t._(
                "Cette séance est complète. Vous pouvez vous inscrire sur la liste d'attente."
            )
        return t._("Cette séance est complète. Choisissez une autre date ou un autre groupe.")
    if code is Refusal.WAITLIST_UNAVAILABLE:
        return t._("Cette activité n'a pas de liste d'attente. Choisissez une autre date.")
    if code is Refusal.NOT_FULL:
        return t._("Il reste des places : vous pouvez réserver directement.")
    if code is Refusal.ALREADY_BOOKED:
        if p.get("state") == "waitlisted":
            return t._("Déjà sur la liste d'attente pour cette séance.")
        if p.get("state") == "held":
            return t._("Cette séance est déjà dans votre panier.")
        return t._("Cette séance est déjà réservée.")
    if code is Refusal.OVERLAP:
        return t._(
            "Cette séance a lieu en même temps qu'une autre réservation ({activity}).",
            activity=p.get("activity", ""),
        )
    if code is Refusal.ADULT_REQUIRED:
        return t._(
            "Dans cette activité en famille, chaque adulte accompagne au plus {count} enfants : "
            "réservez d'abord la place d'un adulte.",
            count=p.get("children_per_adult"),
        )
    if code is Refusal.ADULT_STILL_NEEDED:
        return t._("Les enfants inscrits ont besoin d'un adulte : annulez d'abord leurs places.")
    if code is Refusal.INSUFFICIENT_BALANCE:
        if p.get("wallet") == "coupons":
            return t._(
                "Il vous reste {balance} coupons, il en faut {needed}. Achetez des coupons ou "
                "retirez des séances du panier.",
                balance=p.get("balance"),
                needed=p.get("needed"),
            )
        return t._(
            "Votre porte-monnaie contient {balance}, il faut {needed}. Rechargez-le ou retirez "
            "des séances du panier.",
            balance=t.money(p.get("balance", 0)),
            needed=t.money(p.get("needed", 0)),
        )
    if code is Refusal.BASKET_EMPTY:
        return t._("Votre panier est vide.")
    if code is Refusal.HOLD_EXPIRED:
        return t._("La place n'était plus réservée pour vous : le délai du panier a expiré.")
    if code is Refusal.CANCELLATION_PAST_DEADLINE:
        return t._(
            "Il n'est plus possible d'annuler : le délai d'annulation était le {when}.",
            when=_when(t, p.get("deadline")),
        )
    if code is Refusal.NOT_CANCELLABLE:
        return t._("Cette réservation ne peut plus être annulée.")
    if code is Refusal.BAD_CREDENTIALS:
        left = p.get("attempts_left")
        if left:
            return t.n_(
                "Identifiant ou mot de passe incorrect. Il vous reste {count} essai.",
                "Identifiant ou mot de passe incorrect. Il vous reste {count} essais.",
                left,
            )
        return t._("Identifiant ou mot de passe incorrect.")
    if code is Refusal.ACCOUNT_LOCKED:
        return t._(
            "Trop d'essais : le compte est bloqué jusqu'à {time}. Réessayez ensuite, ou "
            "contactez la mairie si vous avez oublié votre mot de passe.",
            time=t.time(p["until"].astimezone(PARIS)) if p.get("until") else "",
        )
    if code is Refusal.WEAK_PASSWORD:
        return t._(
            "Ce mot de passe est trop simple : il faut au moins {length} caractères, avec des "
            "lettres et des chiffres.",
            length=p.get("min_length"),
        )
    if code is Refusal.COUPONS_NOT_SOLD:
        return t._("La mairie ne vend pas de coupons en ligne.")
    if code is Refusal.NOTHING_OWED:
        return t._("Vous ne devez rien à la mairie.")
    if code is Refusal.PAYMENT_NOT_OPEN:
        return t._(
            "Le paiement en ligne n'est pas encore ouvert : cette activité ne peut pas "
            "encore être réservée ici. Renseignez-vous auprès de la mairie."
        )
    if code is Refusal.INVALID_AMOUNT and p.get("coupons"):
        return t._(
            "Choisissez entre {minimum} et {maximum} coupons.",
            minimum=p.get("minimum"),
            maximum=p.get("maximum"),
        )
    if code is Refusal.INVALID_AMOUNT and "minimum" in p:
        return t._(
            "Choisissez un montant entre {minimum} et {maximum}.",
            minimum=t.money(p.get("minimum", 0)),
            maximum=t.money(p.get("maximum", 0)),
        )
    return t._("Cette demande n'est pas possible.")


# Money ---------------------------------------------------------------------------------------

#: What a consumption is, in a statement line: "− 3,35 € repas".
CONSUMPTION_WORDS = {
    Category.PERISCOLAIRE: N_("accueil périscolaire"),
    Category.RESTAURATION: N_("repas"),
    Category.ALSH: N_("centre de loisirs"),
    Category.EMS: N_("école des sports"),
    Category.SEJOUR: N_("séjour"),
    Category.SPORT: N_("sport en famille"),
}
#: What a money movement is, by ledger kind and wallet: "+ 30,00 € rechargement".
MOVEMENT_WORDS = {
    (LedgerKind.TOP_UP, WalletKind.EUROS): N_("rechargement"),
    (LedgerKind.TOP_UP, WalletKind.COUPONS): N_("achetés"),
    (LedgerKind.PAYMENT, WalletKind.EUROS): N_("paiement par carte"),
    (LedgerKind.PAYMENT, WalletKind.ACCOUNT): N_("règlement"),
    (LedgerKind.REFUND, WalletKind.EUROS): N_("remboursement sur le porte-monnaie"),
    (LedgerKind.REFUND, WalletKind.COUPONS): N_("rendus"),
    (LedgerKind.PAYOUT, WalletKind.EUROS): N_("remboursement sur votre carte"),
}


def consumption_word(t: Translator, category: Category | None) -> str:
    """ "repas" for a meal: what a consumption is, in a statement line."""
    return t._(CONSUMPTION_WORDS[category]) if category in CONSUMPTION_WORDS else ""


def movement_word(t: Translator, kind: LedgerKind, wallet: WalletKind) -> str:
    """ "rechargement", "remboursement sur votre carte": what a money movement is."""
    words = MOVEMENT_WORDS.get((kind, wallet))
    return t._(words) if words else ""


def signed_money(t: Translator, cents: int) -> str:
    """ "+ 30,00 €" for money in, "− 3,20 €" for money out (a true minus sign)."""
    return ("+ " if cents >= 0 else "\u2212 ") + t.money(abs(cents))


def signed_coupons(t: Translator, count: int) -> str:
    sign = "+ " if count >= 0 else "\u2212 "
    return sign + t.n_("{count} coupon", "{count} coupons", abs(count))


def refund_text(t: Translator, cents: int, coupons: int = 0, *, to_card: bool = False) -> str:
    """Where the money of a cancellation went: the card, the porte-monnaie, the coupons."""
    parts = []
    if cents and to_card:
        parts.append(t._("remboursé sur votre carte : {amount}", amount=t.money(cents)))
    elif cents:
        parts.append(t._("remboursé sur votre porte-monnaie : {amount}", amount=t.money(cents)))
    if coupons:
        parts.append(
            t._(
                "rendu sur vos coupons : {amount}",
                amount=t.n_("{count} coupon", "{count} coupons", coupons),
            )
        )
    return ", ".join(parts)


def billing_text(t: Translator, mode: PaymentMode | str | None, day: date) -> str:
    """How and when a booking is paid, said where it is booked: an invoiced activity is
    "facturé fin mars sur votre compte famille"; other modes say nothing here."""
    if mode is None or PaymentMode(mode) is not PaymentMode.INVOICE:
        return ""
    billed = billing_day(PaymentMode.INVOICE, day)
    return t._(
        "facturé fin {month} sur votre compte famille",
        month=format_date(billed, "LLLL", locale=t.locale),
    )


def item_line(t: Translator, item: Mapping[str, Any], *, price: bool = True) -> str:
    """ "Léa — Mercredis loisirs — mercredi 4 mars — 10,00 €"."""
    text = f"{item['participant']} — {item['activity']} — {t.day(date.fromisoformat(item['day']))}"
    if price and item.get("coupons"):
        text += " — " + t.n_("{count} coupon", "{count} coupons", item["coupons"])
    elif price and item.get("amount_cents"):
        text += " — " + t.money(item["amount_cents"])
    return text


def receipt_lines(t: Translator, data: Mapping[str, Any], tz: ZoneInfo) -> list[str]:
    """A paid payment as its receipt says it: number, when, how, what, total."""
    amount = t.money(data["amount_cents"])
    settled = datetime.fromisoformat(data["settled_at"]).astimezone(tz)
    lines = [
        t._("Reçu n° {number}", number=data.get("receipt") or ""),
        t._("Payé le {day} à {time}", day=t.day(settled.date()), time=t.time(settled)),
    ]
    if data.get("paid_from") == "wallet":
        lines.append(t._("Payé avec le porte-monnaie"))
    if data["purpose"] == "top_up" and data.get("coupons"):
        lines.append(t.n_("{count} coupon ajouté", "{count} coupons ajoutés", data["coupons"]))
    elif data["purpose"] == "top_up":
        lines.append(t._("Porte-monnaie crédité de {amount}", amount=amount))
    elif data["purpose"] == "debt":
        lines.append(t._("Règlement de votre dette de {amount}", amount=amount))
    if "confirmed" in data:
        lines += ["✓ " + item_line(t, item) + " : " + t._("confirmé") for item in data["confirmed"]]
        lines += ["✕ " + item_line(t, item) + " : " + t._("plus de place") for item in data["lost"]]
    else:  # a receipt sent again: what was paid for
        lines += ["• " + item_line(t, item) for item in data.get("items") or []]
    if data.get("credited_cents"):
        lines.append(
            t._(
                "Le paiement est arrivé trop tard pour ces places : {amount} ont été "
                "crédités sur votre porte-monnaie.",
                amount=t.money(data["credited_cents"]),
            )
        )
    lines.append(t._("Total payé : {amount}", amount=amount))
    return lines

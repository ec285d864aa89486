"""Refusals told to parents: why, and what they can do next, in their language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from booking.refusals import Refusal, Refused
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

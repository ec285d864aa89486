"""Notifications as each recipient reads them: rendered from the outbox's plain data, in the
recipient's language, for a chat (text, link, buttons) or an e-mail (subject, text, HTML)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from booking.models import NoticeKind
from dialogs.engine import standing_payload
from dialogs.explain import billing_text, item_line, receipt_lines, refund_text
from dialogs.i18n import N_, Translator
from dialogs.replies import Button, Link, Reply


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    link: Link | None = None
    buttons: list[list[Button]] = field(default_factory=list)

    def reply(self, locale: str) -> Reply:
        return Reply(text=self.text, buttons=self.buttons, link=self.link, locale=locale)

    def html(self) -> str:
        """The body as an HTML fragment: the mailer wraps it in a document in the
        recipient's language (a paragraph cannot hold the link's paragraph)."""
        lines = "<br>\n".join(html.escape(line) for line in self.text.split("\n"))
        body = f"<p>{lines}</p>"
        if self.link is not None:
            body += (
                f'\n<p><a href="{html.escape(self.link.url, quote=True)}" '
                f'style="font-weight:bold">{html.escape(self.link.label)}</a></p>'
            )
        return f'<div style="font-family:sans-serif">\n{body}\n</div>'

    def plain(self) -> str:
        if self.link is None:
            return self.text
        return f"{self.text}\n\n{self.link.label} : {self.link.url}"


def render(
    kind: NoticeKind,
    data: Mapping[str, Any],
    t: Translator,
    tz: ZoneInfo,
    public_url: str,
) -> Rendered:
    renderer = _RENDERERS[kind]
    return renderer(data, t, tz, public_url.rstrip("/"))


def _pay_link(t: Translator, data: Mapping[str, Any], public_url: str) -> Link | None:
    token = data.get("pay_token")
    if not token:
        return None
    return Link(
        t._("Payer {amount}", amount=t.money(data.get("amount_cents", 0))),
        f"{public_url}/pay/{token}",
    )


def _time(t: Translator, value: str, tz: ZoneInfo) -> str:
    return t.time(datetime.fromisoformat(value).astimezone(tz))


def billing_lines(t: Translator, items: list[Mapping[str, Any]]) -> list[str]:
    """How the items are paid, once per way: "Cantine : facturé fin mars sur votre compte
    famille (6,70 €)". Items name their activity's payment mode (`mode`) when known."""
    invoiced: dict[tuple[str, str], int] = {}
    for item in items:
        words = billing_text(t, item.get("mode"), date.fromisoformat(item["day"]))
        if words:
            key = (item["activity"], words)
            invoiced[key] = invoiced.get(key, 0) + int(item.get("amount_cents") or 0)
    return [
        f"{activity}{t.colon}{words} ({t.money(cents)})"
        for (activity, words), cents in invoiced.items()
    ]


def _confirmed(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    lines = [t._("Réservation confirmée :")]
    lines += ["✓ " + item_line(t, item) for item in data["items"]]
    lines += billing_lines(t, data["items"])
    return Rendered(t._("Réservation confirmée"), "\n".join(lines))


def _cancelled(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    lines = [t._("Réservation annulée :")]
    lines += ["✕ " + item_line(t, item, price=False) for item in data["items"]]
    lines += _refund_lines(t, data)
    return Rendered(t._("Réservation annulée"), "\n".join(lines))


def _refund_lines(t: Translator, data: Mapping[str, Any]) -> list[str]:
    """Where the money went: the card, the porte-monnaie, the coupons."""
    words = refund_text(
        t,
        int(data.get("refund_cents") or 0),
        int(data.get("refund_coupons") or 0),
        to_card=bool(data.get("to_card")),
    )
    return [words] if words else []


def _session_cancelled(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    day = t.day(date.fromisoformat(data["day"]))
    lines = [
        t._(
            "La mairie a annulé {activity} du {day}.",
            activity=data["activity"],
            day=day,
        ),
        t._("Enfants concernés : {names}", names=", ".join(data["participants"])),
    ]
    if data.get("reason"):
        lines.append(t._("Motif : {reason}", reason=data["reason"]))
    lines += _refund_lines(t, data)
    return Rendered(t._("Séance annulée par la mairie"), "\n".join(lines))


def _payment(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    amount = t.money(data["amount_cents"])
    state = data["state"]
    if state == "paid" and data.get("again"):
        return Rendered(
            t._("Votre reçu n° {number}", number=data.get("receipt") or ""),
            "\n".join(receipt_lines(t, data, tz)),
        )
    if state == "paid":
        lines = [t._("Paiement reçu, merci !"), *receipt_lines(t, data, tz)]
        return Rendered(
            t._("Paiement reçu — reçu n° {number}", number=data.get("receipt") or ""),
            "\n".join(lines),
        )
    if state == "refused":
        lines = [t._("Le paiement de {amount} a été refusé.", amount=amount)]
    elif state == "abandoned":
        lines = [t._("Le paiement de {amount} a été annulé.", amount=amount)]
    else:
        lines = [t._("Le délai de paiement de {amount} est dépassé.", amount=amount)]
    link = None
    if data.get("kept") and data.get("retry_token"):
        lines.append(
            t._(
                "Rien n'a été payé. Les places restent gardées pour vous jusqu'à {time} :",
                time=_time(t, data["held_until"], tz),
            )
        )
        lines += ["• " + item_line(t, item) for item in data["kept"]]
        lines.append(t._("Réessayez le paiement avant cette heure, sinon elles seront libérées."))
        link = Link(
            t._("Réessayer le paiement ({amount})", amount=t.money(data["retry_amount_cents"])),
            f"{public_url}/pay/{data['retry_token']}",
        )
    if data.get("released"):
        lines.append(t._("Les places sont libérées :"))
        lines += ["• " + item_line(t, item) for item in data["released"]]
        lines.append(t._("Vous pouvez réserver à nouveau si des places restent."))
    return Rendered(t._("Paiement non abouti"), "\n".join(lines), link=link)


def _basket_expiring(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    text = t.n_(
        "Votre panier ({count} séance) expire à {time}. Confirmez-le pour garder la place.",
        "Votre panier ({count} séances) expire à {time}. Confirmez-le pour garder les places.",
        data["count"],
        time=_time(t, data["held_until"], tz),
    )
    buttons = [[Button(t._("Récapitulatif et confirmation"), standing_payload("recap"))]]
    return Rendered(t._("Votre panier expire bientôt"), text, buttons=buttons)


def _waitlist_offer(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    line = item_line(t, data)
    if data["state"] == "confirmed":
        text = t._("Une place s'est libérée : {line} est confirmé.", line=line)
        billing = billing_lines(t, [data])
        if billing:
            text += "\n" + "\n".join(billing)
        return Rendered(t._("Place obtenue sur la liste d'attente"), text)
    until = _time(t, data["held_until"], tz) if data.get("held_until") else ""
    until_day = (
        t.day(datetime.fromisoformat(data["held_until"]).astimezone(tz).date())
        if data.get("held_until")
        else ""
    )
    if data.get("pay_token"):
        text = t._(
            "Une place s'est libérée : {line}. Elle vous est gardée jusqu'au {day} à {time} : "
            "payez pour la confirmer, sinon elle ira à la famille suivante.",
            line=line,
            day=until_day,
            time=until,
        )
        return Rendered(t._("Une place s'est libérée"), text, link=_pay_link(t, data, public_url))
    text = t._(
        "Une place s'est libérée : {line}. Elle vous est gardée jusqu'au {day} à {time} : "
        "confirmez votre panier pour la garder.",
        line=line,
        day=until_day,
        time=until,
    )
    buttons = [[Button(t._("Récapitulatif et confirmation"), standing_payload("recap"))]]
    return Rendered(t._("Une place s'est libérée"), text, buttons=buttons)


def _reminder(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    day = t.day(date.fromisoformat(data["day"]))
    lines = [t._("Rappel pour demain, {day} :", day=day)]
    buttons = []
    for item in data["items"]:
        starts = _time(t, item["starts_at"], tz)
        lines.append(f"• {starts} {item['participant']} — {item['activity']}")
        if item.get("cancellable"):
            buttons.append(
                [
                    Button(
                        t._(
                            "Annuler : {name}, {activity}",
                            name=item["participant"],
                            activity=item["activity"],
                        ),
                        standing_payload("cancel", item["booking_id"]),
                    )
                ]
            )
    return Rendered(t._("Rappel : vos réservations de demain"), "\n".join(lines), buttons=buttons)


def _payment_reminder(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    text = t._(
        "Un paiement de {amount} vous attend ; le lien est valable jusqu'à {time}.",
        amount=t.money(data["amount_cents"]),
        time=_time(t, data["expires_at"], tz),
    )
    return Rendered(t._("Paiement en attente"), text, link=_pay_link(t, data, public_url))


EVENT_WORDS = {
    "confirmed": N_("réservé"),
    "cancelled": N_("annulé"),
    "cancelled_by_town": N_("annulé par la mairie"),
    "waitlisted": N_("en liste d'attente"),
    "waitlist_promoted": N_("place obtenue"),
    "expired": N_("non confirmé à temps"),
    "refunded": N_("remboursé"),
}


def _daily_report(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    day = t.day(date.fromisoformat(data["day"]))
    lines = [t._("Compte rendu du {day} : les mouvements de la journée.", day=day)]
    by_activity: dict[str, list[Mapping[str, Any]]] = {}
    for movement in data["movements"]:
        by_activity.setdefault(movement["activity"], []).append(movement)
    for activity, movements in by_activity.items():
        lines.append("")
        lines.append(activity)
        for movement in movements:
            what = t._(EVENT_WORDS.get(movement["event"], movement["event"]))
            lines.append(
                f"• {movement['participant']} — "
                f"{t.day(date.fromisoformat(movement['day']))} — {what}"
            )
    return Rendered(t._("Compte rendu du {day}", day=day), "\n".join(lines))


#: Where the one-time account links lead (bot/web/account_pages.py serves them).
RESET_PATH = "/mot-de-passe"
EMAIL_PATH = "/adresse-e-mail"


def account_link(public_url: str, path: str, token: str, locale: str) -> str:
    """A one-time link's address; its page speaks the recipient's language."""
    return f"{public_url}{path}/{token}" + ("?lang=en" if locale == "en" else "")


def _password_reset(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    text = t._(
        "Bonjour {name},\n\nUn nouveau mot de passe a été demandé pour votre compte famille "
        "(identifiant : {login}). Choisissez-le avec le lien ci-dessous : il sert une seule "
        "fois, pendant 30 minutes.\n\nSi vous n'avez rien demandé, ignorez ce message : votre "
        "mot de passe ne change pas.",
        name=data.get("name", ""),
        login=data.get("login", ""),
    )
    link = Link(
        t._("Choisir un nouveau mot de passe"),
        account_link(public_url, RESET_PATH, data.get("token", ""), t.locale),
    )
    return Rendered(t._("Choisir un nouveau mot de passe"), text, link=link)


def _email_change(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    text = t._(
        "Bonjour,\n\n{name} a demandé que son compte famille reçoive désormais ses messages "
        "à : {addresses}.\nPour confirmer, ouvrez le lien ci-dessous dans les 24 heures ; "
        "sans confirmation, rien ne change.\n\nSi vous ne connaissez pas cette demande, "
        "ignorez ce message.",
        name=data.get("name", ""),
        addresses=", ".join(data.get("emails", [])),
    )
    link = Link(
        t._("Confirmer l'adresse e-mail"),
        account_link(public_url, EMAIL_PATH, data.get("token", ""), t.locale),
    )
    return Rendered(t._("Confirmez votre adresse e-mail"), text, link=link)


def _email_change_notice(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    text = t._(
        "Bonjour,\n\n{name} a demandé que votre compte famille reçoive désormais ses "
        "messages à : {addresses}.\nLe changement ne s'appliquera que si le lien envoyé à "
        "cette adresse est ouvert.\n\nSi vous n'êtes pas à l'origine de cette demande, "
        "changez votre mot de passe (« mon compte » dans le chat) et prévenez la mairie.",
        name=data.get("name", ""),
        addresses=", ".join(data.get("emails", [])),
    )
    return Rendered(t._("Changement d'adresse e-mail demandé"), text)


def _dossier_decided(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    name = data.get("participant", "")
    if data.get("approved"):
        text = t._("Le dossier de {name} est validé : vous pouvez réserver.", name=name)
        return Rendered(t._("Dossier de {name} validé", name=name), text)
    text = t._(
        "La mairie n'a pas validé le dossier de {name}. Motif : {reason}",
        name=name,
        reason=data.get("reason") or "",
    )
    return Rendered(t._("Dossier de {name} à compléter", name=name), text)


def _enrolment_decided(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    name, activity = data.get("participant", ""), data.get("activity", "")
    if data.get("approved"):
        text = t._(
            "L'inscription de {name} à {activity} est acceptée : vous pouvez réserver.",
            name=name,
            activity=activity,
        )
        return Rendered(t._("Inscription acceptée"), text)
    text = t._(
        "L'inscription de {name} à {activity} n'a pas été acceptée. Motif : {reason}",
        name=name,
        activity=activity,
        reason=data.get("reason") or "",
    )
    return Rendered(t._("Inscription refusée"), text)


def _staff_message(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    """The staff's own words, untranslated, in a translated frame."""
    subject = data.get("subject") or t._("Message de la mairie")
    head = t._(
        "Message de la mairie ({town}) : {subject}", town=data.get("town", ""), subject=subject
    )
    return Rendered(subject, f"{head}\n\n{data.get('text', '')}")


def _invoice_issued(data, t, tz, public_url) -> Rendered:  # noqa: ANN001
    """A monthly invoice (or a credit note): its number, month and amount; the balance in
    the chat lists it with its PDF."""
    month = t.month(date(int(data["year"]), int(data["month"]), 1))
    amount = t.money(abs(int(data["amount_cents"])))
    if data.get("kind") == "credit_note":
        subject = t._("Avoir n° {number}", number=data["number"])
        text = t._(
            "La mairie a émis l'avoir n° {number} de {amount} sur votre facture de {month} : "
            "il est déduit de ce que vous devez.",
            number=data["number"],
            amount=amount,
            month=month,
        )
    else:
        subject = t._("Facture n° {number} — {month}", number=data["number"], month=month)
        text = t._(
            "Votre facture de {month} est prête : n° {number}, {amount}, à régler à la mairie.",
            number=data["number"],
            amount=amount,
            month=month,
        )
    text += "\n" + t._("Retrouvez-la en PDF dans « mon solde ».")
    buttons = [[Button(t._("Voir mon solde et mes factures"), standing_payload("balance"))]]
    return Rendered(subject, text, buttons=buttons)


_RENDERERS = {
    NoticeKind.BOOKING_CONFIRMED: _confirmed,
    NoticeKind.BOOKING_CANCELLED: _cancelled,
    NoticeKind.SESSION_CANCELLED: _session_cancelled,
    NoticeKind.PAYMENT_RESULT: _payment,
    NoticeKind.BASKET_EXPIRING: _basket_expiring,
    NoticeKind.WAITLIST_OFFER: _waitlist_offer,
    NoticeKind.REMINDER: _reminder,
    NoticeKind.PAYMENT_REMINDER: _payment_reminder,
    NoticeKind.DAILY_REPORT: _daily_report,
    NoticeKind.INVOICE_ISSUED: _invoice_issued,
    NoticeKind.PASSWORD_RESET: _password_reset,
    NoticeKind.EMAIL_CHANGE: _email_change,
    NoticeKind.EMAIL_CHANGE_NOTICE: _email_change_notice,
    NoticeKind.STAFF_MESSAGE: _staff_message,
    NoticeKind.DOSSIER_DECIDED: _dossier_decided,
    NoticeKind.ENROLMENT_DECIDED: _enrolment_decided,
}

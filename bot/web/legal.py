"""The terms of use (/cgu) and the privacy notice (/confidentialite) asked for at first login:
short pages readable on a phone, in French, or in English with ?lang=en or the browser's
language."""

from __future__ import annotations

import html
from dataclasses import dataclass

from aiohttp import web

from booking.services.conversations import KEEP_MESSAGES
from bot.web.chat_api import COOKIE

TERMS_PATH = "/cgu"
PRIVACY_PATH = "/confidentialite"
COOKIE_DAYS = 180  # the chat cookie's max_age (bot/web/chat_api.py)
HISTORY_DAYS = KEEP_MESSAGES.days


@dataclass(frozen=True)
class Page:
    title: str
    intro: str
    sections: list[tuple[str, list[str]]]


CHROME = {
    "fr": {
        "back": "Revenir à la conversation",
        "other_language": "English version",
        "other_lang": "en",
        "terms": "Conditions d'utilisation",
        "privacy": "Notice de confidentialité",
        "nav": "Pages",
    },
    "en": {
        "back": "Back to the conversation",
        "other_language": "Version française",
        "other_lang": "fr",
        "terms": "Terms of use",
        "privacy": "Privacy notice",
        "nav": "Pages",
    },
}

TERMS = {
    "fr": Page(
        "Conditions d'utilisation",
        "Ribambelle est l'assistant de réservation des services enfance de votre mairie "
        "(cantine, accueil périscolaire, centre de loisirs, sport, séjours), dans le chat du "
        "site et dans Telegram. En l'utilisant avec votre compte famille, vous acceptez les "
        "conditions ci-dessous.",
        [
            (
                "Votre compte",
                [
                    "La mairie vous remet un identifiant et un mot de passe provisoire ; vous "
                    "choisissez votre propre mot de passe à la première connexion. Gardez-le "
                    "pour vous : ce qui est fait avec votre compte est réputé fait par vous.",
                    "Sur une tablette ou un ordinateur partagé, déconnectez-vous en partant "
                    "(« Se déconnecter ») : la conversation est alors vidée.",
                ],
            ),
            (
                "Réservations et annulations",
                [
                    "Chaque activité a ses règles : âge, inscription préalable, dossier "
                    "complet, places, délai de réservation et délai d'annulation. Une "
                    "réservation est ferme quand le chat l'annonce confirmée ; un jour ajouté "
                    "au panier est seulement retenu, pendant le temps indiqué.",
                    "Vous pouvez annuler jusqu'au délai d'annulation de l'activité ; après, le "
                    "jour reste dû. Quand une séance complète a une liste d'attente, la place "
                    "libérée va au premier inscrit, qui est prévenu aussitôt.",
                ],
            ),
            (
                "Paiement",
                [
                    "Selon l'activité, vous payez en ligne par carte (sur la page sécurisée du "
                    "prestataire de paiement de la mairie), avec le porte-monnaie ou les "
                    "coupons du compte famille, ou sur facture. Un reçu est envoyé dans la "
                    "conversation après chaque paiement.",
                ],
            ),
            (
                "Disponibilité et responsabilité",
                [
                    "La mairie fait de son mieux pour que le service fonctionne en "
                    "permanence, mais il peut être interrompu (maintenance, panne). Les "
                    "informations de votre dossier doivent être exactes : signalez tout "
                    "changement à la mairie.",
                ],
            ),
            (
                "Données personnelles",
                [
                    "Ce que nous faisons de vos données est décrit dans la notice de "
                    "confidentialité.",
                ],
            ),
            (
                "Modifications",
                [
                    "Si ces conditions changent, elles vous sont présentées à nouveau et "
                    "vous êtes invité à les accepter à la connexion suivante. Le droit "
                    "français s'applique.",
                ],
            ),
        ],
    ),
    "en": Page(
        "Terms of use",
        "Ribambelle is your town hall's booking assistant for children's services (school "
        "meals, before and after school care, leisure centre, sport, holiday stays), in the "
        "website's chat and in Telegram. By using it with your family account, you accept "
        "the terms below.",
        [
            (
                "Your account",
                [
                    "The town hall gives you a login and a temporary password; you choose "
                    "your own password at your first login. Keep it to yourself: what is "
                    "done with your account is deemed done by you.",
                    "On a shared tablet or computer, log out when you leave (\u201cLog "
                    "out\u201d): the conversation is then cleared.",
                ],
            ),
            (
                "Bookings and cancellations",
                [
                    "Each activity has its rules: age, prior enrolment, a complete file, "
                    "places, booking deadline and cancellation deadline. A booking is firm "
                    "when the chat says it is confirmed; a day added to the basket is only "
                    "held, for the time shown.",
                    "You can cancel until the activity's cancellation deadline; after it, "
                    "the day is due. When a full session has a waiting list, a freed place "
                    "goes to the first in line, who is told at once.",
                ],
            ),
            (
                "Payment",
                [
                    "Depending on the activity, you pay online by card (on the secure page "
                    "of the town hall's payment provider), from the family account's wallet "
                    "or coupons, or on invoice. A receipt is sent to the conversation after "
                    "each payment.",
                ],
            ),
            (
                "Availability and responsibility",
                [
                    "The town hall does its best to keep the service running, but it may be "
                    "interrupted (maintenance, outage). The information in your file must "
                    "be accurate: tell the town hall about any change.",
                ],
            ),
            (
                "Personal data",
                ["What we do with your data is described in the privacy notice."],
            ),
            (
                "Changes",
                [
                    "If these terms change, they are shown to you again and you are asked "
                    "to accept them at your next login. French law applies.",
                ],
            ),
        ],
    ),
}

PRIVACY = {
    "fr": Page(
        "Notice de confidentialité",
        "Cette notice explique quelles données personnelles Ribambelle utilise, pourquoi, "
        "combien de temps, et comment exercer vos droits (règlement général sur la protection "
        "des données, RGPD).",
        [
            (
                "Qui est responsable",
                [
                    "La mairie (la collectivité qui vous a ouvert un compte famille) est "
                    "responsable du traitement. Pour toute question, adressez-vous à la "
                    "mairie ou à son délégué à la protection des données.",
                ],
            ),
            (
                "Pourquoi",
                [
                    "Pour gérer les inscriptions, les réservations, les annulations, les "
                    "listes d'attente, les paiements, la facturation et les messages qui s'y "
                    "rapportent (confirmations, rappels, reçus), dans le cadre de la mission "
                    "de service public de la mairie.",
                ],
            ),
            (
                "Quelles données",
                [
                    "Le compte famille et ses responsables (nom, identifiant, coordonnées, "
                    "langue), les enfants (prénom, nom, date de naissance, dossier, "
                    "inscriptions), le quotient familial quand le tarif en dépend, les "
                    "réservations et leurs mouvements, les paiements et les reçus, et les "
                    "messages de la conversation. Votre mot de passe n'est jamais conservé "
                    "en clair ni affiché.",
                ],
            ),
            (
                "Qui les reçoit",
                [
                    "Les services de la mairie qui organisent les activités ; le prestataire "
                    "de paiement pour les paiements par carte ; Telegram, seulement si vous "
                    "choisissez d'y continuer la conversation. Vos données ne sont ni vendues "
                    "ni utilisées pour de la publicité.",
                ],
            ),
            (
                "Combien de temps",
                [
                    "Le compte famille et les réservations : le temps de la scolarité et de "
                    "l'utilisation des services, puis le temps prévu par les règles de la "
                    "comptabilité publique pour les factures et les paiements.",
                    f"Les messages de la conversation : {HISTORY_DAYS} jours, pour les "
                    "retrouver en rouvrant la page ; ils ne sont plus montrés après une "
                    "déconnexion.",
                    "Les conversations, les notifications et les messages qui vous ont été "
                    "envoyés : effacés 13 mois après (durée réglée par la mairie).",
                ],
            ),
            (
                "Cookie",
                [
                    f"Le chat dépose un seul cookie, « {COOKIE} », nécessaire à son "
                    "fonctionnement : il retrouve votre conversation et n'est lisible que "
                    f"par le site ({COOKIE_DAYS} jours). Aucun cookie de mesure d'audience "
                    "ni de publicité.",
                ],
            ),
            (
                "Vos droits",
                [
                    "Vous pouvez accéder à vos données, les faire rectifier ou effacer, "
                    "limiter leur utilisation ou vous y opposer, en écrivant à la mairie. Si "
                    "vous estimez que vos droits ne sont pas respectés, vous pouvez saisir la "
                    "CNIL (www.cnil.fr).",
                    "Pour recevoir toutes les données de votre compte famille dans un "
                    "fichier, écrivez « mes données » dans le chat.",
                ],
            ),
        ],
    ),
    "en": Page(
        "Privacy notice",
        "This notice explains which personal data Ribambelle uses, why, for how long, and "
        "how to exercise your rights (General Data Protection Regulation, GDPR).",
        [
            (
                "Who is responsible",
                [
                    "The town hall (the local authority that opened your family account) is "
                    "the data controller. For any question, contact the town hall or its "
                    "data protection officer.",
                ],
            ),
            (
                "Why",
                [
                    "To manage enrolments, bookings, cancellations, waiting lists, payments, "
                    "invoicing and the messages about them (confirmations, reminders, "
                    "receipts), as part of the town hall's public service mission.",
                ],
            ),
            (
                "Which data",
                [
                    "The family account and its guardians (name, login, contact details, "
                    "language), the children (first name, surname, date of birth, file, "
                    "enrolments), the family quotient when the price depends on it, bookings "
                    "and their history, payments and receipts, and the conversation's "
                    "messages. Your password is never kept in clear nor shown.",
                ],
            ),
            (
                "Who receives them",
                [
                    "The town hall's services that run the activities; the payment provider "
                    "for card payments; Telegram, only if you choose to continue the "
                    "conversation there. Your data is neither sold nor used for advertising.",
                ],
            ),
            (
                "How long",
                [
                    "The family account and bookings: for as long as the children are at "
                    "school and use the services, then for the time public accounting rules "
                    "require for invoices and payments.",
                    f"The conversation's messages: {HISTORY_DAYS} days, to find them again "
                    "when you reopen the page; they are no longer shown after a logout.",
                    "Conversations, notifications and the messages sent to you: erased 13 "
                    "months later (a period the town hall sets).",
                ],
            ),
            (
                "Cookie",
                [
                    f"The chat sets a single cookie, \u201c{COOKIE}\u201d, needed for it to "
                    "work: it finds your conversation again and only the site can read it "
                    f"({COOKIE_DAYS} days). No audience measurement or advertising cookie.",
                ],
            ),
            (
                "Your rights",
                [
                    "You can access your data, have it corrected or erased, restrict its use "
                    "or object to it, by writing to the town hall. If you think your rights "
                    "are not respected, you can complain to the CNIL (www.cnil.fr).",
                    "To receive all the data of your family account in a file, write "
                    "\u201cmy data\u201d in the chat.",
                ],
            ),
        ],
    ),
}


def page_language(request: web.Request) -> str:
    """?lang=en or ?lang=fr first, then the browser's first language; French by default."""
    asked = request.query.get("lang", "")[:2].lower()
    if asked in ("fr", "en"):
        return asked
    first = request.headers.get("Accept-Language", "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "fr"


def render(page: Page, language: str, path: str) -> str:
    chrome = CHROME[language]
    escape = html.escape
    other = chrome["other_lang"]
    sections = "".join(
        f"<section><h2>{escape(heading)}</h2>"
        + "".join(f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs)
        + "</section>"
        for heading, paragraphs in page.sections
    )
    suffix = "?lang=en" if language == "en" else ""
    links = [(TERMS_PATH, chrome["terms"]), (PRIVACY_PATH, chrome["privacy"])]
    nav = "".join(
        f'<li><a href="{target}{suffix}"'
        + (' aria-current="page"' if target == path else "")
        + f">{escape(label)}</a></li>"
        for target, label in links
    )
    title, back, switch = (
        escape(page.title),
        escape(chrome["back"]),
        escape(chrome["other_language"]),
    )
    nav_label = escape(chrome["nav"])
    return f"""<!doctype html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{title} · Ribambelle</title>
<link rel="stylesheet" href="/static/legal.css">
</head>
<body>
<header>
<a class="back" href="/">{back}</a>
<a class="lang" href="{path}?lang={other}" hreflang="{other}" lang="{other}">{switch}</a>
</header>
<main>
<h1>{title}</h1>
<p class="intro">{escape(page.intro)}</p>
{sections}
</main>
<footer><nav aria-label="{nav_label}"><ul>{nav}</ul></nav></footer>
</body>
</html>
"""


def _responder(pages: dict[str, Page], path: str):  # noqa: ANN202
    async def show(request: web.Request) -> web.Response:
        language = page_language(request)
        response = web.Response(
            text=render(pages[language], language, path), content_type="text/html"
        )
        response.headers["Content-Language"] = language
        response.headers["Vary"] = "Accept-Language"
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    return show


def setup_legal_routes(app: web.Application) -> None:
    app.router.add_get(TERMS_PATH, _responder(TERMS, TERMS_PATH))
    app.router.add_get(PRIVACY_PATH, _responder(PRIVACY, PRIVACY_PATH))

"""What a message asks for: intent words and basket modifiers, French and English alike."""

from __future__ import annotations

import re
from functools import cache

from dialogs.understanding.text import fold

# Compared with folded text (lower case, no accents). The first intent in this order that the
# text contains wins ("annule ma réservation" is a cancellation, not a booking).
INTENT_WORDS: list[tuple[str, tuple[str, ...]]] = [
    (
        "devices",  # before logout: "déconnecter mes appareils" lists them, to pick one
        (
            "mes appareils connectes",
            "appareils connectes",
            "appareil connecte",
            "mes appareils",
            "my connected devices",
            "connected devices",
            "my devices",
        ),
    ),
    (
        "export_data",  # before book: "je veux mes données" asks for the download
        (
            "mes donnees",
            "mes donnees personnelles",
            "nos donnees",
            "donnees personnelles",
            "telecharger mes donnees",
            "exporter mes donnees",
            "export de mes donnees",
            "export rgpd",
            "rgpd",
            "my data",
            "my personal data",
            "personal data",
            "download my data",
            "download my personal data",
            "export my data",
            "export my personal data",
            "gdpr export",
            "gdpr",
        ),
    ),
    (
        "password_reset",  # before abandon: "mot de passe oublié" is no "oublie"
        (
            "mot de passe oublie",
            "oublie mon mot de passe",
            "oublie le mot de passe",
            "oublie mot de passe",
            "perdu mon mot de passe",
            "reinitialiser mon mot de passe",
            "reinitialiser le mot de passe",
            "forgot my password",
            "forgot password",
            "forgotten password",
            "lost my password",
            "reset my password",
            "reset password",
        ),
    ),
    (
        "change_password",
        (
            "changer mon mot de passe",
            "changer de mot de passe",
            "changer le mot de passe",
            "modifier mon mot de passe",
            "modifier le mot de passe",
            "change my password",
            "change password",
            "change the password",
            "update my password",
        ),
    ),
    (
        "change_email",
        (
            "changer mon e-mail",
            "changer mon email",
            "changer mon mail",
            "changer mon adresse e-mail",
            "changer mon adresse email",
            "changer mon adresse mail",
            "changer d adresse e-mail",
            "changer d adresse email",
            "changer d adresse mail",
            "changer les adresses e-mail",
            "changer mes adresses e-mail",
            "modifier mon e-mail",
            "modifier mon email",
            "modifier mon adresse e-mail",
            "modifier mon adresse email",
            "modifier mon adresse mail",
            "change my email",
            "change my e-mail",
            "change my email address",
            "change my e-mail address",
            "change the email addresses",
            "change the e-mail addresses",
            "update my email",
            "update my email address",
        ),
    ),
    ("logout", ("deconnexion", "deconnecter", "deconnecte", "log out", "logout", "sign out")),
    ("language_en", ("english", "in english", "anglais", "en anglais")),
    ("language_fr", ("francais", "french", "en francais", "in french")),
    (
        "help",
        (
            "aide",
            "aidez moi",
            "help",
            "comment ca marche",
            "au secours",
            "que sais tu faire",
            "what can you do",
            "?",
        ),
    ),
    (
        "abandon",
        (
            "abandon",
            "abandonner",
            "abandonne",
            "discard",
            "discard it",
            "laisse tomber",
            "laissez tomber",
            "oublie",
            "oubliez",
            "tant pis",
            "forget it",
            "never mind",
            "nevermind",
            "give up",
        ),
    ),
    (
        "cancel",
        (
            "annule",
            "annuler",
            "annulez",
            "annulation",
            "desinscri",
            "desinscris",
            "desinscrire",
            "decommande",
            "cancel",
            "unbook",
        ),
    ),
    (
        "pay_debt",
        (
            "payer ma dette",
            "payer ce que je dois",
            "regler ma dette",
            "regler ce que je dois",
            "regler mes factures",
            "payer mes factures",
            "pay my debt",
            "pay what i owe",
            "settle my debt",
        ),
    ),
    ("buy_coupons", ("acheter", "achete", "buy", "purchase")),
    ("top_up", ("recharger", "recharge", "crediter", "top up", "top-up", "add money")),
    (
        "receipts",  # before book and balance: "je veux mon reçu", "reçus de paiement"
        (
            "mes recus",
            "mon recu",
            "recu de paiement",
            "recu de mon paiement",
            "recu du paiement",
            "recus de paiement",
            "recus de mes paiements",
            "recu",
            "recus",
            "justificatif de paiement",
            "my receipts",
            "my receipt",
            "receipt",
            "receipts",
        ),
    ),
    (
        "notifications",
        ("notification", "notifications", "preferences", "mes alertes", "alerts", "settings"),
    ),
    (
        "bookings",
        (
            "mes reservations",
            "reservations",
            "my bookings",
            "bookings",
            "planning",
            "mon planning",
            "ce que j ai reserve",
            "qu est ce que j ai reserve",
            "j ai reserve",
            "ai je reserve",
            "what have i booked",
            "what did i book",
            "what s booked",
        ),
    ),
    (
        "balance",
        (
            "solde",
            "porte-monnaie",
            "porte monnaie",
            "historique",
            "coupons",
            "balance",
            "wallet",
            "history",
            "credit",
            "paiements",
            "payments",
        ),
    ),
    ("basket", ("panier", "basket", "recapitulatif", "recap", "cart")),
    (
        "login",
        ("connexion", "connecter", "se connecter", "identifier", "log in", "login", "sign in"),
    ),
    (
        "profile",  # after login ("me connecter à mon compte"), before book ("je veux…")
        (
            "mon compte",
            "mon compte famille",
            "mon profil",
            "profil",
            "my account",
            "my profile",
            "profile",
            "account settings",
        ),
    ),
    (
        "browse",
        (
            "quelles activites",
            "activites",
            "catalogue",
            "what activities",
            "activities",
            "programme",
        ),
    ),
    (
        "book",
        (
            "reserve",
            "reserver",
            "reservez",
            "reservation",
            "inscris",
            "inscrire",
            "inscrivez",
            "inscrit",
            "inscription",
            "book",
            "sign up",
            "enrol",
            "enroll",
            "register",
            "je voudrais",
            "je veux",
            "i want",
            "i would like",
            "i d like",
        ),
    ),
    ("menu", ("menu", "main menu", "home", "start", "/start", "bonjour", "salut", "hello", "hi")),
    (
        "back",
        ("retour", "revenir", "revenir en arriere", "en arriere", "back", "precedent", "go back"),
    ),
    (
        "confirm",
        (
            "confirme",
            "confirmer",
            "confirmez",
            "je confirme",
            "valide",
            "valider",
            "validez",
            "confirm",
            "ok",
            "okay",
            "oui",
            "yes",
            "yep",
            "d accord",
            "c est bon",
            "c est ok",
            "parfait",
            "go",
            "vas y",
            "allez y",
            "ca marche",
            "sounds good",
            "that s right",
            "correct",
            "👍",
            "✅",
            "👌",
        ),
    ),
    ("refuse", ("non", "no", "nope", "pas du tout", "👎")),
]

# Words that change the request being filled rather than start a new one.
MODIFIER_WORDS: list[tuple[str, tuple[str, ...]]] = [
    (
        "remove",
        (
            "enleve",
            "enlever",
            "enlevez",
            "retire",
            "retirer",
            "retirez",
            "supprime",
            "supprimer",
            "supprimez",
            "sans",
            "pas le",
            "remove",
            "take out",
            "drop",
            "delete",
            "without",
        ),
    ),
    (
        "add",
        (
            "ajoute",
            "ajouter",
            "ajoutez",
            "rajoute",
            "rajouter",
            "aussi",
            "egalement",
            "en plus",
            "add",
            "also",
            "as well",
            "too",
            "plus",
        ),
    ),
    ("replace", ("plutot", "finalement", "en fait", "instead", "rather", "actually")),
]


def _phrase_pattern(phrase: str) -> str:
    if not phrase[0].isalnum() and phrase not in ("/start",):
        return re.escape(phrase)  # an emoji
    body = re.escape(phrase).replace(r"\ ", r"[\s']+")
    return rf"(?<![\w-]){body}(?![\w-])"


@cache
def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation per intent, longest phrases first."""
    ordered = sorted((p for p in phrases if p != "?"), key=len, reverse=True)
    return re.compile("|".join(_phrase_pattern(phrase) for phrase in ordered))


def _spans(folded: str, phrases: tuple[str, ...]) -> list[tuple[int, int]]:
    spans = [match.span() for match in _pattern(phrases).finditer(folded)]
    if "?" in phrases and folded.strip() == "?":
        spans.append((0, len(folded)))
    return spans


def find_intent(folded: str) -> tuple[str | None, list[tuple[int, int]]]:
    """The message's intent and the spans (in `folded`) of every intent word it holds."""
    intent = None
    spans: list[tuple[int, int]] = []
    for name, phrases in INTENT_WORDS:
        found = _spans(folded, phrases)
        if found:
            intent = intent or name
            spans += found
    return intent, spans


def find_modifier(folded: str) -> tuple[str | None, list[tuple[int, int]]]:
    for name, phrases in MODIFIER_WORDS:
        found = _spans(folded, phrases)
        if found:
            return name, found
    return None, []


def intent_of(text: str) -> str | None:

    return find_intent(fold(text))[0]

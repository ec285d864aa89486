"""Free-text understanding: what the parent asks for, which child, which activity, what age."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

# Intent keywords, French and English, compared without accents and in lower case.
# The first matching intent in this order wins ("annule ma réservation" is a cancellation).
INTENT_WORDS: list[tuple[str, tuple[str, ...]]] = [
    ("logout", ("deconnexion", "deconnecter", "deconnecte", "log out", "logout", "sign out")),
    ("language_en", ("english", "in english", "anglais")),
    ("language_fr", ("francais", "french", "en francais")),
    ("help", ("aide", "help", "comment ca marche", "au secours", "?")),
    ("cancel", ("annule", "annuler", "annulation", "desinscri", "cancel", "unbook")),
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
    ("buy_coupons", ("acheter", "buy", "purchase")),
    ("top_up", ("recharger", "recharge", "crediter", "top up", "top-up", "add money")),
    (
        "notifications",
        ("notification", "notifications", "preferences", "mes alertes", "alerts", "settings"),
    ),
    ("bookings", ("mes reservations", "reservations", "my bookings", "bookings", "planning")),
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
    ("basket", ("panier", "basket", "recapitulatif", "recap")),
    (
        "login",
        ("connexion", "connecter", "se connecter", "identifier", "log in", "login", "sign in"),
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
            "reservation",
            "inscris",
            "inscrire",
            "inscription",
            "book",
            "sign up",
            "enrol",
            "enroll",
            "register",
        ),
    ),
    ("menu", ("menu", "main menu", "home", "start", "/start", "bonjour", "salut", "hello", "hi")),
    ("back", ("retour", "back", "precedent")),
    ("confirm", ("confirme", "confirmer", "valide", "valider", "confirm", "ok", "oui", "yes")),
    ("abandon", ("abandon", "abandonner", "laisse tomber", "non", "no", "stop")),
]

# Words that point at a category of activity (matched against each activity's category).
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "restauration": (
        "cantine",
        "repas",
        "restauration",
        "midi",
        "dejeuner",
        "canteen",
        "lunch",
        "meal",
        "meals",
        "school meal",
    ),
    "periscolaire": (
        "garderie",
        "periscolaire",
        "accueil du matin",
        "accueil du soir",
        "after-school",
        "after school",
        "before-school",
        "childcare",
    ),
    "alsh": (
        "centre de loisirs",
        "alsh",
        "loisirs",
        "accueil de loisirs",
        "leisure",
        "leisure centre",
        "mercredis loisirs",
    ),
    "ems": (
        "ecole des sports",
        "ecole municipale des sports",
        "ems",
        "sports school",
        "multisport",
    ),
    "sejour": (
        "sejour",
        "stage",
        "ete",
        "vacances d'ete",
        "summer",
        "camp",
        "semaine d'ete",
        "summer week",
    ),
    "sport": ("escalade", "climbing", "famille", "family", "sport en famille"),
}

# Words of activity names that say nothing about which activity is meant.
NAME_STOPWORDS = {
    "accueil",
    "de",
    "du",
    "des",
    "la",
    "le",
    "les",
    "en",
    "et",
    "ans",
    "a",
    "au",
    "aux",
    "lundi",
    "mardi",
    "mercredi",
    "mercredis",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "the",
    "and",
    "for",
    "of",
    "ecole",
}

_AGE = re.compile(r"\b(\d{1,2})\s*(?:ans|an|years?|yo|year-old|years-old)\b")


def fold(text: str) -> str:
    """Lower case, without accents, apostrophes unified, spaces collapsed."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"\s+", " ", text).strip()


def _contains(haystack: str, phrase: str) -> bool:
    if phrase == "?":
        return haystack.strip() == "?"
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", haystack) is not None


def intent_of(text: str) -> str | None:
    folded = fold(text)
    for intent, words in INTENT_WORDS:
        if any(_contains(folded, word) for word in words):
            return intent
    return None


@dataclass(frozen=True)
class Named:
    id: int
    name: str
    category: str = ""


@dataclass
class Understood:
    intent: str | None
    child_ids: list[int] = field(default_factory=list)
    activity_ids: list[int] = field(default_factory=list)
    age: int | None = None


def children_named(text: str, children: Sequence[Named]) -> list[int]:
    folded = fold(text)
    return [child.id for child in children if _contains(folded, fold(child.name))]


_AGE_RANGE = re.compile(r"\s*\b\d+-\d+(?:\s*ans)?\b")


def _name_phrases(name: str) -> list[str]:
    """An activity's name as a parent may write it: whole, or without its age range."""
    folded = fold(name)
    core = _AGE_RANGE.sub("", folded).strip()
    return [phrase for phrase in dict.fromkeys((folded, core)) if len(phrase.split()) >= 2]


def without_activity_names(text: str, activities: Sequence[Named]) -> str:
    """The text without the activity names it contains, so that "Mercredis loisirs" is not
    read as a date ("inscris Léa aux mercredis loisirs le 24 mars")."""
    folded = fold(text)
    for activity in activities:
        for phrase in _name_phrases(activity.name):
            folded = re.sub(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", " ", folded)
    return re.sub(r"\s+", " ", folded).strip()


def activities_named(text: str, activities: Sequence[Named]) -> list[int]:
    """The activities the text points at, best matches only (several when it is ambiguous)."""
    folded = fold(text)
    scores: dict[int, int] = {}
    for activity in activities:
        # A name written out in full ("mercredis loisirs") beats words shared with others.
        score = 3 * any(_contains(folded, phrase) for phrase in _name_phrases(activity.name))
        name_words = {w for w in re.findall(r"[\w-]+", fold(activity.name)) if len(w) > 2}
        for word in name_words - NAME_STOPWORDS:
            if _contains(folded, word):
                score += 2
        for phrase in CATEGORY_WORDS.get(activity.category, ()):
            if _contains(folded, phrase):
                score += 1
        # "3-6 ans" / "6-12 ans" in a name: a number written in the text singles it out
        for age_range in re.findall(r"\d+-\d+", fold(activity.name)):
            if age_range in folded:
                score += 2
        if score:
            scores[activity.id] = score
    if not scores:
        return []
    best = max(scores.values())
    return [activity_id for activity_id, score in scores.items() if score == best]


def age_in(text: str) -> int | None:
    match = _AGE.search(fold(text))
    return int(match.group(1)) if match else None


def understand(
    text: str, *, children: Sequence[Named] = (), activities: Sequence[Named] = ()
) -> Understood:
    return Understood(
        intent=intent_of(text),
        child_ids=children_named(text, children),
        activity_ids=activities_named(text, activities),
        age=age_in(text),
    )

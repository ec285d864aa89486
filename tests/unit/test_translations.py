"""The English catalogue against the source: complete, not fuzzy, same placeholders, compiled."""

from __future__ import annotations

import re
from pathlib import Path
from string import Formatter

import pytest
from babel.messages import frontend
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dialogs.i18n import DOMAIN, LOCALES_DIR, Translator
from dialogs.understanding import understand
from tests.corpus.town import corpus_context

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "babel.cfg"
ENGLISH_PO = LOCALES_DIR / "en" / "LC_MESSAGES" / f"{DOMAIN}.po"
# The same keywords as `make extract` (--no-default-keywords -k _ -k n_:1,2 -k N_).
KEYWORDS = {"_": None, "n_": (1, 2), "N_": None}
REFRESH = "run `make extract`, translate the new or fuzzy entries of the .po, then `make install`"

# Phrases quoted in messages that the engine does not understand yet, in either language:
# a recurring weekday without a period ("tous les mercredis") gives no date (dialogs/dates.py).
KNOWN_NOT_UNDERSTOOD = {"tous les mercredis", "every Wednesday"}
QUOTED = re.compile(r"«\s*([^»]+?)\s*»|“([^”]+)”")


@pytest.fixture(scope="module")
def source() -> Catalog:
    """What `make extract` would write to locales/ribambelle.pot today."""
    parse_mapping = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with MAPPING.open(encoding="utf-8") as mapping:
        method_map, options_map = parse_mapping(mapping)
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


@pytest.fixture(scope="module")
def english() -> Catalog:
    with ENGLISH_PO.open("rb") as po:
        return read_po(po, locale="en", domain=DOMAIN)


def messages(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


def singular(message: Message) -> str:
    return message.id[0] if message.pluralizable else message.id


def translations(message: Message) -> list[str]:
    return list(message.string) if message.pluralizable else [message.string]


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def test_the_source_has_messages_to_translate(source: Catalog) -> None:
    assert len(messages(source)) > 100, "babel.cfg or the keywords no longer find the strings"


def test_every_source_message_is_in_the_english_catalogue(
    source: Catalog, english: Catalog
) -> None:
    missing = [
        singular(message)
        for message in messages(source)
        if english.get(message.id, message.context) is None
        or english.get(message.id, message.context).id != message.id
    ]
    assert missing == [], f"not in {ENGLISH_PO.name}: {REFRESH}"


def test_the_english_catalogue_has_no_entry_the_source_dropped(
    source: Catalog, english: Catalog
) -> None:
    stale = [
        singular(message)
        for message in messages(english)
        if source.get(message.id, message.context) is None
    ]
    assert stale == [], f"no longer in the source: {REFRESH}"


def test_no_english_entry_is_fuzzy_or_empty(english: Catalog) -> None:
    assert not english.fuzzy, "the header is fuzzy: pybabel compile would skip the catalogue"
    fuzzy = [singular(message) for message in messages(english) if message.fuzzy]
    empty = [
        singular(message)
        for message in messages(english)
        if not all(text.strip() for text in translations(message))
    ]
    assert (fuzzy, empty) == ([], []), f"fuzzy or untranslated entries: {REFRESH}"


def test_english_plurals_have_one_and_other(english: Catalog) -> None:
    assert english.num_plurals == 2
    assert english.plural_expr.replace(" ", "") == "(n!=1)"
    wrong = [
        singular(message)
        for message in messages(english)
        if message.pluralizable and len(message.string) != 2
    ]
    assert wrong == []


def test_translations_keep_exactly_the_placeholders_of_the_source(english: Catalog) -> None:
    differences = []
    for message in messages(english):
        ids = message.id if message.pluralizable else (message.id,)
        expected = set().union(*(fields(text) for text in ids))
        for text in translations(message):
            try:
                found = fields(text)
            except ValueError as error:  # a lone brace: str.format would fail at run time
                differences.append(f"{text!r}: {error}")
                continue
            if found != expected:
                differences.append(f"{text!r} has {sorted(found)}, expected {sorted(expected)}")
    assert differences == []


def test_the_compiled_catalogue_is_loaded_by_the_translator() -> None:
    assert (
        Translator("en")._("C'est noté, je vous parle en français.")
        == "All right, I'll speak English."
    ), "locales/en/LC_MESSAGES/ribambelle.mo is missing: run `make install`"
    assert Translator("en-GB").n_("{count} coupon", "{count} coupons", 3) == "3 coupons"
    assert Translator("fr")._("Votre panier est vide.") == "Votre panier est vide."


def test_the_compiled_catalogue_matches_the_po_file(english: Catalog) -> None:
    t = Translator("en")
    outdated = []
    for message in messages(english):
        if message.pluralizable:
            params = {name: "X" for name in fields(message.id[0]) | fields(message.id[1])}
            params.pop("count", None)
            got = [t.n_(*message.id, count, **params) for count in (1, 2)]
            one, other = message.string
            wanted = [one.format(count=1, **params), other.format(count=2, **params)]
        else:
            got, wanted = t._(message.id), message.string
        if got != wanted:
            outdated.append(singular(message))
    assert outdated == [], "the .mo is older than the .po: run `make install`"


def understood(phrase: str, locale: str) -> bool:
    """The phrase means something to the understanding layer, and nothing in it is left over
    (the demo household and town, as the corpus reads them)."""
    now, children, catalogue = corpus_context()
    frame = understand(phrase, now=now, locale=locale, children=children, catalogue=catalogue)
    meaningful = frame.intent or frame.modifier or frame.has_request_content or frame.age
    return bool(meaningful) and not frame.unplaced


def staff_only(message: Message) -> bool:
    """Shown only to the town's staff (the back office): its quotes are not for the chat."""
    return bool(message.locations) and all(
        path.startswith("bot/staff/") for path, _line in message.locations
    )


def test_the_example_phrases_shown_to_parents_are_understood(english: Catalog) -> None:
    """Help and hints quote phrases to type: each must mean something to the engine."""
    not_understood = []
    for message in messages(english):
        if message.pluralizable or staff_only(message):
            continue
        for locale, text in (("fr", message.id), ("en", message.string)):
            for match in QUOTED.finditer(text):
                phrase = match.group(1) or match.group(2)
                if "{" in phrase or phrase in KNOWN_NOT_UNDERSTOOD:
                    continue
                if not understood(phrase, locale):
                    not_understood.append(f"{locale}: {phrase}")
    assert not_understood == []

"""Reading the corpus files: one `CorpusLine` per message, with its section and expected frame."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

CORPUS_DIR = Path(__file__).resolve().parent
LOCALES = ("fr", "en")
KEYS = {
    "say",
    "intent",
    "modifier",
    "children",
    "all_children",
    "unknown_child",
    "activities",
    "dates",
    "ambiguous",
    "invalid",
    "unbounded",
    "everything",
    "age",
    "unplaced",
}
INTENTS = {
    "book",
    "cancel",
    "bookings",
    "balance",
    "basket",
    "top_up",
    "buy_coupons",
    "pay_debt",
    "notifications",
    "receipts",
    "devices",
    "export_data",
    "password_reset",
    "change_password",
    "change_email",
    "profile",
    "help",
    "language_en",
    "language_fr",
    "login",
    "logout",
    "browse",
    "menu",
    "back",
    "confirm",
    "refuse",
    "abandon",
}
MODIFIERS = {"add", "remove", "replace"}
_SECTION = re.compile(r"^# == (.+?)\s*$")
_ENTRY = re.compile(r"^- say:")


@dataclass(frozen=True)
class CorpusLine:
    locale: str
    section: str
    number: int  # 1.. within its file
    expected: Mapping[str, Any]

    @property
    def say(self) -> str:
        return str(self.expected["say"])

    @property
    def id(self) -> str:
        return f"{self.locale}: {self.say}"


def parse_days(items: Iterable[Any]) -> tuple[date, ...]:
    """[2027-03-03, "2027-03-08..2027-03-12"] -> the days, sorted, a..b being every day."""
    days: set[date] = set()
    for item in items:
        if isinstance(item, date):
            days.add(item)
            continue
        text = str(item)
        if ".." in text:
            first, last = (date.fromisoformat(part.strip()) for part in text.split("..", 1))
            if last < first:
                raise ValueError(f"range backwards: {text}")
            day = first
            while day <= last:
                days.add(day)
                day += timedelta(days=1)
        else:
            days.add(date.fromisoformat(text.strip()))
    return tuple(sorted(days))


def _check(entry: Any, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("say"), str):
        raise ValueError(f"{where}: each entry needs a `say` text")
    unknown = set(entry) - KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    if entry.get("intent") is not None and entry["intent"] not in INTENTS:
        raise ValueError(f"{where}: unknown intent {entry['intent']!r}")
    if entry.get("modifier") is not None and entry["modifier"] not in MODIFIERS:
        raise ValueError(f"{where}: unknown modifier {entry['modifier']!r}")
    for key in ("dates", "ambiguous"):
        if key in entry:
            parse_days(entry[key])


def read_corpus(locale: str) -> list[CorpusLine]:
    """The lines of tests/corpus/<locale>.yaml, each with the `# ==` section it sits under."""
    path = CORPUS_DIR / f"{locale}.yaml"
    text = path.read_text(encoding="utf-8")
    entries = yaml.safe_load(text) or []
    sections: list[str] = []
    section = ""
    for raw in text.splitlines():
        if match := _SECTION.match(raw):
            section = match.group(1)
        elif _ENTRY.match(raw):
            sections.append(section)
    if len(sections) != len(entries):
        raise ValueError(f"{path}: every entry must start with `- say:` at the line's start")
    lines = []
    for number, (entry, entry_section) in enumerate(zip(entries, sections, strict=True), 1):
        _check(entry, f"{path.name} #{number}")
        lines.append(CorpusLine(locale, entry_section, number, entry))
    return lines


def read_all() -> list[CorpusLine]:
    return [line for locale in LOCALES for line in read_corpus(locale)]

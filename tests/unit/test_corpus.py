"""The understanding corpus: every line of tests/corpus/*.yaml through `understand`, and a score.

Each line states the whole frame it expects (tests/corpus/fr.yaml explains the keys). One test
per line fails with a field-by-field diff; the summary prints the score per language and the
failures per section, and never fails by itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import pytest

from tests.corpus.lines import KEYS, CorpusLine, parse_days, read_all

LINES = read_all()

try:
    from dialogs.understanding import understand
    from tests.corpus.town import Town, town
except ImportError as error:  # the understanding package is still being written
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None

FIELDS = tuple(sorted(KEYS - {"say"}))


# --- What a line expects and what understanding gave, as comparable plain values ------------


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _fragment(text: str) -> str:
    """A quoted fragment, compared without its surrounding spaces and punctuation."""
    return " ".join(str(text).split()).strip(" ,.;:!?\"'«»")


def _date_text(text: str) -> str:
    """An invalid date as written, without the article before it ("le 31 avril" = "31 avril")."""
    cleaned = _fragment(text).lower()
    return re.sub(r"^(?:on the|on|the|le|l')\s+", "", cleaned)


def _compact(days: Iterable[date] | None) -> str | None:
    """Days as "2027-03-08..2027-03-12, 2027-03-15": runs of three days or more as ranges."""
    if days is None:
        return None
    ordered = sorted(set(days))
    runs: list[list[date]] = []
    for day in ordered:
        if runs and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{run[0]}..{run[-1]}")
        else:
            parts.extend(str(day) for day in run)
    return ", ".join(parts)


def _every_child_named(line: CorpusLine, place: Town) -> bool:
    names = {place.child_id(name) for name in line.expected.get("children", ())}
    return names == {child.id for child in place.children}


def expected_view(line: CorpusLine, place: Town) -> dict[str, Any]:
    """The frame a line expects, field by field (only the fields the line checks)."""
    wanted = line.expected
    view: dict[str, Any] = {}
    if "intent" in wanted:
        view["intent"] = wanted["intent"]
    view["modifier"] = wanted.get("modifier")
    if wanted.get("all_children") and "children" not in wanted:
        view["children"] = _every_child_fitting(wanted, place)
    else:
        view["children"] = sorted(
            place.child_name(place.child_id(name)) for name in wanted.get("children", ())
        )
    if "all_children" in wanted or not _every_child_named(line, place):
        view["all_children"] = bool(wanted.get("all_children", False))
    view["unknown_child"] = wanted.get("unknown_child")
    view["activities"] = sorted(
        place.activity_code(place.activity_id(code)) for code in wanted.get("activities", ())
    )
    view["dates"] = _compact(parse_days(wanted["dates"])) if "dates" in wanted else None
    view["ambiguous"] = [str(day) for day in parse_days(wanted.get("ambiguous", ()))]
    view["invalid"] = sorted(_date_text(text) for text in wanted.get("invalid", ()))
    view["unbounded"] = bool(wanted.get("unbounded", False))
    view["everything"] = bool(wanted.get("everything", False))
    view["age"] = wanted.get("age")
    view["unplaced"] = [_fragment(text) for text in wanted.get("unplaced", ())]
    return view


def _every_child_fitting(wanted: dict[str, Any], place: Town) -> list[str]:
    """ "les deux", "tous mes enfants": the household's minors of an age the activities named
    take (all of them when no activity is named)."""
    today = place.now.date()

    def age(child: Any) -> int:
        born = child.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    minors = [child for child in place.children if age(child) < 18]
    activities = [
        activity
        for activity in place.catalogue.activities
        if activity.code in set(wanted.get("activities", ()))
    ]
    fitting = [
        child for child in minors if any(a.accepts(child.birth_date, today) for a in activities)
    ]
    return sorted(child.name for child in (fitting or minors))


def got_view(frame: Any, line: CorpusLine, place: Town, fields: Iterable[str]) -> dict[str, Any]:
    """The same fields read from the frame `understand` returned."""
    child_ids = tuple(getattr(frame, "child_ids", ()) or ())
    children: Any = sorted(place.child_name(child_id) for child_id in set(child_ids))
    dates = getattr(frame, "dates", None)
    values = {
        "intent": getattr(frame, "intent", None),
        "modifier": getattr(frame, "modifier", None),
        "children": children,
        "all_children": bool(getattr(frame, "all_children", False)),
        "unknown_child": getattr(frame, "unknown_child", None),
        "activities": sorted(
            place.activity_code(activity_id)
            for activity_id in set(getattr(frame, "activity_ids", ()) or ())
        ),
        "dates": _compact(dates) if dates else None,
        "ambiguous": [str(day) for day in sorted(set(getattr(frame, "ambiguous_dates", ()) or ()))],
        "invalid": sorted(_date_text(text) for text in getattr(frame, "invalid_dates", ()) or ()),
        "unbounded": bool(getattr(frame, "unbounded", False)),
        "everything": bool(getattr(frame, "everything", False)),
        "age": getattr(frame, "age", None),
        "unplaced": [_fragment(text) for text in getattr(frame, "unplaced", ()) or ()],
    }
    return {field: values[field] for field in fields}


def understand_line(line: CorpusLine, place: Town) -> Any:
    return understand(
        line.say,
        now=place.now,
        locale=line.locale,
        children=place.children,
        catalogue=place.catalogue,
    )


def differences(line: CorpusLine, place: Town) -> dict[str, tuple[Any, Any]]:
    """{field: (expected, got)} for every field where understanding disagrees with the line."""
    expected = expected_view(line, place)
    got = got_view(understand_line(line, place), line, place, expected)
    return {
        field: (expected[field], got[field])
        for field in FIELDS
        if field in expected and expected[field] != got[field]
    }


def _explain(line: CorpusLine, diff: Mapping[str, tuple[Any, Any]]) -> str:
    rows = [f"{line.locale}.yaml #{line.number} [{line.section}]", f"  say: {line.say!r}"]
    for field, (expected, got) in diff.items():
        rows.append(f"  {field}:")
        rows.append(f"    expected {expected!r}")
        rows.append(f"    got      {got!r}")
    return "\n".join(rows)


# --- Tests -------------------------------------------------------------------------------------


def _require_understanding() -> Town:
    if IMPORT_ERROR is not None:
        pytest.fail(f"dialogs.understanding does not import: {IMPORT_ERROR}", pytrace=False)
    return town()


@pytest.mark.parametrize("line", LINES, ids=[line.id for line in LINES])
def test_corpus_line_is_understood(line: CorpusLine) -> None:
    place = _require_understanding()
    diff = differences(line, place)
    if diff:
        pytest.fail(_explain(line, diff), pytrace=False)


def test_corpus_has_enough_lines_in_each_language() -> None:
    counts = Counter(line.locale for line in LINES)
    assert counts["fr"] >= 220
    assert counts["en"] >= 110
    assert len({(line.locale, line.say) for line in LINES}) == len(LINES), "a line is repeated"


def test_corpus_score_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the score per language and the failures per section; fails only on its own bugs."""
    report = [""]
    if IMPORT_ERROR is not None:
        report.append(
            f"corpus: 0/{len(LINES)} (dialogs.understanding does not import: {IMPORT_ERROR})"
        )
    else:
        place = town()
        passed: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        failures: dict[tuple[str, str], list[str]] = defaultdict(list)
        fields: Counter[str] = Counter()
        for line in LINES:
            totals[line.locale] += 1
            try:
                diff = differences(line, place)
            except Exception as error:  # one line's crash is one failure, not the summary's
                diff = {"(raised)": (None, f"{type(error).__name__}: {error}")}
            if diff:
                failures[(line.locale, line.section)].append(f"{line.say!r}: " + "; ".join(diff))
                fields.update(list(diff))
            else:
                passed[line.locale] += 1
        total, good = sum(totals.values()), sum(passed.values())
        report.append(f"corpus: {good}/{total} ({100 * good / total:.1f} %)")
        for locale in sorted(totals):
            share = 100 * passed[locale] / totals[locale]
            report.append(f"  {locale}: {passed[locale]}/{totals[locale]} ({share:.1f} %)")
        if fields:
            report.append(
                "  wrong fields: " + ", ".join(f"{f} {n}" for f, n in fields.most_common())
            )
        for (locale, section), lines in failures.items():
            report.append(f"  [{locale}] {section}: {len(lines)} failing")
            report.extend(f"      {text}" for text in lines)
    with capsys.disabled():
        print("\n".join(report))

"""The request frame: what one message says, as plain values (ids, days, quoted fragments)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from booking import rules


@dataclass(frozen=True)
class ChildInfo:
    id: int
    name: str
    birth_date: date


@dataclass(frozen=True)
class ActivityInfo:
    """An activity as understanding needs it: names, ages and the days it has sessions."""

    id: int
    code: str
    name: str
    category: str
    aliases: tuple[str, ...] = ()
    min_age: int = 0
    max_age: int | None = None  # excluded
    session_days: frozenset[date] = frozenset()  # upcoming days with a session

    def accepts(self, birth_date: date, day: date) -> bool:
        """The activity's age rule (booking.rules), for a child born then, on that day."""
        return rules.age_refusal(self.min_age, self.max_age, birth_date, day) is None


@dataclass(frozen=True)
class Catalogue:
    activities: tuple[ActivityInfo, ...] = ()
    school_holidays: tuple = ()  # (kind, first, last) of the structure's zone


@dataclass(frozen=True)
class Frame:
    """One message's request.

    `activity_ids` are the best candidates once the children's ages and the dates have
    decided; more than one is a real tie to ask about. `dates` is None when none were written;
    `ambiguous_dates` holds the readings of a date with two; `invalid_dates` the impossible
    ones ("31 avril"); `unbounded` a recurrence without a period ("tous les mercredis").
    `unplaced` quotes the fragments of the message that nothing understood.
    """

    intent: str | None = None
    modifier: str | None = None  # add, remove, replace: a change to the request being filled
    child_ids: tuple[int, ...] = ()
    all_children: bool = False
    unknown_child: str | None = None  # "inscris Tom…" where no child is called Tom
    activity_candidates: tuple[tuple[int, int], ...] = ()  # (id, score), best first
    activity_ids: tuple[int, ...] = ()
    dates: tuple[date, ...] | None = None
    ambiguous_dates: tuple[date, ...] = ()
    ambiguous_text: str = ""
    invalid_dates: tuple[str, ...] = ()
    unbounded: bool = False
    recurring_text: str = ""  # the message to read again with a period once one is chosen
    recurring_words: str = ""  # the recurrence as written ("tous les mercredis")
    everything: bool = False  # "tout", "all": every booking the rest of the frame names
    age: int | None = None
    unplaced: tuple[str, ...] = ()
    date_like_unplaced: tuple[str, ...] = field(default=())

    @property
    def has_request_content(self) -> bool:
        return bool(
            self.child_ids
            or self.all_children
            or self.activity_ids
            or self.dates
            or self.ambiguous_dates
            or self.invalid_dates
            or self.unbounded
        )

"""Long lists shown a page at a time, in both channels: never cut without a word."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from dialogs.replies import Button
from dialogs.turn import Turn

T = TypeVar("T")

#: Items per page: a phone's screen of lines and buttons, far under Telegram's limits.
PAGE_SIZE = 8


def pages(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-total // size))


def page_of(items: Sequence[T], page: int, size: int = PAGE_SIZE) -> tuple[list[T], int]:
    """The items of a page and the page actually shown (a page past the end shows the last)."""
    page = min(max(0, page), pages(len(items), size) - 1)
    return list(items[page * size : (page + 1) * size]), page


def range_text(turn: Turn, page: int, total: int, size: int = PAGE_SIZE) -> str:
    """ "1-8 sur 40", or nothing when everything fits on one page."""
    if total <= size:
        return ""
    first = page * size + 1
    return turn.t._(
        "{first}-{last} sur {total}", first=first, last=min(total, first + size - 1), total=total
    )


def page_row(
    turn: Turn, page: int, total: int, name: str, *args: Any, size: int = PAGE_SIZE
) -> list[Button]:
    """ "‹ Précédent" and "Suite ›" buttons calling `name(*args, page)`; empty on one page."""
    row = []
    if page > 0:
        row.append(turn.button(turn.t._("‹ Précédent"), name, *args, page - 1))
    if page < pages(total, size) - 1:
        row.append(turn.button(turn.t._("Suite ›"), name, *args, page + 1))
    return row

"""Replies rendered for Telegram: inline keyboards, a calendar grid, URL buttons, and Telegram's
limits (4,096 characters a message, 100 buttons a keyboard) kept by splitting and paging."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from dialogs.i18n import Translator
from dialogs.replies import Calendar, Reply

#: Day markers, so that the calendar does not rely on colour (Telegram has none anyway).
DAY_MARKS = {
    "open": "{day}",
    "booked": "✅{day}",
    "to_cancel": "❌{day}",
    "locked": "🔒{day}",
    "in_basket": "🛒{day}",
    "full": "✖{day}",
    "waitlist": "⏳{day}",
    "closed": "·",
    "past_deadline": "·",
}
NOOP = "noop"  # callback data of cells that do nothing (empty days, weekday names)
MAX_TEXT = 4096  # Telegram's limit, counted here in UTF-16 units (an emoji counts twice)
MAX_BUTTONS = 100  # Telegram refuses a bigger inline keyboard
MAX_ROW = 8  # buttons Telegram shows side by side
MAX_ROWS = 20  # more rows than this do not fit a phone's screen: the list pages
PAGE_ROWS = 10  # rows of a paged list shown at once
PAGE = "pg."  # callback data of the channel's own paging buttons: "pg.<page>"

Rows = list[list[InlineKeyboardButton]]


def _calendar_rows(calendar: Calendar) -> Rows:
    rows = []
    nav = [InlineKeyboardButton(calendar.title, callback_data=NOOP)]
    if calendar.previous is not None:
        nav.insert(0, InlineKeyboardButton("◀", callback_data=calendar.previous.payload))
    if calendar.next is not None:
        nav.append(InlineKeyboardButton("▶", callback_data=calendar.next.payload))
    rows.append(nav)
    rows.append([InlineKeyboardButton(name[:3], callback_data=NOOP) for name in calendar.weekdays])
    for week in calendar.weeks:
        row = []
        for day in week:
            if day is None:
                row.append(InlineKeyboardButton(" ", callback_data=NOOP))
                continue
            text = DAY_MARKS.get(day.state, "{day}").format(day=day.day.day)
            row.append(InlineKeyboardButton(text, callback_data=day.payload or NOOP))
        rows.append(row)
    return rows


def legend(calendar: Calendar) -> str:
    marks = {state: DAY_MARKS[state].format(day="").strip() or "·" for state in DAY_MARKS}
    return "  ".join(f"{marks.get(state, '')} {label}" for state, label in calendar.legend)


def page_of(data: str) -> int | None:
    """The page a paging button asks for, or None for any other button."""
    number = data.removeprefix(PAGE)
    if data == number or not number.isdigit() or len(number) > 4:
        return None
    return int(number)


def reply_markup(reply: Reply, page: int = 0) -> InlineKeyboardMarkup | None:
    """The reply's keyboard; a list too long for a phone (or for Telegram) shows `page`."""
    fixed: Rows = []
    if reply.calendar is not None:
        fixed.extend(_calendar_rows(reply.calendar))
    if reply.link is not None and _button_url(reply.link.url):
        fixed.append([InlineKeyboardButton(reply.link.label, url=reply.link.url)])
    rows: Rows = [
        [InlineKeyboardButton(b.label, callback_data=b.payload) for b in row[i : i + MAX_ROW]]
        for row in reply.buttons
        for i in range(0, len(row), MAX_ROW)
    ]
    if _fits(fixed + rows):
        rows = fixed + rows
    else:
        rows = fixed + _page(rows, page, MAX_BUTTONS - _count(fixed), reply.locale)
    return InlineKeyboardMarkup(rows) if rows else None


def _count(rows: Rows) -> int:
    return sum(len(row) for row in rows)


def _fits(rows: Rows) -> bool:
    return len(rows) <= MAX_ROWS and _count(rows) <= MAX_BUTTONS


def _page(rows: Rows, page: int, budget: int, locale: str) -> Rows:
    """One page of a long list, its last row (Retour · Menu) kept on every page, and a row
    to turn pages."""
    pinned = rows[-1:] if len(rows) > 1 else []
    body = rows[: len(rows) - len(pinned)]
    budget -= _count(pinned) + 2  # the paging row
    pages: list[Rows] = [[]]
    for row in body:
        if pages[-1] and (len(pages[-1]) >= PAGE_ROWS or _count(pages[-1]) + len(row) > budget):
            pages.append([])
        pages[-1].append(row)
    page = min(max(page, 0), len(pages) - 1)
    t = Translator(locale)
    paging: list[InlineKeyboardButton] = []
    if page > 0:
        paging.append(InlineKeyboardButton(t._("‹ Précédent"), callback_data=f"{PAGE}{page - 1}"))
    if page < len(pages) - 1:
        paging.append(InlineKeyboardButton(t._("Suite ›"), callback_data=f"{PAGE}{page + 1}"))
    return pages[page] + ([paging] if paging else []) + pinned


def reply_text(reply: Reply) -> str:
    """The whole text of a reply, its calendar's legend included (see `split_text`)."""
    text = reply.text
    if reply.calendar is not None:
        text = f"{text}\n\n{legend(reply.calendar)}"
    if reply.link is not None and not _button_url(reply.link.url):
        text = f"{text}\n\n{reply.link.label} : {reply.link.url}"  # a local address (a demo)
    return text if text.strip() else "…"


def _button_url(url: str) -> bool:
    """Telegram refuses URL buttons to addresses it cannot reach (http, localhost): those
    links go in the text instead, where the phone still opens them."""
    return url.startswith("https://")


def text_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units), never less than Python's."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Messages of at most `limit` characters, cut between lines (inside a line only when that
    line alone is too long, then between words if it can): nothing is ever dropped."""
    parts: list[str] = []
    current = ""
    for line in _short_lines(text, limit):
        candidate = f"{current}\n{line}" if current else line
        if current and text_length(candidate) > limit:
            parts.append(current)
            candidate = line
        current = candidate
    parts.append(current)
    return [part for part in parts if part.strip()] or ["…"]


def _short_lines(text: str, limit: int) -> list[str]:
    lines = []
    for line in text.split("\n"):
        while text_length(line) > limit:
            cut = _cut(line, limit)
            lines.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        lines.append(line)
    return lines


def _cut(line: str, limit: int) -> int:
    """Where to cut a line too long for one message: the last space that fits, else the
    last character that fits."""
    end = 0
    units = 0
    for index, char in enumerate(line):
        units += text_length(char)
        if units > limit:
            break
        end = index + 1
    space = line.rfind(" ", 0, end)
    return space if space > end // 2 else max(end, 1)


def rendered(reply: Reply, page: int = 0) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """The messages that show a reply: its text split to fit, the keyboard on the last one."""
    parts = split_text(reply_text(reply))
    markup = reply_markup(reply, page)
    return [(part, markup if index == len(parts) - 1 else None) for index, part in enumerate(parts)]

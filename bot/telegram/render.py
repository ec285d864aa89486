"""Replies rendered for Telegram: inline keyboards, a calendar grid, URL buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from dialogs.replies import Calendar, Reply

#: Day markers, so that the calendar does not rely on colour (Telegram has none anyway).
DAY_MARKS = {
    "open": "{day}",
    "booked": "✅{day}",
    "in_basket": "🛒{day}",
    "full": "✖{day}",
    "waitlist": "⏳{day}",
    "closed": "·",
    "past_deadline": "·",
}
NOOP = "noop"  # callback data of cells that do nothing (empty days, weekday names)
MAX_TEXT = 4096


def _calendar_rows(calendar: Calendar) -> list[list[InlineKeyboardButton]]:
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


def reply_markup(reply: Reply) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    if reply.calendar is not None:
        rows.extend(_calendar_rows(reply.calendar))
    if reply.link is not None:
        rows.append([InlineKeyboardButton(reply.link.label, url=reply.link.url)])
    for row in reply.buttons:
        rows.append([InlineKeyboardButton(b.label, callback_data=b.payload) for b in row])
    return InlineKeyboardMarkup(rows) if rows else None


def reply_text(reply: Reply) -> str:
    text = reply.text
    if reply.calendar is not None:
        text = f"{text}\n\n{legend(reply.calendar)}"
    return text[:MAX_TEXT] or "…"

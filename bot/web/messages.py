"""Replies rendered as the web chat's Message objects (DESIGN.md, "Web chat API")."""

from __future__ import annotations

from typing import Any

from dialogs.replies import Calendar, Reply


def calendar_json(calendar: Calendar) -> dict[str, Any]:
    def nav(button):  # noqa: ANN001, ANN202
        return None if button is None else {"label": button.label, "payload": button.payload}

    return {
        "title": calendar.title,
        "weekdays": calendar.weekdays,
        "weeks": [
            [
                None
                if day is None
                else {
                    "day": day.day.day,
                    "date": day.day.isoformat(),
                    "state": day.state,
                    "label": day.label,
                    "payload": day.payload,
                }
                for day in week
            ]
            for week in calendar.weeks
        ],
        "prev": nav(calendar.previous),
        "next": nav(calendar.next),
        "legend": [{"state": state, "label": label} for state, label in calendar.legend],
    }


def message_json(message_id: int, reply: Reply) -> dict[str, Any]:
    return {
        "id": str(message_id),
        "text": reply.text,
        "buttons": [
            [{"label": button.label, "payload": button.payload} for button in row]
            for row in reply.buttons
        ],
        "link": None if reply.link is None else {"label": reply.link.label, "url": reply.link.url},
        "calendar": None if reply.calendar is None else calendar_json(reply.calendar),
        "input": "password" if reply.secret_input else "text",
        "lang": reply.locale,
    }

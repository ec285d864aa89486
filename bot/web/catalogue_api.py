"""`GET /api/catalogue`: the public catalogue as JSON, browsable without an account."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from booking.clock import PARIS
from booking.models import Category
from booking.money import format_cents
from booking.services.catalogue import ActivityView, browse
from bot.web.errors import json_error
from bot.web.keys import CLOCK, DATABASE

ALLOWED = {"age", "category", "from", "to", "lang"}


def _parse_query(query: Any) -> dict[str, Any]:
    unknown = set(query) - ALLOWED
    if unknown:
        raise ValueError(f"unknown parameter: {sorted(unknown)[0]}")
    parsed: dict[str, Any] = {}
    if query.get("age"):
        text = query["age"]
        age = int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else -1
        if not 0 <= age <= 120:
            raise ValueError("age must be between 0 and 120")
        parsed["age"] = age
    if query.get("category"):
        try:
            parsed["category"] = Category(query["category"])
        except ValueError:
            choices = ", ".join(category.value for category in Category)
            raise ValueError(f"category must be one of: {choices}") from None
    for name, key in (("from", "date_from"), ("to", "date_to")):
        if query.get(name):
            try:
                parsed[key] = date.fromisoformat(query[name])
            except ValueError:
                raise ValueError(f"{name} must be a date such as 2027-03-01") from None
    return parsed


def _render(view: ActivityView, locale: str) -> dict[str, Any]:
    activity = view.activity
    return {
        "code": activity.code,
        "name": activity.name,
        "aliases": list(activity.aliases),
        "category": activity.category.value,
        "description": activity.description,
        "place": activity.place,
        "min_age": activity.min_age,
        "max_age": activity.max_age,
        "payment_mode": activity.payment_mode.value,
        "waitlist": activity.waitlist_enabled,
        "enrolment_required": activity.enrolment_required,
        "sessions": [
            {
                "id": item.session.id,
                "label": item.session.label,
                "starts_at": item.session.starts_at.astimezone(PARIS).isoformat(),
                "ends_at": item.session.ends_at.astimezone(PARIS).isoformat(),
                "place": item.session.place or activity.place,
                "capacity": item.session.capacity,
                "places_left": item.places_left,
                "price_cents": item.session.price_cents,
                "price": format_cents(item.session.price_cents, locale),
                "coupons": item.session.coupons,
                "state": item.availability.value,
            }
            for item in view.sessions
        ],
    }


async def get_catalogue(request: web.Request) -> web.Response:
    """List activities with their sessions, places left and state (filters are optional)."""
    try:
        filters = _parse_query(request.query)
    except ValueError as error:
        return json_error(400, "bad_query", str(error))
    locale = "en" if request.query.get("lang") == "en" else "fr"
    now = request.app[CLOCK].now()
    async with request.app[DATABASE].reading() as db:
        views = await browse(db, now=now, **filters)
        body = {"activities": [_render(view, locale) for view in views]}
    return web.json_response(body)

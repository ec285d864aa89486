"""The pages a parent opens outside the chat (paying, a receipt): one layout with the chat's
look on a phone (the town, a title, a card, large buttons, a way back), its own stylesheet."""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from bot.web.keys import ENGINE
from dialogs.i18n import Translator

STYLESHEET = Path(__file__).with_name("pages.css")
STYLESHEET_URL = "/pages.css"
LOGO = (
    '<svg viewBox="0 0 32 32" width="32" height="32" aria-hidden="true" focusable="false">'
    '<rect width="32" height="32" rx="8" fill="#ffffff"/>'
    '<circle cx="9" cy="17" r="4.5" fill="#ffd166"/>'
    '<circle cx="16" cy="14" r="4.5" fill="#0f6e74"/>'
    '<circle cx="23" cy="17" r="4.5" fill="#94d2bd"/></svg>'
)


def translator(request: web.Request) -> Translator:
    """The page's language: the browser's, French unless it asks for English."""
    return Translator("en" if request.headers.get("Accept-Language", "").startswith("en") else "fr")


def ways_back(request: web.Request, t: Translator) -> str:
    """Links back to the chat: the web chat (the same conversation, from its cookie), and
    Telegram when the town's bot is known."""
    links = [
        '<a class="button secondary" href="/">'
        + html.escape(t._("Revenir à la conversation"))
        + "</a>"
    ]
    username = request.app[ENGINE].telegram_username
    if username:
        links.append(
            f'<a class="button secondary" href="https://t.me/{html.escape(username, quote=True)}">'
            + html.escape(t._("Revenir dans Telegram"))
            + "</a>"
        )
    return "".join(links)


def page(
    t: Translator,
    *,
    town: str,
    title: str,
    body: str,
    status: int = 200,
    tone: str = "",
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A whole page: the town in the bar, `title` as its only heading, `body` (HTML, already
    escaped) in a card."""
    heading_class = f' class="{tone}"' if tone else ""
    return web.Response(
        status=status,
        content_type="text/html",
        headers=headers,
        text=f"""<!doctype html><html lang="{t.locale}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><meta name="theme-color" content="#0f6e74">
<meta name="referrer" content="no-referrer">
<title>{html.escape(title)} — {html.escape(town)}</title>
<link rel="stylesheet" href="{STYLESHEET_URL}"></head><body>
<header class="bar">{LOGO}<p class="town">{html.escape(town)}</p></header>
<main><div class="card">
<h1{heading_class}>{html.escape(title)}</h1>{body}</div></main></body></html>""",
    )


async def stylesheet(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STYLESHEET, headers={"Cache-Control": "public, max-age=3600"})

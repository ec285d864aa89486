"""What every web response and socket goes through: security headers, the real client address
behind a trusted proxy, the Origin of WebSockets, the caps on open sockets, tokenless logs."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from aiohttp import web

from bot.settings import Settings
from dialogs.flows.privacy import EXPORT_PATH
from dialogs.notices import EMAIL_PATH, RESET_PATH

#: Scripts and styles come from our own files only: the pages hold no inline script, and the
#: pages of the payment sandbox hold an inline <style> (styles cannot run code). No page may
#: be framed (clickjacking a "Payer" button).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    # A pay link or a reset link in a page must not reach another site through Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


async def add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """Put the security headers on every response (files, errors and socket upgrades too)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def client_address(request: web.Request, trusted: frozenset[str]) -> str:
    """The client's address: the peer's, or behind a trusted proxy the last address of
    X-Forwarded-For that no trusted proxy added (anything left of it is the client's word)."""
    peer = request.remote or "?"
    if _address(peer) not in trusted:
        return peer
    hops = [
        hop for value in request.headers.getall("X-Forwarded-For", ()) for hop in value.split(",")
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage: stop believing the chain here
        if address not in trusted:
            return address
    return peer


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(request: web.Request, settings: Settings) -> bool:
    """A browser's socket comes from our public URL (a page of another site would ride the
    parent's cookie otherwise). Without RIBAMBELLE_PUBLIC_URL (development, tests), the
    address the page was served from stands in. Clients that are not browsers send none."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    allowed = {origin_of(settings.public_url)}
    if not settings.public_url_given:
        allowed.add(f"{request.scheme}://{request.host}".lower())
    return origin.lower() in allowed


class SocketCaps:
    """How many WebSockets are open per client address and per conversation, in this
    process; past a cap a new one is refused (a script cannot hold thousands open)."""

    def __init__(self, per_address: int, per_conversation: int) -> None:
        self.per_address = per_address
        self.per_conversation = per_conversation
        self._addresses: Counter[str] = Counter()
        self._conversations: Counter[int] = Counter()

    @contextmanager
    def hold(self, counter: Counter, key: object, cap: int) -> Iterator[bool]:
        """Count one socket under `key` while the block runs; yields False past the cap."""
        if counter[key] >= cap:
            yield False
            return
        counter[key] += 1
        try:
            yield True
        finally:
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    def address(self, address: str):  # noqa: ANN201
        return self.hold(self._addresses, address, self.per_address)

    def conversation(self, conversation_id: int):  # noqa: ANN201
        return self.hold(self._conversations, conversation_id, self.per_conversation)


#: `conversation=<token>` in a logged request line (an old page, a hand-written URL).
TOKEN_IN_URL = re.compile(r"([?&]conversation=)[^&\s\"]*")
#: Paths whose next part is a one-time link's token (bot/web/account_pages.py,
#: bot/web/privacy_pages.py).
SECRET_PATHS = (RESET_PATH + "/", EMAIL_PATH + "/", EXPORT_PATH)
#: Loggers that write a request's path: the access log, and the API's unexpected errors.
PATH_LOGGERS = ("aiohttp.access", "bot.web.errors")
TOKEN_IN_PATH = re.compile(
    "(" + "|".join(re.escape(path) for path in SECRET_PATHS) + r")[^\s\"?#/]+"
)


class RedactTokens(logging.Filter):
    """Log lines never hold a conversation token, even one a client put in a URL, nor the
    token of a one-time account link (password reset, e-mail change, data export)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "conversation=" in message or any(path in message for path in SECRET_PATHS):
            message = TOKEN_IN_URL.sub(r"\1[redacted]", message)
            record.msg, record.args = TOKEN_IN_PATH.sub(r"\1[redacted]", message), None
        return True


def redact_access_log() -> None:
    for name in PATH_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def setup_security(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
    redact_access_log()

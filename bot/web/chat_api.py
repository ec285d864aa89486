"""The web chat API: POST /api/chat/turn, GET /api/chat/inbox, GET /api/chat/history, the
WebSocket /api/chat/ws.

The conversation token travels in the HttpOnly cookie or a body (a turn, a socket's first
frame), never in a URL: URLs end up in access logs, proxies' logs and browser histories."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from datetime import timedelta
from typing import Any

from aiohttp import WSMsgType, web

from booking.services.conversations import find_conversation, history, pushed_after
from bot.web.errors import json_error
from bot.web.idle import forget_idle_household
from bot.web.keys import (
    CLOCK,
    DATABASE,
    ENGINE,
    NEW_CHAT_LIMITER,
    PUSH_HUB,
    SETTINGS,
    SOCKET_CAPS,
    TURN_LIMITER,
)
from bot.web.messages import message_json
from bot.web.security import client_address, origin_allowed
from dialogs.engine import Incoming

log = logging.getLogger(__name__)

CHANNEL = "web"
COOKIE = "ribambelle_chat"
MAX_BODY = 16 * 1024
MAX_TEXT = 2000
MAX_PAYLOAD = 64
FIELDS = {"conversation", "text", "button"}
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what secrets.token_urlsafe makes
FIRST_FRAME_SECONDS = 10.0  # a socket opened without the cookie names its conversation by then


class BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def conversation_key(token: str) -> str:
    """Only a hash of the token is stored: a leaked database opens no conversation."""
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: object) -> bool:
    """A token from a body or a cookie: anything else never names a conversation."""
    return isinstance(token, str) and TOKEN.fullmatch(token) is not None


def storable(text: str) -> bool:
    """Encodable as UTF-8 (no lone surrogate) and without NUL, which databases refuse."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def parse_turn(body: Any) -> tuple[str | None, Incoming]:
    if not isinstance(body, dict):
        raise BadRequest(400, "bad_body", "The body must be a JSON object.")
    unknown = set(body) - FIELDS
    if unknown:
        raise BadRequest(400, "unknown_field", f"Unknown field: {sorted(unknown)[0]}.")
    token = body.get("conversation")
    if token is not None and not well_formed(token):
        raise BadRequest(400, "bad_conversation", "conversation must be a token or null.")
    has_text, has_button = "text" in body, "button" in body
    if has_text == has_button:
        raise BadRequest(400, "bad_body", "Send either text or button.")
    if has_text:
        text = body["text"]
        if not isinstance(text, str) or len(text) > MAX_TEXT or not storable(text):
            raise BadRequest(
                400,
                "bad_text",
                f"text must be a string of at most {MAX_TEXT} characters, without NUL.",
            )
        return token, Incoming(text=text)
    button = body["button"]
    if not isinstance(button, str) or not 0 < len(button) <= MAX_PAYLOAD or not storable(button):
        raise BadRequest(400, "bad_button", "button must be a short payload string.")
    return token, Incoming(button=button)


async def _known(app: web.Application, token: str) -> int | None:
    async with app[DATABASE].reading() as db:
        conversation = await find_conversation(db, CHANNEL, conversation_key(token))
        return conversation.id if conversation is not None else None


async def resolve_token(request: web.Request, token: str | None) -> tuple[str, bool]:
    """(token, is_new): an explicit unknown token is a 404; a stale cookie starts afresh."""
    if token is not None:
        if await _known(request.app, token) is None:
            raise BadRequest(404, "unknown_conversation", "Unknown conversation.")
        return token, False
    cookie = request.cookies.get(COOKIE)
    if well_formed(cookie) and await _known(request.app, cookie) is not None:
        return cookie, False
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    if not request.app[NEW_CHAT_LIMITER].allow(address):
        raise BadRequest(429, "too_many_requests", "Too many new conversations; try again later.")
    return secrets.token_urlsafe(32), True


async def run_turn(request: web.Request, token: str, incoming: Incoming) -> list[dict[str, Any]]:
    if not request.app[TURN_LIMITER].allow(token):
        raise BadRequest(429, "too_many_requests", "Slow down: too many messages at once.")
    settings = request.app[SETTINGS]
    await forget_idle_household(
        request.app[DATABASE],
        CHANNEL,
        conversation_key(token),
        request.app[CLOCK].now(),
        timedelta(days=settings.chat_idle_days),
    )
    language = request.headers.get("Accept-Language", "")
    incoming = Incoming(
        text=incoming.text,
        button=incoming.button,
        locale_hint=language[:16] or None,
        client=client_address(request, settings.trusted_proxies),
    )
    result = await request.app[ENGINE].handle(CHANNEL, conversation_key(token), incoming)
    messages = [
        message_json(result.first_message_id + index, reply)
        for index, reply in enumerate(result.replies)
    ]
    return await request.app[PUSH_HUB].share_turn(
        request.app[DATABASE],
        result.conversation_id,
        messages,
        result.household_id,
        request.app[CLOCK].now(),
    )


def _set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    secure = request.app[SETTINGS].public_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=secure,
        max_age=180 * 24 * 3600,
        path="/",
    )


async def read_body(request: web.Request) -> bytes:
    """The whole body, refused past MAX_BODY (one read may return only the first packets)."""
    too_large = BadRequest(413, "too_large", "The body is too large.")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise too_large
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY:
            raise too_large
    return bytes(body)


def parse_json(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    # Deeply nested arrays exhaust the decoder's recursion limit: bad JSON for us.
    except (ValueError, RecursionError):
        raise BadRequest(400, "bad_json", "The body is not valid JSON.") from None


async def post_turn(request: web.Request) -> web.Response:
    """One turn: text or a button payload in, the replies out."""
    try:
        token, incoming = parse_turn(parse_json(await read_body(request)))
        token, is_new = await resolve_token(request, token)
        messages = await run_turn(request, token, incoming)
    except BadRequest as error:
        return json_error(error.status, error.code, error.message)
    response = web.json_response({"conversation": token, "messages": messages})
    if is_new or request.cookies.get(COOKIE) != token:
        _set_cookie(request, response, token)
    return response


def _token_from_cookie(request: web.Request) -> str | None:
    token = request.cookies.get(COOKIE)
    return token if well_formed(token) else None


def _message_id(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise BadRequest(400, "bad_after", "after must be a message id.")
    return int(text)


async def _reader(request: web.Request) -> tuple[int, int | None]:
    """(conversation id, `after`) of a GET from the cookie (a `conversation` in the query is
    not read: tokens stay out of URLs)."""
    token = _token_from_cookie(request)
    after = request.query.get("after")
    after_id = None if after is None else _message_id(after)
    conversation_id = await _known(request.app, token) if token else None
    if conversation_id is None:
        raise BadRequest(404, "unknown_conversation", "Unknown conversation.")
    if not request.app[TURN_LIMITER].allow(token):
        raise BadRequest(429, "too_many_requests", "Slow down: too many requests at once.")
    return conversation_id, after_id


async def get_inbox(request: web.Request) -> web.Response:
    """Messages pushed to this conversation after a message id."""
    try:
        conversation_id, after = await _reader(request)
    except BadRequest as error:
        return json_error(error.status, error.code, error.message)
    async with request.app[DATABASE].reading() as db:
        messages = await pushed_after(db, conversation_id, after or 0)
        return web.json_response({"messages": [message.body for message in messages]})


async def get_history(request: web.Request) -> web.Response:
    """The conversation's recent messages (replies and pushed ones) since its last login or
    logout: the last ones, or those after `after` (a page catching up)."""
    try:
        conversation_id, after = await _reader(request)
    except BadRequest as error:
        return json_error(error.status, error.code, error.message)
    async with request.app[DATABASE].reading() as db:
        start, messages = await history(db, conversation_id, request.app[CLOCK].now(), after=after)
        return web.json_response(
            {"from": str(start), "messages": [message.body for message in messages]}
        )


async def websocket(request: web.Request) -> web.StreamResponse:
    """Turns in, replies and pushed messages out, on one socket.

    The cookie names the conversation; without it, the first frame does, either alone
    (`{"conversation": token}`) or with a turn. Sockets from another site's page are refused,
    and the open ones are capped per client address and per conversation.
    """
    settings = request.app[SETTINGS]
    if not origin_allowed(request, settings):
        return json_error(403, "forbidden_origin", "This page may not open the chat.")
    token = _token_from_cookie(request)
    conversation_id = await _known(request.app, token) if token else None
    socket = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_BODY)
    if conversation_id is None and not socket.can_prepare(request).ok:
        return json_error(404, "unknown_conversation", "Unknown conversation.")
    caps = request.app[SOCKET_CAPS]
    with caps.address(client_address(request, settings.trusted_proxies)) as allowed:
        if not allowed:
            return json_error(429, "too_many_sockets", "Too many open sockets; close some.")
        pending = None
        if token is None or conversation_id is None:
            await socket.prepare(request)
            first = await _first_frame(request, socket)
            if first is None:
                await socket.close()
                return socket
            token, conversation_id, pending = first
        with caps.conversation(conversation_id) as allowed:
            if not allowed:
                if not socket.prepared:
                    return json_error(429, "too_many_sockets", "Too many open sockets; close some.")
                await socket.send_json(
                    {"error": "too_many_sockets", "message": "Too many open sockets; close some."}
                )
                await socket.close()
                return socket
            if not socket.prepared:
                await socket.prepare(request)
            await _serve(request, socket, token, conversation_id, pending)
    return socket


async def _first_frame(
    request: web.Request, socket: web.WebSocketResponse
) -> tuple[str, int, Incoming | None] | None:
    """(token, conversation id, a turn to run) from a socket's first frame; None (the client
    told why) when it names no known conversation in time."""
    try:
        frame = await socket.receive(timeout=FIRST_FRAME_SECONDS)
    except TimeoutError:
        return None
    if frame.type is not WSMsgType.TEXT:
        return None
    try:
        body = parse_json(frame.data)
        incoming: Incoming | None = None
        if isinstance(body, dict) and set(body) == {"conversation"}:
            token = body["conversation"]
            if not well_formed(token):
                raise BadRequest(400, "bad_conversation", "conversation must be a token.")
        else:
            token, incoming = parse_turn(body)
        conversation_id = await _known(request.app, token) if token else None
        if token is None or conversation_id is None:
            raise BadRequest(404, "unknown_conversation", "Unknown conversation.")
    except BadRequest as error:
        await socket.send_json({"error": error.code, "message": error.message})
        return None
    return token, conversation_id, incoming


async def _serve(
    request: web.Request,
    socket: web.WebSocketResponse,
    token: str,
    conversation_id: int,
    pending: Incoming | None,
) -> None:
    hub = request.app[PUSH_HUB]
    hub.attach(conversation_id, socket)
    try:
        if pending is not None:
            await _socket_turn(request, socket, token, pending)
        async for frame in socket:
            if frame.type is not WSMsgType.TEXT:
                if frame.type is WSMsgType.ERROR:
                    break
                await socket.send_json({"error": "bad_frame", "message": "Send JSON text frames."})
                continue
            try:
                body = parse_json(frame.data)
                if body == {"conversation": token}:
                    continue  # a client naming its conversation though the cookie did
                frame_token, incoming = parse_turn(body)
                if frame_token is not None and frame_token != token:
                    raise BadRequest(
                        400, "bad_conversation", "This socket belongs to another conversation."
                    )
            except BadRequest as error:
                await socket.send_json({"error": error.code, "message": error.message})
                continue
            await _socket_turn(request, socket, token, incoming)
    finally:
        hub.detach(conversation_id, socket)


async def _socket_turn(
    request: web.Request, socket: web.WebSocketResponse, token: str, incoming: Incoming
) -> None:
    try:
        # The replies reach this socket through the hub, with every other open page.
        await run_turn(request, token, incoming)
    except BadRequest as error:
        await socket.send_json({"error": error.code, "message": error.message})
    except Exception:
        log.exception("turn failed on the web socket")
        await socket.send_json(
            {"error": "internal_error", "message": "Internal error, please try again."}
        )


async def close_sockets(app: web.Application) -> None:
    await app[PUSH_HUB].close_all()


def setup_chat_routes(app: web.Application) -> None:
    # Open pages would otherwise hold the shutdown until its timeout.
    app.on_shutdown.append(close_sockets)
    app.router.add_post("/api/chat/turn", post_turn)
    app.router.add_get("/api/chat/inbox", get_inbox)
    app.router.add_get("/api/chat/history", get_history)
    app.router.add_get("/api/chat/ws", websocket)

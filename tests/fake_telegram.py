"""A small fake of the Telegram Bot API: real HTTP for python-telegram-bot, every call recorded.

It answers `/bot<token>/<method>` like api.telegram.org for the methods the channel uses
(getMe, getUpdates, setWebhook, deleteWebhook, sendMessage, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, deleteMessage, setMyCommands), with the Bot API's
shapes and errors: 401 for an unknown token, 409 for a second poller or a poller while a
webhook is set, 400 for what Telegram refuses (a text over 4,096 characters, a keyboard over
100 buttons, over-long callback data, an unmodified edit, a button answered after the
deadline), and on demand 429 with `retry_after` and 403 for a user who blocked the bot.

Tests feed updates with `inject_text` / `inject_callback` and read back `sent_to(chat_id)`.
The callback-answer deadline is kept on the fake's own clock, which a test moves forward with
`advance` (a turn "slower than Telegram's window" without waiting for it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 123
JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "scope", "link_preview_options"}
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout"}
BOT_METHODS = {
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "deleteMessage",
    "setMyCommands",
}
MAX_TEXT = 4096
MAX_BUTTONS = 100
MAX_CALLBACK_DATA = 64
CALLBACK_DEADLINE = 10.0  # seconds after delivery that Telegram still takes a callback answer
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WAIT = 5.0  # seconds a test waits for the bot before failing


class ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class Call:
    """One request the bot made: its method, decoded parameters and the HTTP status answered."""

    method: str
    params: dict[str, Any]
    status: int
    result: Any = None
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        return self.params.get("chat_id")


@dataclass
class _Poller:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    terminated: bool = False


class FakeTelegram:
    """The fake Bot API server; `async with FakeTelegram() as fake:` serves on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = "123:ABC",
        username: str = "ribambelle_test_bot",
        max_poll_wait: float = 0.5,
        callback_deadline: float = CALLBACK_DEADLINE,
    ) -> None:
        self.token = token
        self.username = username
        self.max_poll_wait = max_poll_wait  # long polls are cut short so that tests stay fast
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.offset = 0  # the highest offset a poller confirmed
        self.webhook: dict[str, Any] | None = None
        self.commands: dict[str | None, list[dict[str, Any]]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # current state, after edits
        self.blocked: set[int] = set()
        self.uneditable: set[tuple[int, int]] = set()  # (chat id, message id): too old to edit
        # id -> {"answered": params or None, "chat_id": …, "delivered_at": fake clock}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.callback_deadline = callback_deadline
        self._skew = 0.0  # how far `advance` moved the fake's clock ahead of the real one
        self._rate_limits: list[tuple[int, int, float]] = []  # (after n sends, count, retry)
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._new_call = asyncio.Condition()
        self._poller: _Poller | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- server life cycle ---------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/{bot_token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        """What `Settings.telegram_api_url` takes (python-telegram-bot appends the token)."""
        return f"{self.url}/bot"

    # -- what the test controls ----------------------------------------------------------

    def rate_limit(self, count: int, *, retry_after: float = 1, after: int = 0) -> None:
        """Answer `count` sendMessage calls with 429 once `after` more have gone through."""
        sent = len(self.calls_to("sendMessage"))
        self._rate_limits.append((sent + after, count, retry_after))

    def lift_rate_limits(self) -> None:
        """Telegram takes messages again: the 429s still planned are dropped."""
        self._rate_limits.clear()

    def now(self) -> float:
        """The fake's clock (seconds): real time, plus what `advance` added."""
        return time.monotonic() + self._skew

    def advance(self, seconds: float) -> None:
        """Time passes for Telegram (a slow turn, say) without the test waiting for it."""
        self._skew += seconds

    def block(self, chat_id: int) -> None:
        """The user of this private chat blocked the bot: sendMessage gets 403."""
        self.blocked.add(chat_id)

    def inject_text(
        self,
        chat_id: int,
        text: str,
        *,
        language_code: str | None = "fr",
        first_name: str = "Marie",
        user_id: int | None = None,
        queue: bool = True,
    ) -> dict[str, Any]:
        """A user writes in a chat: a private one (chat id = user id) unless `user_id` differs
        (a group); commands get their entity."""
        user_id = chat_id if user_id is None else user_id
        chat = {"id": chat_id, "type": "private", "first_name": first_name}
        if user_id != chat_id:
            chat = {"id": chat_id, "type": "group", "title": "Parents de CE1"}
        message = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": _user(user_id, first_name, language_code),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self.messages[(chat_id, message["message_id"])] = message
        return self._update({"message": message}, queue)

    def inject_callback(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        language_code: str | None = "fr",
        first_name: str = "Marie",
        queue: bool = True,
    ) -> dict[str, Any]:
        """A user taps an inline button (of `message_id`, else of the last bot message)."""
        if message_id is None:
            message_id = self.last_message(chat_id)["message_id"]
        query_id = str(next(self._query_ids))
        self.callback_queries[query_id] = {
            "answered": None,
            "chat_id": chat_id,
            "delivered_at": self.now(),  # a webhook update is posted at once; a poll resets it
        }
        query = {
            "id": query_id,
            "from": _user(chat_id, first_name, language_code),
            "chat_instance": f"ci-{chat_id}",
            "message": self.messages[(chat_id, message_id)],
            "data": data,
        }
        return self._update({"callback_query": query}, queue)

    def _update(self, body: dict[str, Any], queue: bool) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **body}
        if queue:
            self.updates.append(update)
            if self._poller is not None:
                self._poller.wake.set()
        return update

    # -- what the test reads -------------------------------------------------------------

    def calls_to(self, method: str, *, ok: bool | None = True) -> list[Call]:
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """The messages the bot sent to a chat (as Telegram stores them, edits applied)."""
        return [
            message
            for (chat, _), message in sorted(self.messages.items())
            if chat == chat_id and message.get("from", {}).get("id") == BOT_ID
        ]

    def calls_about(self, chat_id: int, since: int = 0) -> list[Call]:
        """The calls after call number `since` that concern a chat (its callback answers too)."""

        def concerns(call: Call) -> bool:
            query = self.callback_queries.get(str(call.params.get("callback_query_id")))
            return call.chat_id == chat_id or (query is not None and query["chat_id"] == chat_id)

        return [call for call in self.calls[since:] if concerns(call)]

    def last_message(self, chat_id: int) -> dict[str, Any]:
        return self.sent_to(chat_id)[-1]

    def buttons(self, message: dict[str, Any]) -> dict[str, str]:
        """Label → callback data of a message's inline keyboard (URL buttons left out)."""
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return {b["text"]: b["callback_data"] for row in rows for b in row if "callback_data" in b}

    def urls(self, message: dict[str, Any]) -> dict[str, str]:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return {b["text"]: b["url"] for row in rows for b in row if "url" in b}

    async def wait_for(self, predicate: Callable[[], object]) -> None:
        """Until `predicate()` holds (checked after each call the bot makes), at most WAIT s."""
        async with asyncio.timeout(WAIT):
            async with self._new_call:
                await self._new_call.wait_for(lambda: bool(predicate()))

    async def consumed(self, update: dict[str, Any]) -> None:
        """Until the poller asked for updates past this one: it holds it (Telegram forgets it)."""
        await self.wait_for(lambda: self.offset > update["update_id"])

    # -- the Bot API -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        try:
            if request.match_info["bot_token"] != f"bot{self.token}":
                raise ApiError(401, "Unauthorized")
            if method not in BOT_METHODS:
                raise ApiError(404, "Not Found")
            result = await getattr(self, f"_{method}")(params)
        except ApiError as error:
            await self._record(Call(method, params, error.code, error.body()))
            return web.json_response(error.body(), status=error.code)
        await self._record(Call(method, params, 200, result))
        return web.json_response({"ok": True, "result": result})

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        await self._notify(self._new_call)

    @staticmethod
    async def _notify(condition: asyncio.Condition) -> None:
        async with condition:
            condition.notify_all()

    async def _getMe(self, _params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Ribambelle",
            "username": self.username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        # Like Telegram, a newer request terminates the one still waiting.
        if self._poller is not None:
            self._poller.terminated = True
            self._poller.wake.set()
        poller = self._poller = _Poller()
        offset = params.get("offset") or 0
        if offset > self.offset:
            self.offset = offset
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            await self._notify(self._new_call)
        limit = params.get("limit") or 100
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), self.max_poll_wait)

        def pending() -> list[dict[str, Any]]:
            return [u for u in self.updates if u["update_id"] >= offset][:limit]

        try:
            while not pending() and not poller.terminated:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                poller.wake.clear()
                try:
                    await asyncio.wait_for(poller.wake.wait(), remaining)
                except TimeoutError:
                    break
        finally:
            if self._poller is poller:
                self._poller = None
        if poller.terminated:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot "
                "instance is running",
            )
        delivered = pending()
        for update in delivered:
            query = update.get("callback_query")
            if query is not None:
                self.callback_queries[query["id"]]["delivered_at"] = self.now()
        return delivered

    async def _setWebhook(self, params: dict[str, Any]) -> bool:  # noqa: N802
        if not str(params.get("url", "")).startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        self.webhook = params
        return True

    async def _deleteWebhook(self, _params: dict[str, Any]) -> bool:  # noqa: N802
        self.webhook = None
        return True

    async def _setMyCommands(self, params: dict[str, Any]) -> bool:  # noqa: N802
        self.commands[params.get("language_code") or None] = params.get("commands") or []
        return True

    async def _sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        self._check_limits()
        _check_text(params.get("text"))
        markup = _check_markup(params.get("reply_markup"))
        message = {
            "message_id": self._next_message_id(chat_id),
            "from": {**(await self._getMe({})), "is_bot": True},
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "date": int(time.time()),
            "text": params["text"],
        }
        if markup:
            message["reply_markup"] = markup
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _check_limits(self) -> None:
        sent = len(self.calls_to("sendMessage"))
        for index, (start, count, retry_after) in enumerate(self._rate_limits):
            if sent >= start and count > 0:
                self._rate_limits[index] = (start, count - 1, retry_after)
                raise ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after:g}",
                    retry_after=retry_after,
                )

    def _message(self, params: dict[str, Any], verb: str) -> dict[str, Any]:
        message = self.messages.get((params.get("chat_id"), params.get("message_id")))
        if message is None or message.get("from", {}).get("id") != BOT_ID:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        return message

    async def _editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        message = self._message(params, "edit")
        if (params.get("chat_id"), params.get("message_id")) in self.uneditable:
            raise ApiError(400, "Bad Request: message can't be edited")
        _check_text(params.get("text"))
        markup = _check_markup(params.get("reply_markup"))
        if params["text"] == message["text"] and markup == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        message["text"] = params["text"]
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    async def _editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        message = self._message(params, "edit")
        markup = _check_markup(params.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    async def _answerCallbackQuery(self, params: dict[str, Any]) -> bool:  # noqa: N802
        query = self.callback_queries.get(str(params.get("callback_query_id")))
        if query is None or query["answered"] is not None:
            raise ApiError(400, TOO_OLD)
        if self.now() - query["delivered_at"] > self.callback_deadline:
            raise ApiError(400, TOO_OLD)
        if len(params.get("text") or "") > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query["answered"] = params
        return True

    async def _deleteMessage(self, params: dict[str, Any]) -> bool:  # noqa: N802
        key = (params.get("chat_id"), params.get("message_id"))
        if key not in self.messages:
            raise ApiError(400, "Bad Request: message to delete not found")
        self.messages[key] = {**self.messages[key], "deleted": True}
        return True

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids[chat_id])


_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


def _user(user_id: int, first_name: str, language_code: str | None) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


async def _params(request: web.Request) -> dict[str, Any]:
    """The method's parameters: query string, form (urlencoded or multipart) or JSON body."""
    raw: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        raw.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        raw.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in JSON_FIELDS and isinstance(value, str):
            value = json.loads(value)
        elif key in INT_FIELDS and isinstance(value, str):
            value = int(value) if value.lstrip("-").isdigit() else value
        params[key] = value
    return params


def _check_text(text: object) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")


def _check_markup(markup: object) -> dict[str, Any] | None:
    if not markup:
        return None
    if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup["inline_keyboard"]
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise ApiError(400, "Bad Request: reply markup is too long")
    for row in rows:
        for button in row:
            kinds = {"callback_data", "url"} & set(button)
            if len(kinds) != 1 or not button.get("text"):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup if any(rows) else None


def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    if markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)

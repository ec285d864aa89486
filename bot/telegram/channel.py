"""The Telegram channel: python-telegram-bot in polling or webhook mode, over the engine.

Conversation state stays in our database (never in python-telegram-bot's persistence), so a
restart continues every conversation and several webhook processes can share the load.
A button press is answered before its turn runs (Telegram refuses a late answer); a turn's
replies go out in the background, in order per chat, so that a 429 never holds an update;
each chat gets the web chat's flood limit; render.py keeps Telegram's size limits. Each update
is taken in once (its id recorded in the database), whichever retry or process brings it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import socket
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from telegram import BotCommand, CallbackQuery, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from booking.clock import Clock
from booking.db import Database
from booking.services.conversations import find_conversation
from booking.services.links import acquire_lease, mark_blocked, release_lease, unmark_blocked
from booking.services.telegram_updates import take_update
from bot.delivery import DeliveryBlocked, Recipient
from bot.settings import Settings
from bot.telegram.outgoing import ChatQueues, Job
from bot.telegram.render import NOOP, page_of, reply_text, split_text
from bot.telegram.render import rendered as rendered_parts
from bot.web.ratelimit import RateLimiter
from dialogs.engine import Engine, Incoming, TurnResult
from dialogs.i18n import Translator, pick_locale
from dialogs.replies import Reply

log = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
POLLER_LEASE = "telegram-poller"
LEASE_TTL = timedelta(seconds=60)
SEND_ATTEMPTS = 8  # network failures in a row before giving up (429s do not count)
MAX_TOAST = 200  # characters of a callback answer
SHUTDOWN_GRACE = 10.0  # seconds the replies still queued at shutdown get to go out

#: Command → (engine command, French description, English description).
COMMANDS = {
    "start": ("start", "Accueil et connexion", "Welcome and log in"),
    "reserver": ("book", "Réserver une activité", "Book an activity"),
    "annuler": ("cancel", "Annuler une réservation", "Cancel a booking"),
    "mesreservations": ("bookings", "Mes réservations", "My bookings"),
    "solde": ("balance", "Solde et historique", "Balance and history"),
    "aide": ("help", "Aide", "Help"),
    "langue": ("language", "Changer de langue", "Change language"),
    "logout": ("logout", "Se déconnecter", "Log out"),
}


class TelegramStartupError(RuntimeError):
    """Telegram cannot start: a wrong token, or another process already polling."""


def webhook_secret(settings: Settings) -> str:
    """The secret Telegram sends back in each webhook call (derived from the token if unset)."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    token = (settings.telegram_token or "").encode()
    return hmac.new(token, b"ribambelle-webhook", hashlib.sha256).hexdigest()[:48]


class AnswersFirstRateLimiter(AIORateLimiter):
    """python-telegram-bot's rate limiter, except that callback answers skip its queue.

    An answer must reach Telegram within seconds of the tap, and it is not a message: it must
    not wait behind another chat's 429 ("retry after 20 s") that holds every other call back.
    """

    async def process_request(
        self,
        callback: Callable[..., Awaitable[Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if endpoint == "answerCallbackQuery":
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


class TelegramChannel:
    channel = CHANNEL

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        database: Database,
        clock: Clock,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.database = database
        self.clock = clock
        # Unique per channel: two containers may share a host name and both run as pid 1.
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.webhook_mode = bool(settings.telegram_webhook_url)
        self._lease_task: asyncio.Task | None = None
        self._next_push: dict[int, float] = {}  # chat id -> loop time of its next push slot
        # Turns per chat: the web chat's flood limit (RIBAMBELLE_CHAT_TURNS_PER_SECOND, _BURST).
        self.limiter = limiter or RateLimiter(settings.chat_turns_per_second, settings.chat_burst)
        self._slowed: set[int] = set()  # chats told to slow down, until a turn is allowed again
        self.outgoing = ChatQueues()
        builder = (
            Application.builder()
            .token(settings.telegram_token or "")
            .base_url(settings.telegram_api_url)
            .rate_limiter(
                AnswersFirstRateLimiter(
                    overall_max_rate=settings.telegram_max_rate,
                    # Per second, like our setting (the library's default period is a minute).
                    group_max_rate=settings.telegram_chat_rate,
                    group_time_period=1.0,
                    max_retries=3,
                )
            )
            .concurrent_updates(True)
        )
        if self.webhook_mode:
            builder = builder.updater(None)
        self.application: Application = builder.build()
        # Before every other handler (group -1): a replayed update goes no further.
        self.application.add_handler(TypeHandler(Update, self.take_in), group=-1)
        # Private chats only: in a group every member would share one logged-in household.
        private = filters.ChatType.PRIVATE
        self.application.add_handler(
            CommandHandler(list(COMMANDS), self.on_command, filters=private)
        )
        self.application.add_handler(MessageHandler(private & filters.COMMAND, self.on_command))
        self.application.add_handler(MessageHandler(private & filters.TEXT, self.on_text))
        self.application.add_handler(MessageHandler(private, self.on_other))
        self.application.add_handler(CallbackQueryHandler(self.on_button))
        self.application.add_error_handler(self.on_error)

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Check the token, register the commands, then poll or set the webhook."""
        try:
            await self.application.initialize()  # getMe: a wrong token fails here
        except (InvalidToken, Forbidden) as error:
            await self.application.bot.shutdown()  # its HTTP clients are open already
            raise TelegramStartupError(
                f"Telegram refused the token (RIBAMBELLE_TELEGRAM_TOKEN): {error}"
            ) from error
        except NetworkError as error:
            await self.application.bot.shutdown()
            raise TelegramStartupError(
                f"cannot reach Telegram at {self.settings.telegram_api_url} "
                f"(RIBAMBELLE_TELEGRAM_API_URL): {error}"
            ) from error
        try:
            await self._start_initialized()
        except BaseException:
            await self._stop_initialized()
            raise

    async def _start_initialized(self) -> None:
        bot = self.application.bot
        self.engine.telegram_username = bot.username
        for language, index in (("fr", 1), ("en", 2)):
            await bot.set_my_commands(
                [BotCommand(name, texts[index]) for name, texts in COMMANDS.items()],
                language_code=language,
            )
        await bot.set_my_commands([BotCommand(name, texts[1]) for name, texts in COMMANDS.items()])
        if self.webhook_mode:
            await bot.set_webhook(
                self.settings.telegram_webhook_url,
                secret_token=webhook_secret(self.settings),
                allowed_updates=["message", "callback_query"],
            )
            log.info(
                "Telegram @%s: webhook mode at %s", bot.username, self.settings.telegram_webhook_url
            )
        else:
            await self._take_poller_lease()
            self._lease_task = asyncio.create_task(self._keep_lease())
            # start_polling deletes a webhook left from webhook mode before it polls.
            await self.application.updater.start_polling(
                allowed_updates=["message", "callback_query"], drop_pending_updates=False
            )
            log.info("Telegram @%s: long polling", bot.username)
        await self.application.start()

    async def stop(self) -> None:
        await self._stop_initialized()

    async def _stop_initialized(self) -> None:
        holds_lease = self._lease_task is not None
        if self._lease_task is not None:
            self._lease_task.cancel()
            await asyncio.gather(self._lease_task, return_exceptions=True)
            self._lease_task = None
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        await self.outgoing.close(SHUTDOWN_GRACE)
        if self.application.running:
            await self.application.stop()
        if holds_lease:  # only once polling stopped, so that no two processes ever poll
            async with self.database.writing() as db:
                await release_lease(db, POLLER_LEASE, self.holder)
        await self.application.shutdown()
        self.engine.telegram_username = None

    async def _take_poller_lease(self) -> None:
        async with self.database.writing() as db:
            other = await acquire_lease(db, POLLER_LEASE, self.holder, _wall_clock(), LEASE_TTL)
        if other is not None:
            raise TelegramStartupError(
                f"another process ({other}) is already polling Telegram with this bot; run one "
                "poller only, or set RIBAMBELLE_TELEGRAM_WEBHOOK_URL to share the load"
            )

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(LEASE_TTL.total_seconds() / 3)
            try:
                async with self.database.writing() as db:
                    await acquire_lease(db, POLLER_LEASE, self.holder, _wall_clock(), LEASE_TTL)
            except Exception:
                log.exception("could not renew the Telegram poller lease")

    # -- webhook -----------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        """Telegram's call: only with the secret header; the turn runs before 200, its replies
        follow in the background (a 429 never holds the call open)."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), webhook_secret(self.settings).encode()):
            return web.json_response({"error": "forbidden"}, status=403)
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise TypeError("an update is a JSON object")
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.json_response({"error": "bad_update"}, status=400)
        await self.application.process_update(update)
        return web.json_response({"ok": True})

    async def idle(self) -> None:
        """Until every reply queued so far has been delivered (or given up)."""
        await self.outgoing.drain()

    # -- updates -----------------------------------------------------------------------

    async def take_in(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Record the update; drop it if taken in already (a webhook retry after a timeout, or
        the same update reaching another process)."""
        async with self.database.writing() as db:
            bot_id = self.application.bot.id
            fresh = await take_update(db, bot_id, update.update_id, self.clock.now())
        if not fresh:
            log.info("Telegram update %s was taken in already: skipped", update.update_id)
            raise ApplicationHandlerStop

    async def _turn(self, update: Update, incoming: Incoming) -> TurnResult:
        chat = update.effective_chat
        user = update.effective_user
        hint = user.language_code if user is not None else None
        incoming = Incoming(
            text=incoming.text,
            button=incoming.button,
            command=incoming.command,
            link_code=incoming.link_code,
            locale_hint=hint,
            # Telegram tells no address: the chat stands in for one (a private chat is one
            # Telegram account, and accounts cost a phone number each).
            client=f"{CHANNEL}:{chat.id}",
        )
        key = str(chat.id)
        async with self.database.reading() as db:
            known = await find_conversation(db, CHANNEL, key)
        if known is not None and known.blocked_at is not None:
            # Writing to us again means the user unblocked the bot: pushes resume.
            async with self.database.writing() as db:
                await unmark_blocked(db, CHANNEL, key)
        return await self.engine.handle(CHANNEL, key, incoming)

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Map /reserver, /annuler… to the engine's commands; /start <code> links the chat."""
        name = (update.effective_message.text or "").split()[0].lstrip("/").split("@")[0]
        if name == "start" and context.args:
            incoming = Incoming(link_code=context.args[0][:64])
        else:
            incoming = Incoming(command=COMMANDS.get(name, ("help",))[0])
        if not self._flooded(update):
            self._reply(update, await self._turn(update, incoming))

    async def on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Free text; a password is deleted from the chat once read."""
        message = update.effective_message
        if self._flooded(update):
            return
        result = await self._turn(update, Incoming(text=message.text or ""))

        async def deliver() -> None:
            if result.secret_received:
                try:
                    await message.delete()
                except TelegramError:
                    log.warning("could not delete a password message in chat %s", message.chat_id)
            await self._send_all(message.chat_id, result.replies)

        self._later(message.chat_id, deliver, result.conversation_id)

    async def on_other(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo, a sticker…: show where the conversation stands."""
        if not self._flooded(update):
            self._reply(update, await self._turn(update, Incoming(text="")))

    async def on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: acknowledged at once, then the turn runs; its result follows."""
        query = update.callback_query
        chat = update.effective_chat
        if not query.data or query.data == NOOP or chat is None or chat.type != chat.PRIVATE:
            await _acknowledge(query)
            return
        if not self._allow(chat.id):
            await _acknowledge(query, _slow_down(update))
            return
        await _acknowledge(query)
        page = page_of(query.data)
        # A page of a long list: the step shown again, on that page.
        incoming = Incoming(text="") if page is not None else Incoming(button=query.data[:64])
        result = await self._turn(update, incoming)
        self._later(
            chat.id,
            lambda: self._after_tap(chat.id, query, result.replies, page),
            result.conversation_id,
        )

    async def _after_tap(
        self, chat_id: int, query: CallbackQuery, replies: list[Reply], page: int | None
    ) -> None:
        """Edit the tapped message where it shows a calendar or a page of a list; else retire
        its buttons (only the newest message is live) and send the result below it."""
        in_place = _in_place(replies, query.message, page)
        if in_place is None:
            await _retire_buttons(query)
            await self._send_all(chat_id, replies)
            return
        before, live = in_place
        await self._send_all(chat_id, before)
        if not await self._edit(query, live, page or 0):
            await self.send_to_chat(chat_id, live, page or 0)

    async def _edit(self, query: CallbackQuery, reply: Reply, page: int = 0) -> bool:
        """Edit the tapped message into `reply`; False when Telegram no longer lets us."""
        parts = rendered_parts(reply, page)
        if len(parts) != 1:
            return False  # too long for one message: sent anew, in parts
        [(text, markup)] = parts
        try:
            await self._retrying(lambda: query.edit_message_text(text, reply_markup=markup))
        except BadRequest as error:
            if "not modified" in error.message.lower():
                return True  # the same calendar: nothing to change
            log.info("could not edit message in chat %s: %s", query.message.chat_id, error)
            return False
        return True

    def _reply(self, update: Update, result: TurnResult) -> None:
        chat_id = update.effective_chat.id
        self._later(
            chat_id, lambda: self._send_all(chat_id, result.replies), result.conversation_id
        )

    def _later(self, chat_id: int, job: Job, conversation_id: int | None = None) -> None:
        """Deliver in the background, after the chat's earlier replies."""

        async def run() -> None:
            try:
                await job()
            except DeliveryBlocked:
                log.info("chat %s blocked the bot: marked, pushes stop", chat_id)
                if conversation_id is not None:
                    async with self.database.writing() as db:
                        await mark_blocked(db, conversation_id, self.clock.now())

        self.outgoing.submit(chat_id, run)

    async def _send_all(self, chat_id: int, replies: list[Reply]) -> None:
        for reply in replies:
            await self.send_to_chat(chat_id, reply)

    def _allow(self, chat_id: int) -> bool:
        """Whether this chat may run one more turn now (the web chat's limit, per chat)."""
        if self.limiter.allow(f"{CHANNEL}:{chat_id}"):
            self._slowed.discard(chat_id)
            return True
        return False

    def _flooded(self, update: Update) -> bool:
        """Over the flood limit: the turn is not run; told once until turns are allowed again."""
        chat_id = update.effective_chat.id
        if self._allow(chat_id):
            return False
        if chat_id not in self._slowed:
            if len(self._slowed) > 10_000:
                self._slowed.clear()
            self._slowed.add(chat_id)
            notice = Reply(text=_slow_down(update))
            self._later(chat_id, lambda: self.send_to_chat(chat_id, notice))
        return True

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("Telegram update failed: %s", context.error, exc_info=context.error)
        if not isinstance(update, Update):
            return
        if update.callback_query is not None:
            await _acknowledge(update.callback_query)  # if not yet: else the button spins
        if update.effective_chat is not None:
            chat_id = update.effective_chat.id
            sorry = Reply(
                text="Un problème technique est survenu, réessayez dans un instant. / "
                "Something went wrong, please try again in a moment."
            )
            self._later(chat_id, lambda: self.send_to_chat(chat_id, sorry))

    # -- delivery ----------------------------------------------------------------------

    async def send_to_chat(self, chat_id: int, reply: Reply, page: int = 0) -> None:
        """Send one reply (in several messages when its text is too long for one); wait out
        429s (never drop), give up on a user who blocked us.

        Raises:
            DeliveryBlocked: the user blocked the bot (403): retrying would not help.
            BadRequest: a message Telegram will never take.
            NetworkError: Telegram stayed unreachable through SEND_ATTEMPTS tries.
        """
        bot = self.application.bot
        for text, markup in rendered_parts(reply, page):
            await self._retrying(
                lambda text=text, markup=markup: bot.send_message(
                    chat_id, text, reply_markup=markup
                )
            )

    @staticmethod
    async def _retrying(call: Callable[[], Awaitable[object]]) -> None:
        """Make one Bot API call, through 429s and a few network failures (see send_to_chat)."""
        delay = 1.0
        attempt = 0
        while True:
            try:
                await call()
                return
            except Forbidden as error:
                raise DeliveryBlocked(str(error)) from error
            except BadRequest:
                raise
            except RetryAfter as error:
                # Not an attempt: Telegram took nothing and said when to come back.
                await asyncio.sleep(_retry_seconds(error))
            except NetworkError:
                attempt += 1
                if attempt >= SEND_ATTEMPTS:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

    async def send(self, recipient: Recipient, reply: Reply, key: str | None = None) -> None:
        """A push: paced per chat (the library's rate limiter paces groups, not private chats).

        Telegram cannot tell a repeat: a delivery retried after a crash may show twice."""
        chat_id = int(recipient.key)
        await self._pace(chat_id)
        await self.send_to_chat(chat_id, reply)

    async def _pace(self, chat_id: int) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if len(self._next_push) > 10_000:
            self._next_push = {k: t for k, t in self._next_push.items() if t > now}
        slot = max(now, self._next_push.get(chat_id, now))
        self._next_push[chat_id] = slot + 1 / self.settings.telegram_chat_rate
        if slot > now:
            await asyncio.sleep(slot - now)


def _wall_clock() -> datetime:
    """The lease is about processes being alive, not about the town's day: real time, even
    when RIBAMBELLE_NOW shifts the product's clock (else a crashed demo process's lease could
    outlive it by months)."""
    return datetime.now(UTC)


async def _acknowledge(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press (the spinner stops); a failure never stops what follows."""
    try:
        await query.answer(text[:MAX_TOAST] if text else None)
    except TelegramError as error:
        log.info("could not answer a button press: %s", error)


async def _retire_buttons(query: CallbackQuery) -> None:
    source = query.message
    if source is not None and getattr(source, "reply_markup", None) is not None:
        try:
            await query.edit_message_reply_markup(None)
        except TelegramError:
            pass  # too old to edit, or already without buttons


def _slow_down(update: Update) -> str:
    """The flood notice, in the language Telegram gives (the conversation is not read)."""
    user = update.effective_user
    t = Translator(pick_locale(user.language_code if user is not None else None))
    return t._("Doucement… Trop de messages à la fois : attendez un instant, puis réessayez.")


def _in_place(
    replies: list[Reply], source: object, page: int | None
) -> tuple[list[Reply], Reply] | None:
    """What the tapped message becomes, and what is said before it: the page of a list asked
    for, or its calendar with the outcome of the tap on top; None to send the result anew."""
    if not replies:
        return None
    *before, last = replies
    if page is not None:
        return before, last
    if last.calendar is None or not _shows_calendar(source):
        return None
    if any(r.buttons or r.link or r.calendar for r in before):
        return before, last
    outcome = "\n".join(r.text for r in before)
    joined = replace(last, text=f"{outcome}\n\n{last.text}") if outcome else last
    if len(split_text(reply_text(joined))) > 1:
        return before, last
    return [], joined


def _shows_calendar(message: object) -> bool:
    """Whether the tapped message is a calendar (its title and weekday cells are NOOP)."""
    markup = getattr(message, "reply_markup", None)
    if markup is None:
        return False
    return any(b.callback_data == NOOP for row in markup.inline_keyboard for b in row)


def _retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # int or timedelta until v23
        retry_after = error.retry_after
    if isinstance(retry_after, timedelta):
        return retry_after.total_seconds()
    return float(retry_after)

"""The Telegram channel: python-telegram-bot in polling or webhook mode, over the engine.

Conversation state stays in our database (never in python-telegram-bot's persistence), so a
restart continues every conversation and several webhook processes can share the load.
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
from datetime import UTC, datetime, timedelta

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
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from booking.clock import Clock
from booking.db import Database
from booking.services.conversations import find_conversation
from booking.services.links import acquire_lease, release_lease, unmark_blocked
from bot.delivery import DeliveryBlocked, Recipient
from bot.settings import Settings
from bot.telegram.render import NOOP, reply_markup, reply_text
from dialogs.engine import Engine, Incoming, TurnResult
from dialogs.replies import Reply

log = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
POLLER_LEASE = "telegram-poller"
LEASE_TTL = timedelta(seconds=60)
SEND_ATTEMPTS = 8  # network failures in a row before giving up (429s do not count)
MAX_TOAST = 200  # characters of a callback answer

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


class TelegramChannel:
    channel = CHANNEL

    def __init__(
        self, settings: Settings, engine: Engine, database: Database, clock: Clock
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
        builder = (
            Application.builder()
            .token(settings.telegram_token or "")
            .base_url(settings.telegram_api_url)
            .rate_limiter(
                AIORateLimiter(
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
        """Telegram's call: only with the secret header; the update is handled before 200."""
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

    # -- updates -----------------------------------------------------------------------

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
        await self._send(update, await self._turn(update, incoming))

    async def on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Free text; a password is deleted from the chat once read."""
        message = update.effective_message
        result = await self._turn(update, Incoming(text=message.text or ""))
        if result.secret_received:
            try:
                await message.delete()
            except TelegramError:
                log.warning("could not delete a password message in chat %s", message.chat_id)
        await self._send(update, result)

    async def on_other(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo, a sticker…: show where the conversation stands."""
        await self._send(update, await self._turn(update, Incoming(text="")))

    async def on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: always answered; a calendar is edited in place."""
        query = update.callback_query
        chat = update.effective_chat
        if not query.data or query.data == NOOP or chat is None or chat.type != chat.PRIVATE:
            await query.answer()
            return
        result = await self._turn(update, Incoming(button=query.data[:64]))
        replies = result.replies
        source = query.message
        if replies and replies[-1].calendar is not None and _shows_calendar(source):
            before = " ".join(reply.text for reply in replies[:-1])
            fits = len(before) <= MAX_TOAST
            await query.answer(before if fits and before else None)
            if not fits:  # too long for a toast: said in messages above the calendar
                for reply in replies[:-1]:
                    await self.send_to_chat(chat.id, reply)
            if await self._edit(query, replies[-1]):
                return
            replies = replies[-1:]
        else:
            await query.answer()
            if source is not None and source.reply_markup is not None:
                try:
                    await query.edit_message_reply_markup(None)
                except TelegramError:
                    pass  # too old to edit, or already without buttons
        for reply in replies:
            await self.send_to_chat(chat.id, reply)

    async def _edit(self, query: CallbackQuery, reply: Reply) -> bool:
        """Edit the tapped message into `reply`; False when Telegram no longer lets us."""
        try:
            await query.edit_message_text(reply_text(reply), reply_markup=reply_markup(reply))
        except BadRequest as error:
            if "not modified" in error.message.lower():
                return True  # the same calendar: nothing to change
            log.info("could not edit message in chat %s: %s", query.message.chat_id, error)
            return False
        return True

    async def _send(self, update: Update, result: TurnResult) -> None:
        chat_id = update.effective_chat.id
        for reply in result.replies:
            await self.send_to_chat(chat_id, reply)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("Telegram update failed: %s", context.error, exc_info=context.error)
        if not isinstance(update, Update):
            return
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()  # else the button spins for a while
            except TelegramError:
                pass  # answered already
        if update.effective_chat is not None:
            try:
                await context.bot.send_message(
                    update.effective_chat.id,
                    "Un problème technique est survenu, réessayez dans un instant. / "
                    "Something went wrong, please try again in a moment.",
                )
            except TelegramError:
                pass

    # -- delivery ----------------------------------------------------------------------

    async def send_to_chat(self, chat_id: int, reply: Reply) -> None:
        """Send one message; wait out 429s (never drop), give up on a user who blocked us.

        Raises:
            DeliveryBlocked: the user blocked the bot (403): retrying would not help.
            BadRequest: a message Telegram will never take.
            NetworkError: Telegram stayed unreachable through SEND_ATTEMPTS tries.
        """
        delay = 1.0
        attempt = 0
        while True:
            try:
                await self.application.bot.send_message(
                    chat_id, reply_text(reply), reply_markup=reply_markup(reply)
                )
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

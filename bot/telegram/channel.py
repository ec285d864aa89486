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
import socket
from datetime import timedelta
from urllib.parse import urlparse

from aiohttp import web
from telegram import BotCommand, Update
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

from booking.clock import Clock
from booking.db import Database
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
SEND_ATTEMPTS = 8

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
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.webhook_mode = bool(settings.telegram_webhook_url)
        self._lease_task: asyncio.Task | None = None
        builder = (
            Application.builder()
            .token(settings.telegram_token or "")
            .base_url(settings.telegram_api_url)
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=settings.telegram_max_rate,
                    group_max_rate=settings.telegram_chat_rate,
                    max_retries=3,
                )
            )
            .concurrent_updates(True)
        )
        if self.webhook_mode:
            builder = builder.updater(None)
        self.application: Application = builder.build()
        self.application.add_handler(CommandHandler(list(COMMANDS), self.on_command))
        self.application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        self.application.add_handler(CallbackQueryHandler(self.on_button))
        self.application.add_error_handler(self.on_error)

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Check the token, register the commands, then poll or set the webhook."""
        try:
            await self.application.initialize()  # getMe: a wrong token fails here
        except (InvalidToken, Forbidden) as error:
            raise TelegramStartupError(
                f"Telegram refused the token (RIBAMBELLE_TELEGRAM_TOKEN): {error}"
            ) from error
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
            await bot.delete_webhook()
            await self.application.updater.start_polling(
                allowed_updates=["message", "callback_query"], drop_pending_updates=False
            )
            self._lease_task = asyncio.create_task(self._keep_lease())
            log.info("Telegram @%s: long polling", bot.username)
        await self.application.start()

    async def stop(self) -> None:
        if self._lease_task is not None:
            self._lease_task.cancel()
            await asyncio.gather(self._lease_task, return_exceptions=True)
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        if not self.webhook_mode:
            async with self.database.writing() as db:
                await release_lease(db, POLLER_LEASE, self.holder)
        await self.application.shutdown()

    async def _take_poller_lease(self) -> None:
        async with self.database.writing() as db:
            other = await acquire_lease(db, POLLER_LEASE, self.holder, self.clock.now(), LEASE_TTL)
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
                    await acquire_lease(db, POLLER_LEASE, self.holder, self.clock.now(), LEASE_TTL)
            except Exception:
                log.exception("could not renew the Telegram poller lease")

    # -- webhook -----------------------------------------------------------------------

    def webhook_path(self) -> str:
        return urlparse(self.settings.telegram_webhook_url or "").path or "/telegram/webhook"

    async def webhook(self, request: web.Request) -> web.Response:
        """Telegram's call: only with the secret header; the update is handled before 200."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), webhook_secret(self.settings).encode()):
            return web.json_response({"error": "forbidden"}, status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError):
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
        async with self.database.writing() as db:
            await unmark_blocked(db, CHANNEL, str(chat.id))
        return await self.engine.handle(CHANNEL, str(chat.id), incoming)

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

    async def on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: always answered; a calendar is edited in place."""
        query = update.callback_query
        if not query.data or query.data == NOOP:
            await query.answer()
            return
        result = await self._turn(update, Incoming(button=query.data[:64]))
        replies = result.replies
        source = query.message
        had_calendar = bool(
            source and source.reply_markup and len(source.reply_markup.inline_keyboard) > 4
        )
        if replies and replies[-1].calendar is not None and had_calendar:
            toast = " ".join(reply.text for reply in replies[:-1])[:190]
            await query.answer(toast or None)
            await query.edit_message_text(
                reply_text(replies[-1]), reply_markup=reply_markup(replies[-1])
            )
            return
        await query.answer()
        if source is not None and source.reply_markup is not None:
            try:
                await query.edit_message_reply_markup(None)
            except TelegramError:
                pass  # too old to edit, or already without buttons
        await self._send(update, result)

    async def _send(self, update: Update, result: TurnResult) -> None:
        chat_id = update.effective_chat.id
        for reply in result.replies:
            await self.send_to_chat(chat_id, reply)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("Telegram update failed: %s", context.error, exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
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
        """Send one message; wait out 429s (never drop), give up on a user who blocked us."""
        delay = 1.0
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                await self.application.bot.send_message(
                    chat_id, reply_text(reply), reply_markup=reply_markup(reply)
                )
                return
            except Forbidden as error:
                raise DeliveryBlocked(str(error)) from error
            except BadRequest:
                raise  # a message Telegram will never take: retrying would not help
            except RetryAfter as error:
                await asyncio.sleep(_seconds(error.retry_after))
            except NetworkError:
                if attempt == SEND_ATTEMPTS:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
        raise NetworkError(f"could not deliver to chat {chat_id}")

    async def send(self, recipient: Recipient, reply: Reply) -> None:
        await self.send_to_chat(int(recipient.key), reply)


def _seconds(retry_after: object) -> float:
    if isinstance(retry_after, timedelta):
        return retry_after.total_seconds()
    return float(retry_after)  # type: ignore[arg-type]

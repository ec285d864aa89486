"""Wiring the Telegram channel into the aiohttp application (when a token is set)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.settings import Settings
from bot.telegram.channel import TelegramChannel
from bot.web.keys import CLOCK, DATABASE, DELIVERIES, ENGINE, TURN_LIMITER

log = logging.getLogger(__name__)
TELEGRAM = web.AppKey("telegram", TelegramChannel)


def setup_telegram(app: web.Application, settings: Settings) -> None:
    """Poll or serve the webhook when RIBAMBELLE_TELEGRAM_TOKEN is set; else say so."""
    if not settings.telegram_token:
        log.info("Telegram is off: set RIBAMBELLE_TELEGRAM_TOKEN to turn it on")
        return

    async def telegram_ctx(app: web.Application) -> AsyncIterator[None]:
        channel = TelegramChannel(
            settings, app[ENGINE], app[DATABASE], app[CLOCK], limiter=app[TURN_LIMITER]
        )
        await channel.start()
        app[TELEGRAM] = channel
        app[DELIVERIES].register(channel)
        yield
        await channel.stop()

    app.cleanup_ctx.append(telegram_ctx)
    if settings.telegram_webhook_url:
        from urllib.parse import urlparse

        path = urlparse(settings.telegram_webhook_url).path or "/telegram/webhook"

        async def webhook(request: web.Request) -> web.Response:
            channel = request.app.get(TELEGRAM)
            if channel is None:
                return web.json_response({"error": "starting"}, status=503)
            return await channel.webhook(request)

        app.router.add_post(path, webhook)

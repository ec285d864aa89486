"""The composition root: builds the aiohttp application with its database, clock and jobs."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from booking.clock import Clock, clock_from_env
from booking.db import Database
from bot.delivery import Deliveries
from bot.notify.email import Mailer, SmtpSettings
from bot.notify.worker import OutboxWorker, outbox_counts
from bot.payments.base import Providers
from bot.payments.eopayment_provider import EopaymentProvider
from bot.payments.opening import mount_sandbox, sandbox_opening_ctx
from bot.payments.routes import setup_payment_routes
from bot.payments.sandbox import SandboxProvider
from bot.scheduler import scheduler_ctx
from bot.settings import Settings
from bot.staff.app import setup_staff
from bot.telegram.setup import setup_telegram
from bot.web.account_pages import setup_account_pages
from bot.web.catalogue_api import get_catalogue
from bot.web.chat_api import setup_chat_routes
from bot.web.delivery import WebDelivery
from bot.web.errors import error_middleware
from bot.web.keys import (
    CLOCK,
    DATABASE,
    DELIVERIES,
    ENGINE,
    NEW_CHAT_LIMITER,
    OUTBOX,
    PROVIDERS,
    PUSH_HUB,
    SETTINGS,
    SOCKET_CAPS,
    TURN_LIMITER,
)
from bot.web.legal import setup_legal_routes
from bot.web.privacy_pages import setup_privacy_routes
from bot.web.push import WebPushHub
from bot.web.ratelimit import RateLimiter
from bot.web.security import SocketCaps, setup_security
from dialogs.engine import Engine

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "web" / "static"


async def healthz(request: web.Request) -> web.Response:
    """Liveness and database reachability, for the operator's monitoring."""
    from sqlalchemy import text

    async with request.app[DATABASE].reading() as db:
        await db.execute(text("SELECT 1"))
    return web.json_response(
        {
            "status": "ok",
            "now": request.app[CLOCK].now().isoformat(),
            "outbox": await outbox_counts(request.app[DATABASE]),
        }
    )


async def index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


def build_providers(app: web.Application, settings: Settings) -> Providers:
    """eopayment for structures that ask for it; the test-card sandbox only when opted into
    (RIBAMBELLE_PAYMENT_SANDBOX=1, or a town's catalogue saying `provider: sandbox`)."""
    providers = Providers()
    secret = settings.payment_secret
    if secret is None:
        secret = secrets.token_hex(32)
        log.warning(
            "RIBAMBELLE_PAYMENT_SECRET is not set: sandbox notifications are signed with a "
            "key of this process only (set it when running several processes)"
        )
    sandbox = SandboxProvider(app[DATABASE], app[CLOCK], settings.public_url, secret)
    if settings.payment_sandbox:
        mount_sandbox(app, providers, sandbox)
    app.cleanup_ctx.append(sandbox_opening_ctx(sandbox))
    eopayment = EopaymentProvider.from_env(settings.environ)
    providers.register(eopayment)

    async def close_eopayment(app: web.Application) -> AsyncIterator[None]:
        yield
        eopayment.close()

    app.cleanup_ctx.append(close_eopayment)
    return providers


def build_outbox(app: web.Application, settings: Settings) -> OutboxWorker:
    mailer = Mailer(SmtpSettings.from_url(settings.smtp_url)) if settings.smtp_url else None
    if mailer is None:
        log.warning("RIBAMBELLE_SMTP_URL is not set: e-mail notifications are skipped")
    return OutboxWorker(
        app[DATABASE], app[CLOCK], app[DELIVERIES], public_url=settings.public_url, mailer=mailer
    )


def build_app(
    settings: Settings,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    run_scheduler: bool = True,
    telegram: bool = True,
) -> web.Application:
    # Form bodies (the back office's CSV of households) up to 2 MB; the chat API caps its own
    # bodies far lower (bot/web/chat_api.py MAX_BODY).
    app = web.Application(middlewares=[error_middleware], client_max_size=2 * 1024 * 1024)
    app[SETTINGS] = settings
    app[CLOCK] = clock or clock_from_env(settings.now)
    owns_database = database is None
    app[DATABASE] = database or Database.from_url(settings.database_url)

    async def database_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        if owns_database:
            await app[DATABASE].dispose()

    app.cleanup_ctx.append(database_ctx)
    if run_scheduler:
        app.cleanup_ctx.append(scheduler_ctx)
    app[ENGINE] = Engine(app[DATABASE], app[CLOCK], public_url=settings.public_url)
    app[TURN_LIMITER] = RateLimiter(settings.chat_turns_per_second, settings.chat_burst)
    app[NEW_CHAT_LIMITER] = RateLimiter(
        settings.new_chats_per_minute / 60, max(1, settings.new_chats_per_minute // 4)
    )
    app[PUSH_HUB] = WebPushHub()
    app[SOCKET_CAPS] = SocketCaps(settings.sockets_per_address, settings.sockets_per_conversation)
    setup_security(app)
    app[DELIVERIES] = Deliveries(app[DATABASE], app[CLOCK])
    app[DELIVERIES].register(WebDelivery(app[PUSH_HUB], app[DATABASE], app[CLOCK]))
    app[OUTBOX] = build_outbox(app, settings)
    app[PROVIDERS] = build_providers(app, settings)
    setup_chat_routes(app)
    setup_legal_routes(app)
    setup_account_pages(app)
    setup_privacy_routes(app)
    setup_payment_routes(app)
    setup_staff(app)
    if telegram:
        setup_telegram(app, settings)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/catalogue", get_catalogue)
    app.router.add_get("/", index)
    app.router.add_static("/static", STATIC, show_index=False)
    return app

"""Which towns can take money online, decided at start-up and said in the log.

The test-card sandbox confirms bookings that nobody paid: it is never a default. It answers
only when asked for, by the process (RIBAMBELLE_PAYMENT_SANDBOX=1: the demo, tests) or by a
town's catalogue (`payment: {provider: sandbox}`); otherwise its routes are not mounted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import select

from booking import rules
from booking.models import Structure
from bot.payments.base import Providers
from bot.payments.sandbox import SandboxProvider
from bot.web.keys import DATABASE, PROVIDERS, SETTINGS

log = logging.getLogger(__name__)

SANDBOX = "sandbox"


named_provider = rules.online_provider  # the provider a town's catalogue names, or None


def mount_sandbox(app: web.Application, providers: Providers, sandbox: SandboxProvider) -> None:
    """Register the sandbox and mount its hosted page (once)."""
    if providers.get(SANDBOX) is None:
        providers.register(sandbox)
        app.router.add_routes(sandbox.routes())


def sandbox_opening_ctx(sandbox: SandboxProvider):  # noqa: ANN201
    """At start-up, before the router freezes: mount the sandbox for the towns that ask for
    it, and say which towns cannot take money online."""

    async def opening(app: web.Application) -> AsyncIterator[None]:
        providers = app[PROVIDERS]
        async with app[DATABASE].reading() as db:
            towns = (await db.execute(select(Structure.name, Structure.payment_settings))).all()
        for name, payment_settings in towns:
            provider = named_provider(payment_settings)
            if provider == SANDBOX:
                mount_sandbox(app, providers, sandbox)
                log.warning(
                    "%s: payments by link go to the test-card sandbox: no money is taken", name
                )
            elif provider is None and app[SETTINGS].payment_sandbox:
                log.warning(
                    "%s: no payment provider; RIBAMBELLE_PAYMENT_SANDBOX=1: the test-card "
                    "sandbox takes its payments, no money is taken",
                    name,
                )
            elif provider is None or providers.get(provider) is None:
                log.warning(
                    "%s: no payment provider configured (catalogue `payment: {provider: …}`): "
                    "le paiement en ligne n'est pas encore ouvert; activities paid online "
                    "are refused",
                    name,
                )
        yield

    return opening

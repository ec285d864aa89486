"""The download behind « mes données »: `GET /mes-donnees/<token>` gives everything held about
the household (`booking.services.privacy.export_household`) as a JSON file, once, within the
link's hour; a used, expired or unknown link gets a page saying how to have a new one.

The token is a one-time account token (`Purpose.DATA_EXPORT`): bot/web/security.py keeps it
out of log lines.
"""

from __future__ import annotations

import html
import re

from aiohttp import web

from booking.models import Guardian
from booking.services.account_tokens import Purpose, peek_token, redeem_token
from booking.services.privacy import export_household, export_json
from bot.payments.pages import page, translator, ways_back
from bot.web.keys import CLOCK, DATABASE
from dialogs.flows.privacy import EXPORT_PATH
from dialogs.i18n import Translator

ROUTE = EXPORT_PATH + "{token}"
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _filename(reference: str) -> str:
    return "ribambelle-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", reference).strip("-") or "export")


async def download(request: web.Request) -> web.Response:
    """The household's data as a JSON attachment, if the link is still good; the link is used
    up only once the file is ready (a failure leaves it to try again)."""
    t = translator(request)
    token = request.match_info["token"]
    now = request.app[CLOCK].now()
    async with request.app[DATABASE].reading() as db:
        row = await peek_token(db, token, Purpose.DATA_EXPORT, now)
        guardian = await db.get(Guardian, row.guardian_id) if row is not None else None
        if guardian is None:
            return _expired(request, t)
        data = await export_household(db, guardian.household_id, now)
    async with request.app[DATABASE].writing() as db:
        if await redeem_token(db, token, Purpose.DATA_EXPORT, now) is None:
            return _expired(request, t)  # another request took it meanwhile
    filename = _filename(data["household"]["reference"])
    return web.Response(
        body=export_json(data).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.json"', **PRIVATE},
    )


def _expired(request: web.Request, t: Translator) -> web.Response:
    return page(
        t,
        town="Ribambelle",
        title=t._("Ce lien n'est plus valable"),
        body="<p>"
        + html.escape(
            t._(
                "Ce lien vers vos données a déjà servi ou a expiré : il sert une seule fois, "
                "pendant une heure. Écrivez « mes données » dans la conversation pour en "
                "recevoir un nouveau."
            )
        )
        + f"</p><div class='actions'>{ways_back(request, t)}</div>",
        status=404,
        headers=PRIVATE,
    )


def setup_privacy_routes(app: web.Application) -> None:
    # No HEAD: a link checker's HEAD must not use the link up.
    app.router.add_get(ROUTE, download, allow_head=False)

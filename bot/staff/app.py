"""Mounts the back office: its templates, its static files and every page module's routes."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

# Each page module registers its pages with `bot.staff.web.page` when imported.
from bot.staff import (  # noqa: F401
    admin,
    attendance,
    dashboard,
    dossiers,
    home,
    households,
    invoices,
    messages,
    rosters,
    sessions,
)
from bot.staff.web import PAGES, PREFIX, get_login, guard, post_login

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def setup_staff(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app.router.add_get(PREFIX + "/login", get_login)
    app.router.add_post(PREFIX + "/login", post_login)
    app.router.add_static(PREFIX + "/static", STATIC, show_index=False)
    for item in PAGES:
        app.router.add_route(item.method, item.path, guard(item), name=f"staff.{item.name}")

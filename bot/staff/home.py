"""The back office's first page: where each task is."""

from __future__ import annotations

from aiohttp import web

from booking.services.staff_accounts import StaffContext
from bot.staff.web import page, render


@page("GET", "/", name="home")
async def home(request: web.Request, staff: StaffContext) -> web.Response:
    return render(request, "home.html")

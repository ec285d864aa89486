"""Typed keys of what the composition root puts in the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from booking.clock import Clock
from booking.db import Database
from bot.settings import Settings

DATABASE = web.AppKey("database", Database)
CLOCK = web.AppKey("clock", Clock)
SETTINGS = web.AppKey("settings", Settings)

"""Typed keys of what the composition root puts in the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from booking.clock import Clock
from booking.db import Database
from bot.delivery import Deliveries
from bot.notify.worker import OutboxWorker
from bot.payments.base import Providers
from bot.settings import Settings
from bot.web.push import WebPushHub
from bot.web.ratelimit import RateLimiter
from bot.web.security import SocketCaps
from dialogs.engine import Engine

DATABASE = web.AppKey("database", Database)
CLOCK = web.AppKey("clock", Clock)
SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", Engine)
TURN_LIMITER = web.AppKey("turn_limiter", RateLimiter)
NEW_CHAT_LIMITER = web.AppKey("new_chat_limiter", RateLimiter)
PUSH_HUB = web.AppKey("push_hub", WebPushHub)
DELIVERIES = web.AppKey("deliveries", Deliveries)
PROVIDERS = web.AppKey("providers", Providers)
OUTBOX = web.AppKey("outbox", OutboxWorker)
SOCKET_CAPS = web.AppKey("socket_caps", SocketCaps)

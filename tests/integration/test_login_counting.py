"""Wrong passwords typed at the same moment are all counted, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

import booking.passwords as passwords
from booking.db import Database
from booking.models import Guardian
from booking.refusals import Refusal, Refused
from booking.services.accounts import MAX_FAILED_LOGINS, authenticate
from tests import builders as b
from tests.unit.dialog_script import FAST_HASHER

TRIES = 12


async def _wrong_try(database: Database, login: str, now) -> Refused:  # noqa: ANN001
    async with database.writing() as db:  # the refusal is committed, as the chat does
        try:
            await authenticate(db, login, "devine-1234", now)
        except Refused as refused:
            return refused
    raise AssertionError("a wrong password logged in")


async def test_wrong_passwords_at_the_same_moment_are_each_counted_once(
    database: Database, clock, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)
    async with database.writing() as db:
        adult = await b.guardian(db, await b.household(db, await b.structure(db)))
        adult.password_hash = FAST_HASHER.hash("le-bon-mot-1")
    now = clock.now()

    refusals = await asyncio.gather(*(_wrong_try(database, adult.login, now) for _ in range(TRIES)))

    left = sorted(r.params["attempts_left"] for r in refusals if r.code is Refusal.BAD_CREDENTIALS)
    assert left == [1, 2, 3, 4]  # each count seen once: none lost to a race
    assert sum(r.code is Refusal.ACCOUNT_LOCKED for r in refusals) == TRIES - 4
    async with database.reading() as db:
        stored = await db.get(Guardian, adult.id)
    assert stored.failed_logins == MAX_FAILED_LOGINS  # tries during the wait are not counted
    assert stored.locked_until is not None

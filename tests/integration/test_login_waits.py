"""Logging in tells nothing about which logins exist, and nobody can keep a parent out."""

from __future__ import annotations

import statistics
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import update

import booking.passwords as passwords
from booking.clock import FrozenClock
from booking.models import Guardian
from tests.unit import dialog_script
from tests.unit.dialog_script import PASSWORD, Script

town_template = dialog_script.town_template
sqlite_url = dialog_script.sqlite_url
town = dialog_script.town
engine = dialog_script.engine

#: argon2 dear enough (about 15 ms) to stand out of a turn's other work, cheap enough to
#: repeat: skipping it for one kind of login would show in the medians.
TIMING_HASHER = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
ROUNDS = 15


async def test_a_strangers_wrong_passwords_keep_the_parent_out_no_longer_than_the_wait(
    engine, town, clock: FrozenClock
):
    stranger = Script(engine, "stranger")
    for _ in range(5):
        await stranger.login("dupont", "devine-1234")
    stranger.says("Trop d'essais", "bloqué jusqu'à 09:01")
    for _ in range(30):  # tries during the wait are refused and do not lengthen it
        await stranger.login("dupont", "devine-1234")
        stranger.says("Trop d'essais", "09:01")

    parent = Script(engine, "parent")
    await parent.login("dupont")
    parent.says("Trop d'essais").does_not_offer("Réserver")
    clock.advance(minutes=1)
    await parent.login("dupont")
    parent.says("Bonjour Jean-Paul").offers("Réserver")


async def test_a_stranger_failing_after_every_wait_delays_the_parent_fifteen_minutes_at_most(
    engine, town, clock: FrozenClock
):
    stranger = Script(engine, "stranger")
    for _ in range(12):
        await stranger.login("dupont", "devine-1234")
        clock.advance(minutes=16)
    await stranger.login("dupont", "devine-1234")
    stranger.says("Trop d'essais", "bloqué jusqu'à 12:27")  # 09:00 + 12 × 16 min + 15 min

    parent = Script(engine, "parent")
    clock.advance(minutes=15)
    await parent.login("dupont")
    parent.says("Bonjour Jean-Paul").offers("Réserver")


async def test_an_unknown_login_gets_the_answers_a_wrong_password_gets(engine, town, clock):
    known, unknown = Script(engine, "known"), Script(engine, "unknown")
    for _ in range(8):
        await known.login("dupont", "devine-1234")
        await unknown.login("personne", "devine-1234")
        assert unknown.text == known.text
        clock.advance(seconds=61)


async def _password_turn_seconds(script: Script, login: str, password: str) -> float:
    await script.login(login, password) if script.result is None else await script.send(login)
    if script.result is not None and "mot de passe" not in script.text:
        pytest.fail(f"no password prompt for {login}: {script.text}")
    started = time.perf_counter()
    await script.send(password)
    return time.perf_counter() - started


async def test_a_wrong_password_an_unknown_login_and_a_waiting_login_take_the_same_time(
    engine, town, clock: FrozenClock, sqlite_database, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(passwords, "_hasher", TIMING_HASHER)
    async with sqlite_database.writing() as db:  # stored hashes as dear as the dummy one
        await db.execute(update(Guardian).values(password_hash=TIMING_HASHER.hash(PASSWORD)))
        await db.execute(  # durand waits all along: its tries are refused
            update(Guardian)
            .where(Guardian.login == "durand")
            .values(locked_until=clock.now().replace(hour=23))
        )
    # Each from an address of its own: the counting per address is part of the time taken.
    scripts = {
        name: Script(engine, name, client=f"198.51.100.{n}")
        for n, name in enumerate(("known", "unknown", "waiting"))
    }
    for script in scripts.values():
        await script.send("connexion")
    logins = {"known": "dupont", "unknown": "personne", "waiting": "durand"}
    seconds: dict[str, list[float]] = {name: [] for name in scripts}
    for _ in range(ROUNDS):
        clock.advance(minutes=16)  # the known and unknown logins never wait
        for name, script in scripts.items():
            seconds[name].append(await _password_turn_seconds(script, logins[name], "devine-1234"))
    assert scripts["known"].text == scripts["unknown"].text  # each try counted, then a wait
    scripts["waiting"].says("Trop d'essais", "23:00")

    unknown = statistics.median(seconds["unknown"])
    for name in ("known", "waiting"):
        ratio = statistics.median(seconds[name]) / unknown
        assert 0.5 < ratio < 2, f"{name}: {ratio:.2f} times an unknown login's time {seconds}"

"""Argon2 runs before the turn's write transaction: other parents' turns do not wait for it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select, update

import booking.services.accounts as accounts
from booking.db import Database
from booking.models import Conversation, Guardian
from dialogs.engine import Engine
from tests.unit import dialog_script
from tests.unit.dialog_script import FIRST_PASSWORD, PASSWORD, Script

town_template = dialog_script.town_template
sqlite_url = dialog_script.sqlite_url
town = dialog_script.town
engine = dialog_script.engine

WAIT = 10  # seconds: far more than any turn of this small town takes


@dataclass
class SlowArgon2:
    """Argon2 that waits to be released, and notes whether SQLite's write lock was free."""

    path: str
    calls: list[tuple[str, bool]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def wrap(self, name: str, real: Callable) -> Callable:
        def slow(*args: object) -> object:
            self.calls.append((name, self._write_lock_free()))
            self.started.set()
            assert self.release.wait(WAIT), "never released"
            return real(*args)

        return slow

    def _write_lock_free(self) -> bool:
        connection = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # database is locked: a write transaction is open
            return False
        finally:
            connection.close()  # rolls the probe's empty transaction back
        return True

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, WAIT), "argon2 never started"


@pytest.fixture
def argon2(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> SlowArgon2:
    slow = SlowArgon2(sqlite_url.removeprefix("sqlite+aiosqlite:///"))
    monkeypatch.setattr(accounts, "verify_password", slow.wrap("verify", accounts.verify_password))
    monkeypatch.setattr(accounts, "hash_password", slow.wrap("hash", accounts.hash_password))
    return slow


async def at_password_prompt(engine, login: str = "dupont", key: str = "parent") -> Script:  # noqa: ANN001
    parent = Script(engine, key)
    await parent.send("connexion")
    await parent.send(login)
    parent.says("mot de passe")
    return parent


async def guardian(database: Database, login: str) -> Guardian:
    async with database.reading() as db:
        return await db.scalar(select(Guardian).where(Guardian.login == login))


async def test_another_parents_turn_runs_while_a_password_is_being_verified(
    engine, town, argon2, sqlite_database
):
    parent = await at_password_prompt(engine)
    login = asyncio.create_task(parent.send(PASSWORD))
    await argon2.wait_started()

    other = Script(engine, "other")
    async with asyncio.timeout(WAIT / 2):  # with argon2 inside the lock, this waits for it
        await other.send("connexion")
        async with sqlite_database.writing() as db:
            await db.execute(update(Guardian).values(first_name=Guardian.first_name))
    other.says("identifiant")
    assert not login.done()

    argon2.release.set()
    await login
    parent.says("Bonjour Jean-Paul").offers("Réserver")
    assert parent.result.secret_received
    assert argon2.calls == [("verify", True)]  # verified once, with the write lock free


async def test_an_unknown_login_is_verified_against_a_dummy_hash_outside_the_lock_too(
    engine, town, argon2
):
    parent = await at_password_prompt(engine, "nobody")
    argon2.release.set()
    await parent.send(PASSWORD)
    parent.says("incorrect").does_not_offer("Réserver")
    assert parent.result.secret_received
    assert argon2.calls == [("verify", True)]


async def test_wrong_passwords_verified_outside_the_lock_still_make_the_login_wait(
    engine, town, argon2, sqlite_database
):
    argon2.release.set()
    parent = Script(engine)
    for left in (4, 3, 2, 1):
        await parent.login("dupont", "pas-le-bon-1")
        parent.says("incorrect", f"Il vous reste {left} essai")
    await parent.login("dupont", "pas-le-bon-1")
    parent.says("Trop d'essais", "bloqué jusqu'à 09:01")
    assert argon2.calls == [("verify", True)] * 5

    await parent.login("dupont")  # waiting: refused, after the same argon2 work all the same
    parent.says("Trop d'essais")
    assert argon2.calls == [("verify", True)] * 6
    assert (await guardian(sqlite_database, "dupont")).locked_until is not None


async def test_a_conversation_changed_during_the_check_is_verified_again_inside(
    engine, town, argon2, sqlite_database
):
    parent = await at_password_prompt(engine)
    login = asyncio.create_task(parent.send(PASSWORD))
    await argon2.wait_started()
    async with sqlite_database.writing() as db:  # a racing message saved the state meanwhile
        await db.execute(
            update(Conversation)
            .where(Conversation.key == "parent")
            .values(version=Conversation.version + 1)
        )
    argon2.release.set()
    await login
    parent.says("Bonjour Jean-Paul")
    assert [name for name, _ in argon2.calls] == ["verify", "verify"]
    assert argon2.calls[1] == ("verify", False)  # the fallback: inside the transaction


async def test_a_password_changed_during_the_check_is_judged_against_the_new_hash(
    engine, town, argon2, sqlite_database
):
    parent = await at_password_prompt(engine)
    login = asyncio.create_task(parent.send(PASSWORD))
    await argon2.wait_started()
    async with sqlite_database.writing() as db:  # changed from another device meanwhile
        dupont = await db.scalar(select(Guardian).where(Guardian.login == "dupont"))
        dupont.password_hash = await asyncio.to_thread(
            dialog_script.FAST_HASHER.hash, "autre-mot-77"
        )
    argon2.release.set()
    await login
    parent.says("incorrect", "Il vous reste 4 essai").does_not_offer("Réserver")
    assert (await guardian(sqlite_database, "dupont")).failed_logins == 1


async def test_a_first_login_hashes_and_confirms_the_new_password_outside_the_lock(
    engine, town, argon2, sqlite_database
):
    argon2.release.set()
    parent = Script(engine, "durand")
    await parent.login("durand", FIRST_PASSWORD)
    await parent.send("nouveau-mot-3")
    await parent.send("autre-mot-44")
    parent.says("différents")
    await parent.send("nouveau-mot-3")
    await parent.send("nouveau-mot-3")
    parent.says("mot de passe est enregistré", "RGPD")
    assert parent.result.secret_received
    assert [name for name, _ in argon2.calls] == [
        "verify",  # the first password
        "hash",  # nouveau-mot-3
        "verify",  # autre-mot-44: different
        "hash",  # nouveau-mot-3 again
        "verify",  # its confirmation
        "hash",  # the password stored
    ]
    assert all(lock_free for _, lock_free in argon2.calls)

    durand = await guardian(sqlite_database, "durand")
    assert not durand.must_change_password
    assert dialog_script.FAST_HASHER.verify(durand.password_hash, "nouveau-mot-3")


async def test_a_password_prompt_shown_by_another_process_is_verified_inside(
    engine, town, argon2, sqlite_database, clock
):
    await at_password_prompt(engine)  # the prompt came from this engine…
    restarted = Engine(sqlite_database, clock)  # …the password reaches another process
    argon2.release.set()
    parent = Script(restarted, "parent")

    await parent.send(PASSWORD)

    parent.says("Bonjour Jean-Paul").offers("Réserver")
    assert parent.result.secret_received
    assert argon2.calls == [("verify", False)]  # as before: inside the write transaction


async def test_turns_away_from_a_password_prompt_read_nothing_before_their_transaction(
    engine, town, sqlite_database
):
    parent = Script(engine, "parent")
    await parent.login("dupont")
    assert not engine._at_secret_step  # logged in: no conversation waits for a password

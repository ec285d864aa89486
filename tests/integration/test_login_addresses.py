"""Wrong passwords also count per client address, whatever the logins tried: credential
stuffing waits, counts are shared by every process, and behind a trusted proxy each real
client is counted apart (SQLite and PostgreSQL; the web chat on SQLite)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import booking.passwords as passwords
from booking.clock import FrozenClock
from booking.db import Database
from booking.models import LoginThrottle
from booking.refusals import Refusal, Refused
from booking.services.accounts import authenticate
from booking.services.login_throttles import KEEP_ADDRESSES, purge_login_throttles
from bot.settings import Settings, trusted_proxies
from tests import builders as b
from tests.integration import test_chat_api as chat_api
from tests.integration.test_chat_api import PASSWORD as WEB_PASSWORD
from tests.integration.test_chat_api import Chat, MakeClient, Town
from tests.unit.dialog_script import FAST_HASHER

town = chat_api.town
make_client = chat_api.make_client

PASSWORD = "le-bon-mot-1"
WRONG = "devine-1234"
ADDRESS, NEIGHBOUR = "203.0.113.7", "198.51.100.9"


@pytest.fixture
async def logins(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three guardians' logins, all with PASSWORD (argon2 made cheap)."""
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)
    async with database.writing() as db:
        home = await b.household(db, await b.structure(db))
        adults = [await b.guardian(db, home) for _ in range(3)]
        for adult in adults:
            adult.password_hash = FAST_HASHER.hash(PASSWORD)
        return [adult.login for adult in adults]


async def attempt(
    database: Database, login: str, password: str, now: datetime, client: str | None
) -> Refused | None:
    """One login try, committed as the chat commits it; its refusal, or None when logged in."""
    async with database.writing() as db:
        try:
            await authenticate(db, login, password, now, client=client)
        except Refused as refused:
            return refused
    return None


def locked(until: datetime) -> tuple[Refusal, dict[str, Any]]:
    return Refusal.ACCOUNT_LOCKED, {"until": until}


def answer(refused: Refused | None) -> tuple[Refusal, dict[str, Any]] | None:
    return None if refused is None else (refused.code, refused.params)


async def fail_many(
    database: Database, now: datetime, count: int, client: str = ADDRESS, prefix: str = "inconnu"
) -> list[Refused | None]:
    return [await attempt(database, f"{prefix}-{n}", WRONG, now, client) for n in range(count)]


# The waits of an address ------------------------------------------------------------------


async def test_an_address_trying_many_logins_waits_from_its_twentieth_wrong_password(
    database: Database, logins: list[str], clock: FrozenClock
) -> None:
    now = clock.now()
    # Unknown logins and known ones, none tried often enough to wait on its own.
    tries = [f"inconnu-{n}" for n in range(11)] + logins * 3
    answers = [await attempt(database, login, WRONG, now, ADDRESS) for login in tries]
    assert all(a.code is Refusal.BAD_CREDENTIALS for a in answers[:19]), answers
    assert answer(answers[19]) == locked(now + timedelta(minutes=1))

    # During the wait: the right password, a login never tried: the same refusal, uncounted.
    soon = now + timedelta(seconds=30)
    for login, password in ((logins[0], PASSWORD), ("inconnu-neuf", WRONG)):
        refused = await attempt(database, login, password, soon, ADDRESS)
        assert answer(refused) == locked(now + timedelta(minutes=1))
    # From another address, the parent logs in.
    assert await attempt(database, logins[0], PASSWORD, soon, NEIGHBOUR) is None

    later = now + timedelta(minutes=1)
    refused = await attempt(database, "inconnu-onze", WRONG, later, ADDRESS)
    assert answer(refused) == locked(later + timedelta(minutes=2))  # doubled


async def test_an_address_waits_fifteen_minutes_at_most(
    database: Database, logins: list[str], clock: FrozenClock
) -> None:
    await fail_many(database, clock.now(), 19)
    for n in range(8):
        clock.advance(minutes=16)  # after each wait, one more wrong password
        refused = await attempt(database, f"autre-{n}", WRONG, clock.now(), ADDRESS)
        wait = [1, 2, 4, 8, 15, 15, 15, 15][n]
        assert answer(refused) == locked(clock.now() + timedelta(minutes=wait))
    clock.advance(minutes=15)
    assert await attempt(database, logins[0], PASSWORD, clock.now(), ADDRESS) is None


async def test_a_successful_login_forgives_none_of_the_addresses_wrong_passwords(
    database: Database, logins: list[str], clock: FrozenClock
) -> None:
    now = clock.now()
    await fail_many(database, now, 19)
    # A prober's own account, logged into between tries, launders nothing.
    assert await attempt(database, logins[0], PASSWORD, now, ADDRESS) is None
    refused = await attempt(database, "inconnu-vingt", WRONG, now, ADDRESS)
    assert answer(refused) == locked(now + timedelta(minutes=1))


async def test_an_address_left_quiet_for_six_hours_starts_afresh(
    database: Database, logins: list[str], clock: FrozenClock
) -> None:
    await fail_many(database, clock.now(), 19)
    clock.advance(hours=6, minutes=1)  # a night without a wrong password
    answers = await fail_many(database, clock.now(), 19, prefix="matin")
    assert all(a.code is Refusal.BAD_CREDENTIALS for a in answers)
    refused = await attempt(database, "matin-20", WRONG, clock.now(), ADDRESS)
    assert answer(refused) == locked(clock.now() + timedelta(minutes=1))


async def test_a_known_and_an_unknown_login_get_the_same_answers_through_the_address_waits(
    database: Database, logins: list[str], clock: FrozenClock
) -> None:
    known: list[Refused | None] = []
    unknown: list[Refused | None] = []
    for _ in range(20):
        now = clock.now()
        for moment in (now, now + timedelta(seconds=30), now + timedelta(minutes=3)):
            known.append(await attempt(database, logins[0], WRONG, moment, ADDRESS))
            unknown.append(await attempt(database, "personne", WRONG, moment, NEIGHBOUR))
        clock.advance(minutes=16)
    assert [answer(a) for a in known] == [answer(a) for a in unknown]
    assert {a.code for a in known} == {Refusal.BAD_CREDENTIALS, Refusal.ACCOUNT_LOCKED}
    async with database.reading() as db:
        counts = [(await db.get(LoginThrottle, key)).failures for key in (ADDRESS, NEIGHBOUR)]
    assert counts[0] == counts[1] >= 20  # both addresses went through their waits too


# Counting: atomic, and shared by every process ---------------------------------------------


async def test_wrong_passwords_from_one_address_in_two_processes_at_once_each_count_once(
    database: Database, database_url: str, logins: list[str], clock: FrozenClock
) -> None:
    other_process = Database.from_url(database_url)
    now = clock.now()
    try:
        refusals = await asyncio.gather(
            *(
                attempt((database, other_process)[n % 2], f"inconnu-{n}", WRONG, now, ADDRESS)
                for n in range(30)
            )
        )
    finally:
        await other_process.dispose()

    codes = [refused.code for refused in refusals]
    assert codes.count(Refusal.BAD_CREDENTIALS) == 19  # none lost to a race
    assert codes.count(Refusal.ACCOUNT_LOCKED) == 11
    async with database.reading() as db:
        counted = await db.get(LoginThrottle, ADDRESS)
    assert counted.failures == 20  # tries during the wait are not counted


async def test_an_ipv6_client_counts_with_its_whole_slash_64(
    database: Database, logins: list[str], clock: FrozenClock
) -> None:
    now = clock.now()
    for n in range(20):  # one subscriber, a new address for each try
        refused = await attempt(database, f"inconnu-{n}", WRONG, now, f"2001:db8:1:2::{n:x}")
    assert answer(refused) == locked(now + timedelta(minutes=1))
    assert await attempt(database, logins[0], PASSWORD, now, "2001:db8:1:3::1") is None


async def test_addresses_are_purged_a_day_after_their_last_wrong_password_unknown_logins_later(
    database: Database, logins: list[str], clock: FrozenClock
) -> None:
    async def purge(keep: timedelta = KEEP_ADDRESSES) -> int:
        async with database.writing() as db:
            return await purge_login_throttles(db, clock.now(), keep)

    await fail_many(database, clock.now(), 3, client=NEIGHBOUR, prefix="hier")
    clock.advance(days=1, minutes=1)
    await fail_many(database, clock.now(), 20)  # the address waits a minute
    assert await purge() == 1  # the neighbour's address only
    clock.advance(seconds=30)
    assert await purge(keep=timedelta(0)) == 0  # a running wait is never forgotten
    clock.advance(days=1)
    assert await purge() == 1  # this address too, its wait long over
    clock.advance(days=88)
    assert await purge() == 3  # "hier-0..2": kept 90 days, as a real login's count is kept
    async with database.reading() as db:
        assert await db.get(LoginThrottle, ADDRESS) is None


# The web chat: the real client's address, behind a trusted proxy -------------------------


def web_settings(**values: object) -> Settings:
    return Settings(
        database_url="sqlite://unused",
        chat_turns_per_second=1000,  # the flood limit is another test's business
        chat_burst=1000,
        **values,  # type: ignore[arg-type]
    )


class ProxiedChat(Chat):
    """A web conversation whose requests carry an X-Forwarded-For header."""

    def __init__(self, client: TestClient, forwarded_for: str) -> None:
        super().__init__(client)
        self.forwarded_for = forwarded_for

    async def send(self, **body: Any) -> list[dict[str, Any]]:
        response = await self.client.post(
            "/api/chat/turn",
            json={"conversation": self.token, **body},
            headers={"X-Forwarded-For": self.forwarded_for},
        )
        assert response.status == 200, await response.text()
        reply = await response.json()
        self.token = reply["conversation"]
        self.last = reply["messages"]
        return self.last

    async def try_login(self, login: str, password: str) -> str:
        """Answer the login and password prompts; what the chat said."""
        if self.token is None:
            await self.start()
            await self.press("Se connecter")
        await self.say(login)
        await self.say(password)
        return self.text


async def test_behind_a_trusted_proxy_wrong_passwords_count_per_real_client(
    make_client: MakeClient, town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)
    client = await make_client(
        web_settings(trusted_proxies=trusted_proxies("127.0.0.1")), cookies=False
    )
    prober = ProxiedChat(client, ADDRESS)
    for n in range(19):
        assert "incorrect" in await prober.try_login(f"inconnu-{n}", WRONG)
    assert "Trop d'essais" in await prober.try_login(town.martin_login, WRONG)
    # The same client in a new conversation: its address still waits, even the right password.
    again = ProxiedChat(client, f"192.0.2.1, {ADDRESS}")  # the proxy appends the real client
    assert "Trop d'essais" in await again.try_login(town.dupont_login, WEB_PASSWORD)

    parent = ProxiedChat(client, NEIGHBOUR)  # another parent behind the same proxy
    assert "Bonjour" in await parent.try_login(town.dupont_login, WEB_PASSWORD)


async def test_an_untrusted_peer_cannot_spread_its_wrong_passwords_over_forwarded_addresses(
    make_client: MakeClient, town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)
    client = await make_client(web_settings(), cookies=False)  # no trusted proxy
    chat = ProxiedChat(client, ADDRESS)
    answers = []
    for n in range(20):
        chat.forwarded_for = f"198.51.100.{n}"  # a new address claimed at each try
        answers.append(await chat.try_login(f"inconnu-{n}", WRONG))
    assert all("incorrect" in text for text in answers[:19])
    assert "Trop d'essais" in answers[19]  # all twenty came from the one peer


async def test_a_websocket_turn_counts_under_the_real_clients_address(
    make_client: MakeClient,
    town: Town,
    sqlite_database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)
    client = await make_client(
        web_settings(trusted_proxies=trusted_proxies("127.0.0.1")), cookies=False
    )
    chat = ProxiedChat(client, ADDRESS)
    await chat.start()
    await chat.press("Se connecter")
    socket = await client.ws_connect("/api/chat/ws", headers={"X-Forwarded-For": ADDRESS})
    try:
        await socket.send_json({"conversation": chat.token, "text": "inconnu"})
        assert "mot de passe" in (await socket.receive_json(timeout=10))["text"]
        await socket.send_json({"text": WRONG})
        assert "incorrect" in (await socket.receive_json(timeout=10))["text"]
    finally:
        await socket.close()
    async with sqlite_database.reading() as db:
        counted = await db.get(LoginThrottle, ADDRESS)
    assert counted is not None and counted.failures == 1

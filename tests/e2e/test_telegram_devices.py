"""Connected devices, in both channels: the household sees the conversations logged in to it (a
Telegram chat, a web chat) and ends any of them; logging out in Telegram ends that link."""

from __future__ import annotations

import re

import aiohttp
import pytest

from bot.web.keys import DELIVERIES, ENGINE
from tests.e2e import test_telegram as harness
from tests.e2e.test_telegram import MARIE, PASSWORD, Telegram, Town, conversation, texts
from tests.fake_telegram import FakeTelegram
from tests.unit.dialog_script import Script

# The running bot and its town (fixtures shared with the other Telegram tests).
database = harness.database
town = harness.town
fake = harness.fake
settings = harness.settings
app = harness.app
telegram = harness.telegram

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def web_chat(app: aiohttp.web.Application, town: Town, key: str = "tablet") -> Script:
    web = Script(app[ENGINE], key)
    await web.login(town.login, PASSWORD)
    return web.says("Bonjour Jean")


def number_of(text: str, device: str) -> str:
    """The number the devices list gives to a device ("2. Telegram (Jean) — …")."""
    return re.search(rf"^(\d+)\. {re.escape(device)}", text, re.MULTILINE).group(1)


async def test_the_web_chat_lists_the_telegram_chat_and_ends_it_which_stops_its_pushes(
    telegram: Telegram, app: aiohttp.web.Application, database, town: Town
) -> None:
    await telegram.log_in(MARIE, town)
    web = await web_chat(app, town)

    await web.send("mes appareils")
    web.says("Appareils connectés", "Telegram (Jean) — ouverte le lundi 1er mars 2027")
    web.says("Conversation sur le site (Jean) — ouverte le", "— cette conversation")
    web.offers("Me déconnecter (cette conversation)", "Notifications", "Menu")
    recipients = await app[DELIVERIES].recipients(town.household_id)
    assert sorted(r.channel for r in recipients) == ["telegram", "web"]

    await web.press(f"Déconnecter n°{number_of(web.text, 'Telegram')}")
    web.says("cet appareil est déconnecté").never_says("Telegram (Jean)")
    assert (await conversation(database, MARIE)).household_id is None
    recipients = await app[DELIVERIES].recipients(town.household_id)
    assert [r.channel for r in recipients] == ["web"]  # pushes to the chat stop

    # The chat forgot the household: its next request asks to log in first.
    assert "Connectez-vous d'abord" in texts(await telegram.say(MARIE, "mes réservations"))


async def test_telegram_reaches_the_devices_from_notifications_ends_the_web_chat_then_logs_out(
    telegram: Telegram, fake: FakeTelegram, app: aiohttp.web.Application, database, town: Town
) -> None:
    await telegram.log_in(MARIE, town)
    web = await web_chat(app, town)
    await telegram.tap(MARIE, "Notifications")
    await telegram.tap(MARIE, "Appareils connectés")
    listing = fake.last_message(MARIE)
    assert "Telegram (Jean) — ouverte le" in listing["text"]
    assert re.search(r"^\d+\. Telegram \(Jean\) — .* — cette conversation$", listing["text"], re.M)

    number = number_of(listing["text"], "Conversation sur le site")
    await telegram.tap(MARIE, f"Déconnecter n°{number}", listing)
    done, listing = fake.sent_to(MARIE)[-2:]
    assert "cet appareil est déconnecté" in done["text"]
    assert "Conversation sur le site" not in listing["text"]
    await web.send("mes réservations")
    web.says("Connectez-vous d'abord")

    await telegram.tap(MARIE, "Me déconnecter (cette conversation)", listing)
    said = fake.last_message(MARIE)
    assert "n'est plus liée à votre compte famille" in fake.sent_to(MARIE)[-2]["text"]
    assert "Se connecter" in fake.buttons(said)
    assert (await conversation(database, MARIE)).household_id is None
    assert await app[DELIVERIES].recipients(town.household_id) == []


async def test_logging_out_in_telegram_ends_its_link_and_the_list_no_longer_shows_it(
    telegram: Telegram, app: aiohttp.web.Application, database, town: Town
) -> None:
    for phone in (MARIE, MARIE + 1, MARIE + 2):
        await telegram.log_in(phone, town)
    web = await web_chat(app, town)

    said = texts(await telegram.say(MARIE, "/logout"))
    assert "cette conversation Telegram n'est plus liée à votre compte famille" in said
    assert (await conversation(database, MARIE)).household_id is None

    await web.send("appareils connectés")
    assert web.text.count("Telegram (Jean)") == 2  # the other phones only
    await web.press("Déconnecter tous les autres")
    web.says("2 appareils déconnectés").never_says("Telegram (Jean)")
    for phone in (MARIE + 1, MARIE + 2):
        assert (await conversation(database, phone)).household_id is None


async def test_the_devices_list_is_for_logged_in_parents_only(
    telegram: Telegram, app: aiohttp.web.Application
) -> None:
    assert "Connectez-vous d'abord" in texts(await telegram.say(MARIE, "my devices"))
    web = Script(app[ENGINE], "visitor", locale="en")
    await web.send("my connected devices")
    web.says("Log in first")

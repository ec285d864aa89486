"""« mes données » in the web chat of the demo town, served by the real app: a one-time link
that downloads everything held about the household as a JSON file, once, within the hour;
a used or expired link gets a French page; the token never reaches the access log."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from booking.clock import FrozenClock
from tests.integration import test_payments_flow as flow
from tests.integration.test_payments_flow import Chat, page_of, path_of, plain

demo_template = flow.demo_template
demo = flow.demo
client = flow.client


async def export_link(client: TestClient) -> tuple[Chat, str]:
    chat = Chat(client)
    await chat.log_in("dupont")
    await chat.say("mes données")
    assert "Le lien sert une seule fois, pendant 1 heure." in chat.text, chat.text
    link = chat.link
    assert plain(link["label"]) == "Télécharger mes données"
    path = path_of(client, link["url"])
    assert re.fullmatch(r"/mes-donnees/[A-Za-z0-9_-]{40,}", path), path
    return chat, path


async def test_a_parent_downloads_everything_held_about_the_household_once(client, demo):
    _chat, path = await export_link(client)

    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert (
        response.headers["Content-Disposition"] == 'attachment; filename="ribambelle-dupont.json"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    body = await response.text()
    exported = json.loads(body)
    assert exported["household"]["reference"] == "dupont"
    assert {"Léa", "Paolo", "Amalia"} <= {p["first_name"] for p in exported["participants"]}
    assert exported["guardians"][0]["login"] == "dupont"
    assert any("Bonjour" in m["body"]["text"] for m in exported["pushed_messages"])
    assert [t["purpose"] for t in exported["account_tokens"]] == ["data_export"]
    assert "$argon2" not in body and "MARTIN" not in body and "Zoé" not in body

    again = await client.get(path)
    assert again.status == 404
    page = await page_of(again)
    assert "Ce lien n'est plus valable" in page
    assert "Écrivez « mes données » dans la conversation" in page
    assert again.headers["Cache-Control"] == "no-store"


async def test_a_link_past_its_hour_gives_a_page_saying_how_to_get_a_new_one(
    client, demo, clock: FrozenClock
):
    _chat, path = await export_link(client)
    clock.advance(timedelta(hours=1, seconds=1))

    response = await client.get(path)
    assert response.status == 404
    assert "il sert une seule fois, pendant une heure" in await page_of(response)


async def test_a_head_request_does_not_use_the_link_up(client, demo):
    _chat, path = await export_link(client)

    assert (await client.head(path)).status == 405
    assert (await client.get(path)).status == 200


async def test_a_forged_link_gets_the_page_too(client, demo):
    response = await client.get("/mes-donnees/" + "A" * 43)
    assert response.status == 404
    assert "Ce lien n'est plus valable" in await page_of(response)


async def test_the_access_log_never_holds_the_export_token(
    client, demo, caplog: pytest.LogCaptureFixture
):
    # Before the first request: a connection decides once whether it logs.
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        _chat, path = await export_link(client)
        await client.get(path)
        await client.get(path + "?x=1")
        for _ in range(100):  # the server logs a request once its response is sent
            logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
            if any("/mes-donnees/" in line for line in logged[-2:]):
                break
            await asyncio.sleep(0.01)
    token = path.rsplit("/", 1)[-1]
    assert any("/mes-donnees/[redacted]" in line for line in logged), logged
    assert not any(token in line for line in logged)


async def test_a_visitor_is_asked_to_log_in_before_having_any_data(client, demo):
    chat = Chat(client)
    await chat.say("mes données")
    assert "Connectez-vous d'abord" in chat.text
    assert not any(message["link"] for message in chat.last)

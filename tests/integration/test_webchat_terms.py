"""The terms of use and the privacy notice asked at first login: readable from that step (two
served pages, French or English), and typing there never drops the half-finished login."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from booking.db import Database
from booking.models import Guardian
from tests.integration import test_chat_api as chat_api
from tests.integration.test_chat_api import Chat, Town

TERMS = "Avant de continuer, lisez la notice de confidentialité"

town = chat_api.town
make_client = chat_api.make_client
client = chat_api.client


@pytest.fixture
async def first_login(town: Town, sqlite_database: Database) -> Town:
    """Jean DUPONT has never accepted the terms."""
    async with sqlite_database.writing() as db:
        await db.execute(
            update(Guardian)
            .where(Guardian.login == town.dupont_login)
            .values(terms_accepted_at=None)
        )
    return town


async def terms_accepted(database: Database, login: str) -> bool:
    async with database.reading() as db:
        accepted = await db.scalar(
            select(Guardian.terms_accepted_at).where(Guardian.login == login)
        )
    return accepted is not None


async def test_the_terms_step_links_to_the_terms_and_the_privacy_notice(
    client: TestClient, first_login: Town
) -> None:
    chat = Chat(client)
    asked = await chat.log_in(first_login.dupont_login)
    terms = asked[-1]
    assert terms["text"].startswith(TERMS)
    assert terms["link"]["url"].endswith("/cgu")
    assert terms["link"]["label"] == "Lire les conditions d'utilisation"
    urls = re.findall(r"https?://\S+", terms["text"])
    assert [url.rsplit("/", 1)[1] for url in urls] == ["cgu", "confidentialite"]
    for url in urls:
        response = await client.get("/" + url.rsplit("/", 1)[1])
        assert response.status == 200
        assert response.content_type == "text/html"


@pytest.mark.parametrize(
    "typed",
    ["réserver la cantine pour Léa", "menu", "aide", "se connecter", "bonjour", "mon solde"],
)
async def test_typing_at_the_terms_step_asks_again_and_keeps_the_login(
    client: TestClient, first_login: Town, sqlite_database: Database, typed: str
) -> None:
    chat = Chat(client)
    await chat.log_in(first_login.dupont_login)
    again = await chat.say(typed)
    assert "Pour continuer, lisez les textes" in again[0]["text"]
    assert again[-1]["text"].startswith(TERMS)
    assert not await terms_accepted(sqlite_database, first_login.dupont_login)

    await chat.press("J'accepte")
    assert "Merci, c'est noté." in chat.text
    assert "Que voulez-vous faire ?" in chat.text
    assert await terms_accepted(sqlite_database, first_login.dupont_login)


async def test_typing_the_buttons_words_at_the_terms_step_acts_as_the_buttons(
    client: TestClient, first_login: Town, sqlite_database: Database
) -> None:
    chat = Chat(client)
    await chat.log_in(first_login.dupont_login)
    await chat.say("Je refuse")
    assert "Vous êtes déconnecté" in chat.text
    assert not await terms_accepted(sqlite_database, first_login.dupont_login)

    await chat.log_in(first_login.dupont_login)
    await chat.say("J’accepte !")
    assert "Merci, c'est noté." in chat.text
    assert await terms_accepted(sqlite_database, first_login.dupont_login)


class Outline(HTMLParser):
    """The html lang, the headings, the links and the viewport of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = ""
        self.viewport = ""
        self.headings: list[str] = []
        self.links: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang") or ""
        elif tag == "meta" and values.get("name") == "viewport":
            self.viewport = values.get("content") or ""
        elif tag == "a":
            self.links.append(values.get("href") or "")
        elif tag in ("h1", "h2"):
            self._in = tag
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.headings[-1] += data


async def outline(client: TestClient, path: str, **headers: str) -> Outline:
    response = await client.get(path, headers=headers)
    assert response.status == 200
    page = Outline()
    page.feed(await response.text())
    return page


@pytest.mark.parametrize(
    ("path", "french", "english"),
    [
        ("/cgu", "Conditions d'utilisation", "Terms of use"),
        ("/confidentialite", "Notice de confidentialité", "Privacy notice"),
    ],
)
async def test_the_pages_are_french_or_english_and_fit_a_phone(
    client: TestClient, path: str, french: str, english: str
) -> None:
    page = await outline(client, path)
    assert (page.lang, page.headings[0]) == ("fr", french)
    assert "width=device-width" in page.viewport
    assert "/" in page.links, "a way back to the conversation"
    assert {"/cgu", "/confidentialite"} <= set(page.links)
    assert f"{path}?lang=en" in page.links

    for english_page in (
        await outline(client, f"{path}?lang=en"),
        await outline(client, path, **{"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"}),
    ):
        assert (english_page.lang, english_page.headings[0]) == ("en", english)
        assert {"/cgu?lang=en", "/confidentialite?lang=en"} <= set(english_page.links)
    french_again = await outline(client, f"{path}?lang=fr", **{"Accept-Language": "en-GB,en;q=0.9"})
    assert french_again.headings[0] == french
    assert len(page.headings) == len(english_page.headings) > 4

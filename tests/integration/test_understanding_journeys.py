"""Parents writing as parents write, through the web chat API, in the demo town (issue 10):
a whole sentence reaches the recap, a half-understood one says what it missed, corrections
change the request, two children and several cancellations go in one sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from booking.clock import FrozenClock
from booking.db import Database
from booking.demo import load_demo
from booking.models import Booking, BookingState, Participant
from bot.app import build_app
from bot.settings import Settings

Message = dict[str, Any]


@pytest.fixture
async def demo(sqlite_database: Database, clock: FrozenClock) -> Database:
    assert await load_demo(sqlite_database, clock.now())
    return sqlite_database


@pytest.fixture
async def client(demo: Database, clock: FrozenClock) -> AsyncIterator[TestClient]:
    settings = Settings(database_url="sqlite://unused", chat_turns_per_second=100, chat_burst=200)
    app = build_app(settings, database=demo, clock=clock, run_scheduler=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


class Parent:
    """One web conversation of the dupont household; counts the turns after logging in."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token: str | None = None
        self.last: list[Message] = []
        self.turns = 0

    async def send(self, **body: Any) -> list[Message]:
        response = await self.client.post(
            "/api/chat/turn", json={"conversation": self.token, **body}
        )
        assert response.status == 200, await response.text()
        reply = await response.json()
        self.token = reply["conversation"]
        self.last = reply["messages"]
        self.turns += 1
        return self.last

    async def say(self, text: str) -> list[Message]:
        return await self.send(text=text)

    async def press(self, label: str) -> list[Message]:
        for message in reversed(self.last):
            for row in message["buttons"]:
                for button in row:
                    if button["label"] == label:
                        return await self.send(button=button["payload"])
        raise AssertionError(f"no button {label!r}:\n{self.text}\n{self.labels}")

    async def log_in(self, language: str = "fr") -> None:
        await self.say("English" if language == "en" else "connexion")
        if language == "en":
            await self.say("log in")
        await self.say("dupont")
        await self.say("demo-dupont")
        assert "Jean-Paul" in self.text, self.text
        self.turns = 0

    @property
    def text(self) -> str:
        return "\n".join(m["text"] for m in self.last).replace("\u202f", " ").replace("\xa0", " ")

    @property
    def labels(self) -> list[str]:
        return [b["label"] for m in self.last for row in m["buttons"] for b in row]

    @property
    def link(self) -> dict | None:
        return next((m["link"] for m in reversed(self.last) if m["link"]), None)

    def says(self, *fragments: str) -> None:
        for fragment in fragments:
            assert fragment in self.text, f"{fragment!r} not in:\n{self.text}"

    def never_says(self, *fragments: str) -> None:
        for fragment in fragments:
            assert fragment not in self.text, f"{fragment!r} in:\n{self.text}"


@pytest.fixture
async def parent(client: TestClient) -> Parent:
    parent = Parent(client)
    await parent.log_in()
    return parent


async def child_id(database: Database, name: str) -> int:
    async with database.reading() as db:
        return await db.scalar(select(Participant.id).where(Participant.first_name == name))


async def states_of(database: Database, name: str) -> list[tuple[date, BookingState]]:
    async with database.reading() as db:
        bookings = await db.scalars(
            select(Booking).where(Booking.participant_id == await child_id(database, name))
        )
        return [(b.session_id, b.state) for b in bookings]


async def test_a_whole_sentence_reaches_the_pay_link_in_three_turns(parent: Parent):
    await parent.say("inscris Léa au mercredi loisirs le 3 et le 24")
    parent.says(
        "Récapitulatif",
        "Léa — Mercredis loisirs 6-12 ans — mercredi 3 mars",
        "Léa — Mercredis loisirs 6-12 ans — mercredi 24 mars",
        "Total : 20,00 €",
    )
    await parent.press("Confirmer")
    parent.says("À payer en ligne : 20,00 €")
    assert parent.link is not None and "/pay/" in parent.link["url"]
    assert parent.turns <= 3


async def test_the_dates_decide_between_the_wednesday_and_the_summer_leisure_centre(parent):
    await parent.say("inscris Léa au centre de loisirs mercredi 10 mars")
    parent.says("Léa — Mercredis loisirs 6-12 ans — mercredi 10 mars")
    parent.never_says("Été au centre de loisirs", "Pas de séance")


async def test_two_children_in_one_sentence(parent: Parent):
    await parent.say("Paolo et Léa à la cantine jeudi")
    parent.says(
        "Paolo — Restaurant scolaire — jeudi 4 mars", "Léa — Restaurant scolaire — jeudi 4 mars"
    )
    parent.never_says("Pour quel enfant")


async def test_a_parent_and_a_child_climb_together_the_adults_place_first(parent: Parent):
    await parent.say("escalade samedi pour Amalia et Jean-Paul")
    parent.says(
        "Amalia — Escalade en famille — samedi 6 mars",
        "Jean-Paul — Escalade en famille — samedi 6 mars",
    )
    parent.never_says("Pas possible")


async def test_both_children_means_those_of_an_age_for_the_activity(parent: Parent):
    await parent.say("les deux au centre aéré le 17 mars")
    parent.says("Quelle activité pour Paolo ?")  # 6: both age groups take him
    await parent.press("Mercredis loisirs 3-6 ans")
    parent.says(
        "Léa — Mercredis loisirs 6-12 ans — mercredi 17 mars",
        "Paolo — Mercredis loisirs 3-6 ans — mercredi 17 mars",
    )
    parent.never_says("Amalia")  # 13: too old for either


async def test_a_real_tie_is_asked_with_only_the_tied_activities_and_the_dates_are_kept(parent):
    await parent.say("inscris Paolo au mercredi loisirs le 10 et le 17")
    parent.says("Quelle activité pour Paolo ?")
    assert sorted(parent.labels[:2]) == ["Mercredis loisirs 3-6 ans", "Mercredis loisirs 6-12 ans"]
    assert "Restaurant scolaire" not in parent.labels
    await parent.press("Mercredis loisirs 6-12 ans")
    parent.says(
        "Paolo — Mercredis loisirs 6-12 ans — mercredi 10 mars",
        "Paolo — Mercredis loisirs 6-12 ans — mercredi 17 mars",
    )


async def test_corrections_after_the_recap_change_the_request(parent: Parent):
    await parent.say("inscris Paolo aux mercredis loisirs 6-12 ans le 10 et le 17")
    parent.says("Paolo — Mercredis loisirs 6-12 ans — mercredi 17 mars")
    await parent.say("plutôt le 3-6 ans")
    parent.says(
        "Paolo — Mercredis loisirs 3-6 ans — mercredi 17 mars",
        "Paolo — Mercredis loisirs 3-6 ans — mercredi 24 mars".replace("24", "17"),
    )
    parent.never_says("6-12")
    await parent.say("ajoute le 24")
    parent.says("Paolo — Mercredis loisirs 3-6 ans — mercredi 24 mars")
    await parent.say("enlève le 17")
    parent.never_says("mercredi 17 mars")
    parent.says("mercredi 24 mars")
    await parent.say("et pour Léa aussi")
    parent.says("Léa — Mercredis loisirs 6-12 ans — mercredi 24 mars")


async def test_several_bookings_cancelled_in_one_sentence(parent: Parent, demo: Database):
    await parent.say("Paolo et Léa à la cantine jeudi et vendredi")
    await parent.press("Confirmer")
    parent.says("confirmé")
    await parent.say("annule la cantine de Léa et de Paolo vendredi")
    parent.says(
        "Annulations",
        "Léa — Restaurant scolaire — vendredi 5 mars",
        "Paolo — Restaurant scolaire — vendredi 5 mars",
    )
    parent.never_says("jeudi 4 mars")
    await parent.say("oui")
    parent.says("Léa — Restaurant scolaire — vendredi 5 mars : annulé")
    parent.says("Paolo — Restaurant scolaire — vendredi 5 mars : annulé")


async def test_cancel_everything_for_a_child_next_week(parent: Parent):
    await parent.say("inscris Paolo à la cantine et à la garderie du soir la semaine prochaine")
    await parent.say("inscris Paolo à la cantine la semaine prochaine")
    await parent.press("Confirmer")
    await parent.say("annule tout pour Paolo la semaine prochaine")
    parent.says("Annulations", "Paolo — Restaurant scolaire : 4 annulations (ne sera pas facturé)")
    parent.says("mars : 8, 9, 11, 12")


async def test_a_half_understood_message_says_what_it_understood_and_quotes_the_rest(parent):
    await parent.say("inscris Paolo à la cantine à la saint-glinglin")
    parent.says(
        "J'ai compris : Paolo, Restaurant scolaire.",
        "Je n'ai pas compris « saint-glinglin » comme des dates",
    )
    assert parent.text.count("Je n'ai pas compris") == 1, parent.text  # said once
    assert any(m["calendar"] for m in parent.last), "the calendar asks for the dates"


async def test_a_correction_goes_on_after_a_recap_left_empty(parent: Parent):
    await parent.say("inscris Paolo à la cantine lundi")  # the demo's Monday: booked already
    parent.says("Cette séance est déjà réservée", "Votre panier est vide")
    await parent.say("plutôt jeudi")
    parent.says("Paolo — Restaurant scolaire — jeudi 4 mars")
    await parent.say("et pour Amalia aussi")  # 13: too old for the canteen, and told so
    parent.says("Paolo — Restaurant scolaire — jeudi 4 mars", "jeu. 4 mars : Cette activité")
    parent.never_says("Quelle activité pour Amalia")


async def test_an_impossible_date_is_named(parent: Parent):
    await parent.say("réserve la cantine pour Paolo le 31 avril")
    parent.says("« 31 avril » : cette date n'existe pas.")


async def test_a_missing_child_is_asked_and_the_rest_kept(parent: Parent):
    await parent.say("cantine jeudi et vendredi")
    parent.says("Pour quel enfant ?")
    await parent.press("Tous mes enfants")
    parent.says(
        "Léa — Restaurant scolaire — jeudi 4 mars", "Paolo — Restaurant scolaire — vendredi 5 mars"
    )
    parent.says("Amalia")  # 13: too old for the canteen, named with the reason


async def test_words_at_the_calendar_are_understood(parent: Parent):
    await parent.say("inscris Paolo à la cantine")
    assert any(m["calendar"] for m in parent.last)
    await parent.say("valider")
    parent.says("Votre panier est vide")
    await parent.say("inscris Paolo à la cantine")
    await parent.say("tous les jeudis de mars")
    parent.says("Paolo — Restaurant scolaire : 4 séances (jeu.)", "mars : 4, 11, 18, 25")
    await parent.say("abandonner")
    parent.says("C'est abandonné")


async def test_english_dates_in_a_french_conversation(parent: Parent):
    await parent.say("cantine pour Paolo on Thursday")
    parent.says("Paolo — Restaurant scolaire — jeudi 4 mars")


async def test_an_english_parent_reaches_the_pay_link_and_french_dates_are_read(client):
    parent = Parent(client)
    await parent.log_in("en")
    await parent.say("book Lea into the Wednesday club on the 3rd and the 24th")
    parent.says("Lea — Mercredis loisirs 6-12 ans — Wednesday 3 March".replace("Lea", "Léa"))
    await parent.say("yes")
    parent.says("To pay online: €20.00")
    assert parent.link is not None
    await parent.say("lunch for Paolo le 11 mars")
    parent.says("Paolo — Restaurant scolaire — Thursday 11 March")

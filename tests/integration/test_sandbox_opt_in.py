"""The test-card sandbox is opted into, never a default: a town going live without a payment
provider takes no money by mistake, and says so (the catalogue, the log, the payment page)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.catalogue_file import CatalogueError, parse_catalogue
from booking.clock import FrozenClock
from booking.db import Database
from booking.demo import demo_catalogue
from booking.refusals import Refusal, Refused
from booking.services.payments import start_top_up
from bot.app import build_app
from bot.settings import Settings
from bot.web.keys import PROVIDERS
from dialogs.explain import explain
from dialogs.i18n import Translator
from tests import builders

NOT_OPEN = "le paiement en ligne n'est pas encore ouvert"


def catalogue(clock: FrozenClock, payment: dict[str, Any] | None) -> dict[str, Any]:
    data = demo_catalogue(clock.now())
    data["structure"].pop("payment", None)
    if payment is not None:
        data["structure"]["payment"] = payment
    return data


async def town_asked_to_pay(database: Database, clock: FrozenClock, settings: dict) -> str:
    """A town with these payment settings and a household asked for a top-up; its link
    (none when the town names no provider: nothing can be paid online there)."""
    async with database.writing() as db:
        town = await builders.structure(db)
        town.payment_settings = settings
        home = await builders.family(db, town)
        if not settings.get("provider"):
            with pytest.raises(Refused) as refused:
                await start_top_up(db, actor=home.actor, now=clock.now(), amount_cents=2000)
            assert refused.value.code is Refusal.PAYMENT_NOT_OPEN
            return ""
        payment = await start_top_up(db, actor=home.actor, now=clock.now(), amount_cents=2000)
    return f"/pay/{payment.token}"


@pytest.fixture
async def serve(sqlite_database: Database, clock: FrozenClock) -> AsyncIterator[Callable[..., Any]]:
    clients: list[TestClient] = []

    async def start(**settings: Any) -> TestClient:
        app = build_app(
            Settings(database_url="sqlite://unused", payment_secret="k", **settings),
            database=sqlite_database,
            clock=clock,
            run_scheduler=False,
            telegram=False,
        )
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def sandbox_routes(client: TestClient) -> list[str]:
    return [
        resource.canonical
        for resource in client.app.router.resources()
        if resource.canonical.startswith("/sandbox")
    ]


def test_a_catalogue_without_a_payment_section_names_no_provider(clock):
    spec = parse_catalogue(catalogue(clock, None))

    assert spec.structure.payment.model_dump(exclude_none=True).get("provider") is None


def test_the_demo_town_asks_for_the_sandbox_by_name(clock):
    data = demo_catalogue(clock.now())

    assert data["structure"]["payment"] == {"provider": "sandbox"}
    assert parse_catalogue(data).structure.payment.provider == "sandbox"


@pytest.mark.parametrize(
    "payment",
    [
        {"provider": "eopayment"},
        {"backend": "payfip_ws"},
        {"provider": "sandbox", "options": {"numcli": "123456"}},
    ],
)
def test_a_payment_section_that_cannot_work_is_refused_at_import(clock, payment):
    with pytest.raises(CatalogueError, match="payment"):
        parse_catalogue(catalogue(clock, payment))


def test_the_sandbox_setting_is_read_from_the_environment():
    assert Settings.from_env({}).payment_sandbox is False
    assert Settings.from_env({"RIBAMBELLE_PAYMENT_SANDBOX": "1"}).payment_sandbox is True


async def test_without_opt_in_the_sandbox_is_not_mounted_and_a_link_says_payment_is_not_open(
    serve, sqlite_database, clock
):
    assert await town_asked_to_pay(sqlite_database, clock, {}) == ""  # refused: no provider
    client = await serve()

    assert sandbox_routes(client) == []
    assert client.app[PROVIDERS].get("sandbox") is None
    assert (await client.get("/sandbox/pay/sbx_anything")).status == 404


async def test_serve_says_at_start_up_which_towns_cannot_take_money_online(
    serve, sqlite_database, clock, caplog
):
    await town_asked_to_pay(sqlite_database, clock, {})
    caplog.set_level(logging.WARNING)

    await serve()

    assert any(NOT_OPEN in record.getMessage() for record in caplog.records)


async def test_a_town_whose_catalogue_names_the_sandbox_gets_it(serve, sqlite_database, clock):
    link = await town_asked_to_pay(sqlite_database, clock, {"provider": "sandbox"})
    client = await serve()

    assert sandbox_routes(client)
    response = await client.post(link, allow_redirects=False)
    assert response.status == 303
    assert "/sandbox/pay/sbx_" in response.headers["Location"]


async def test_the_process_setting_mounts_the_sandbox(serve, sqlite_database, clock):
    await town_asked_to_pay(sqlite_database, clock, {})
    client = await serve(payment_sandbox=True)

    assert sandbox_routes(client)


def test_the_chat_explains_that_online_payment_is_not_open():
    text = explain(Translator("fr"), Refused(Refusal.PAYMENT_NOT_OPEN))

    assert NOT_OPEN in text.lower()


async def test_a_town_without_a_provider_refuses_online_paid_days_before_holding_a_place(
    sqlite_database, clock
):
    from booking.models import PaymentMode
    from booking.refusals import Refusal, Refused
    from booking.services.basket import add_to_basket
    from tests import builders

    async with sqlite_database.writing() as db:
        town = await builders.structure(db)
        town.payment_settings = {}  # no `payment:` section: no provider
        home = await builders.family(db, town)
        paid = await builders.activity(db, town, mode=PaymentMode.IMMEDIATE)
        session = await builders.session(db, paid)
        billed = await builders.activity(db, town, mode=PaymentMode.INVOICE)
        meal = await builders.session(db, billed)
    actor = home.actor
    async with sqlite_database.writing() as db:
        try:
            await add_to_basket(
                db,
                actor=actor,
                participant_id=home.child.id,
                session_id=session.id,
                now=clock.now(),
            )
        except Refused as refused:
            assert refused.code is Refusal.PAYMENT_NOT_OPEN
        else:
            raise AssertionError("an online-paid day was held with no provider to pay it")
        await add_to_basket(  # a day billed later needs no provider
            db, actor=actor, participant_id=home.child.id, session_id=meal.id, now=clock.now()
        )

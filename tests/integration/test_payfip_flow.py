"""A payment through PayFiP from link to notification: the real app, routes and eopayment
adapter against the local PayFiP SOAP stand-in (the web chat's side is tested elsewhere)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.clock import FrozenClock
from booking.db import Database
from booking.models import Payment, PaymentState, WalletKind
from booking.services.payments import order_id, start_top_up
from bot.app import build_app
from bot.payments.eopayment_provider import EopaymentProvider
from bot.payments.routes import reconcile_once
from bot.settings import Settings
from bot.web.keys import PROVIDERS
from tests import builders
from tests.payfip_soap import PayFiPStandIn

PUBLIC = "https://ribambelle.example"
PAYFIP_PAGE = "https://www.payfip.gouv.fr/tpa/paiementws.web?idop="


@dataclass
class Household:
    id: int
    payment_id: int
    token: str


@pytest.fixture
async def payfip() -> AsyncIterator[PayFiPStandIn]:
    async with PayFiPStandIn() as standin:
        yield standin


@pytest.fixture
async def household(
    sqlite_database: Database, clock: FrozenClock, payfip: PayFiPStandIn
) -> Household:
    """A town paid through PayFiP and a household asked for a 20 € top-up of its wallet."""
    async with sqlite_database.writing() as db:
        town = await builders.structure(db)
        town.payment_settings = {
            "provider": "eopayment",
            "backend": "payfip_ws",
            "options": {"numcli": "123456", "saisie": "T"},
            "service_url": payfip.service_url,
        }
        home = await builders.family(db, town)
        home.household.emails = "parent@example.org"
        payment = await start_top_up(db, actor=home.actor, now=clock.now(), amount_cents=2000)
    return Household(home.household.id, payment.id, payment.token)


@pytest.fixture
async def client(sqlite_database: Database, clock: FrozenClock) -> AsyncIterator[TestClient]:
    app = build_app(
        Settings(database_url="sqlite://unused", public_url=PUBLIC),
        database=sqlite_database,
        clock=clock,
        run_scheduler=False,
    )
    provider = EopaymentProvider(timeout=0.5)  # the environment's, with a test's patience
    app[PROVIDERS].register(provider)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()
    provider.close()


async def open_link(client: TestClient, token: str) -> str:
    """The payer taps "Pay": we open the payment at PayFiP; returns where the payer is sent."""
    response = await client.post(f"/pay/{token}", allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def payment(database: Database, payment_id: int) -> Payment:
    return await builders.reload(database, Payment, payment_id)


async def test_payer_is_sent_to_payfip_with_the_payment_registered_there(
    client, household, payfip, sqlite_database
):
    location = await open_link(client, household.token)

    opened = payfip.last
    assert location == PAYFIP_PAGE + opened.idop
    assert opened.montant == "2000"
    assert opened.mel == "parent@example.org"
    assert opened.refdet == order_id(await payment(sqlite_database, household.payment_id))
    assert opened.urlnotif == f"{PUBLIC}/payments/notify/eopayment"
    assert opened.urlredirect == f"{PUBLIC}/pay/{household.token}/done"
    assert (await payment(sqlite_database, household.payment_id)).provider_reference == opened.idop


async def test_a_second_tap_reuses_the_payment_opened_at_payfip(client, household, payfip):
    first = await open_link(client, household.token)
    second = await open_link(client, household.token)

    assert first == second
    assert payfip.call_count("creerPaiementSecurise") == 1


async def test_payfips_notification_of_a_payment_credits_the_wallet_once(
    client, household, payfip, sqlite_database
):
    await open_link(client, household.token)
    idop = payfip.last.idop
    payfip.set_result(idop, "P")

    for _ in range(2):  # PayFiP may notify more than once
        response = await client.post("/payments/notify/eopayment", data={"idOp": idop})
        assert response.status == 200

    assert (await payment(sqlite_database, household.payment_id)).state is PaymentState.PAID
    assert await builders.balance_of(sqlite_database, household.id, WalletKind.EUROS) == 2000
    assert payfip.call_count("recupererDetailPaiementSecurise") == 2


async def test_payer_back_from_a_refused_card_sees_it_refused(
    client, household, payfip, sqlite_database
):
    await open_link(client, household.token)
    payfip.set_result(payfip.last.idop, "R")

    response = await client.get(f"/pay/{household.token}/done")

    assert "Paiement refusé" in await response.text()
    assert (await payment(sqlite_database, household.payment_id)).state is PaymentState.REFUSED
    assert await builders.balance_of(sqlite_database, household.id, WalletKind.EUROS) == 0


async def test_notification_before_the_result_is_known_changes_nothing(
    client, household, payfip, sqlite_database
):
    await open_link(client, household.token)

    response = await client.post("/payments/notify/eopayment", data={"idOp": payfip.last.idop})

    assert response.status == 200
    assert (await payment(sqlite_database, household.payment_id)).state is PaymentState.CREATED


async def test_notifications_without_idop_or_for_an_unknown_one_are_refused(client, household):
    malformed = await client.post("/payments/notify/eopayment", data={"resultrans": "P"})
    unknown = await client.post("/payments/notify/eopayment", data={"idOp": "no-such-idop"})

    assert (malformed.status, unknown.status) == (400, 404)


async def test_silent_payfip_leaves_the_payer_a_page_to_try_again(
    client, household, payfip, sqlite_database
):
    payfip.hang()

    response = await client.post(f"/pay/{household.token}", allow_redirects=False)

    assert response.status == 503
    assert (await payment(sqlite_database, household.payment_id)).provider_reference is None


async def test_a_lost_notification_is_recovered_by_reconciliation(
    client, household, payfip, sqlite_database, clock
):
    await open_link(client, household.token)
    payfip.set_result(payfip.last.idop, "P")  # paid at PayFiP; its notification never comes

    clock.advance(timedelta(minutes=2))
    changed = await reconcile_once(client.app)

    assert changed == 1
    paid = await payment(sqlite_database, household.payment_id)
    assert (paid.state, paid.receipt_number) == (PaymentState.PAID, f"R2027-{paid.id:06d}")
    assert await builders.balance_of(sqlite_database, household.id, WalletKind.EUROS) == 2000
    clock.advance(timedelta(minutes=2))
    assert await reconcile_once(client.app) == 0  # a paid payment is not asked again


async def test_payfip_not_answering_leaves_the_payment_open_for_the_next_round(
    client, household, payfip, sqlite_database, clock
):
    await open_link(client, household.token)
    idop = payfip.last.idop
    payfip.set_result(idop, "P")
    payfip.hang()

    clock.advance(timedelta(minutes=2))
    assert await reconcile_once(client.app) == 0
    waiting = await payment(sqlite_database, household.payment_id)
    assert (waiting.state, waiting.checked_at) == (PaymentState.CREATED, clock.now())

    payfip.slow(0)
    clock.advance(timedelta(minutes=2))
    assert await reconcile_once(client.app) == 1
    assert (await payment(sqlite_database, household.payment_id)).state is PaymentState.PAID

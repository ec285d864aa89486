"""Paying by link, end to end: the web chat, the payment pages, the sandbox provider's hosted
page and its signed notification over real HTTP, on the demo town in a SQLite file.

The server listens on a port chosen before the app is built, so that the public URL in the
settings is the server itself: the links the parent gets, the sandbox's redirects and its
notification to /payments/notify/sandbox all go through the real routes.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy import func, select, update

from booking.clock import FrozenClock
from booking.db import Database
from booking.demo import load_demo
from booking.models import (
    PLACE_TAKING,
    Booking,
    BookingState,
    Guardian,
    LedgerKind,
    Payment,
    PaymentPurpose,
    PaymentState,
    SandboxTransaction,
    Session,
    Structure,
    WalletKind,
)
from bot.app import build_app
from bot.payments.routes import reconcile_once
from bot.payments.sandbox import ACCEPTED_CARD, REFUSED_CARD, sign
from bot.scheduler import sweep_holds_once
from bot.settings import Settings
from bot.web.keys import OUTBOX, SETTINGS
from tests import builders
from tests.conftest import PINNED_NOW, _run_in_thread

SECRET = "test-secret"
MERCHANT = "Ville de Ribambelle (démo)"
MERCREDIS = "Mercredis loisirs 6-12 ans"

Message = dict[str, Any]


def plain(text: str) -> str:
    """Babel's no-break spaces (before "€") made plain."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


async def page_of(response: ClientResponse) -> str:
    """An HTML page's text, entities decoded and spaces made plain."""
    return plain(html.unescape(await response.text()))


# The demo town, loaded once and copied into each test ------------------------------------------


@pytest.fixture(scope="session")
def demo_template(sqlite_template: bytes, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    path.write_bytes(sqlite_template)

    async def load() -> None:
        database = Database.from_url(f"sqlite+aiosqlite:///{path}")
        try:
            assert await load_demo(database, PINNED_NOW)
        finally:
            await database.dispose()  # the last connection folds the WAL into the file

    _run_in_thread(load)
    return path.read_bytes()


@pytest.fixture
async def demo(tmp_path, demo_template: bytes) -> AsyncIterator[Database]:
    path = tmp_path / "ribambelle.db"
    path.write_bytes(demo_template)
    database = Database.from_url(f"sqlite+aiosqlite:///{path}")
    yield database
    await database.dispose()


@pytest.fixture
async def client(demo: Database, clock: FrozenClock) -> AsyncIterator[TestClient]:
    """The real app (no scheduler: the tests run its jobs) on a port known in advance."""
    port = unused_port()
    settings = Settings(
        database_url="sqlite://unused",
        public_url=f"http://127.0.0.1:{port}",
        payment_secret=SECRET,
        chat_burst=1000,
    )
    app = build_app(settings, database=demo, clock=clock, run_scheduler=False)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    yield client
    await client.close()


def public_url(client: TestClient) -> str:
    """RIBAMBELLE_PUBLIC_URL: this test server."""
    return client.app[SETTINGS].public_url


def path_of(client: TestClient, url: str) -> str:
    """A URL we handed out, as a path on the test server: it must be under the public URL."""
    public = public_url(client)
    assert url.startswith(public + "/"), url
    return url[len(public) :]


# The parent in the web chat ---------------------------------------------------------------------


class Chat:
    """One web conversation driven through POST /api/chat/turn."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token: str | None = None
        self.last: list[Message] = []

    async def send(self, **body: Any) -> list[Message]:
        response = await self.client.post(
            "/api/chat/turn", json={"conversation": self.token, **body}
        )
        assert response.status == 200, await response.text()
        reply = await response.json()
        self.token = reply["conversation"]
        self.last = reply["messages"]
        return self.last

    async def say(self, text: str) -> list[Message]:
        return await self.send(text=text)

    async def press(self, label: str) -> list[Message]:
        for message in reversed(self.last):
            for row in message["buttons"]:
                for button in row:
                    if plain(button["label"]).startswith(label):
                        return await self.send(button=button["payload"])
        raise AssertionError(f"no button {label!r} in {self.text}")

    async def log_in(self, login: str) -> None:
        await self.say("")
        await self.press("Se connecter")
        await self.say(login)
        await self.say(f"demo-{login}")
        assert "Bonjour" in self.text, self.text

    @property
    def text(self) -> str:
        return plain("\n".join(message["text"] for message in self.last))

    @property
    def buttons(self) -> list[str]:
        return [plain(b["label"]) for m in self.last for row in m["buttons"] for b in row]

    @property
    def link(self) -> dict[str, str]:
        links = [message["link"] for message in self.last if message["link"]]
        assert len(links) == 1, self.text
        return links[0]

    async def pushed(self) -> list[str]:
        """The texts of the messages pushed into this conversation's inbox, once the outbox
        worker has run (as the scheduler runs it)."""
        await self.client.app[OUTBOX].run_once()
        response = await self.client.get(
            "/api/chat/inbox", params={"conversation": self.token, "after": "0"}
        )
        assert response.status == 200
        return [plain(message["text"]) for message in (await response.json())["messages"]]


async def booked_and_confirmed(client: TestClient) -> tuple[Chat, str]:
    """DUPONT books Léa on two Wednesdays and confirms the recap; returns the link's URL."""
    chat = Chat(client)
    await chat.log_in("dupont")
    await chat.say("inscris Léa aux mercredis loisirs les 10 et 17 mars")
    assert "Total : 20,00 €" in plain(chat.text), chat.text  # straight to the recap
    await chat.press("Confirmer")
    assert "À payer en ligne : 20,00 €" in chat.text
    link = chat.link
    assert plain(link["label"]) == "Payer 20,00 €"
    return chat, link["url"]


# The payer in a browser --------------------------------------------------------------------------


async def open_payment(client: TestClient, url: str) -> str:
    """Tap "Payer" on our page: the payment is opened at the sandbox; returns its page's path."""
    response = await client.post(path_of(client, url), allow_redirects=False)
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    assert location.startswith(public_url(client) + "/sandbox/pay/sbx_"), location
    return path_of(client, location)


async def form_token(client: TestClient, sandbox_page: str) -> str:
    """The per-payment token the sandbox's page puts in its form, as a browser would send it."""
    page = await (await client.get(sandbox_page)).text()
    found = re.search(r'name="token" value="([0-9a-f]+)"', page)
    assert found, "the sandbox page has no decision token"
    return found.group(1)


async def decide(client: TestClient, sandbox_page: str, decision: str, card: str = "") -> str:
    """Submit the sandbox's form; returns where the payer is sent back (our return page)."""
    token = await form_token(client, sandbox_page)
    response = await client.post(
        sandbox_page,
        data={"decision": decision, "card": card, "token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return path_of(client, response.headers["Location"])


async def pay(client: TestClient, url: str, card: str = ACCEPTED_CARD) -> str:
    """The whole payment by card; returns the return page's text."""
    back = await decide(client, await open_payment(client, url), "pay", card)
    response = await client.get(back)
    assert response.status == 200
    return await page_of(response)


async def paid_but_lost(client: TestClient, database: Database, url: str) -> str:
    """Pay on the sandbox while its notification goes to a port where nobody listens, and
    without coming back to our return page; returns the sandbox's reference."""
    sandbox_page = await open_payment(client, url)
    nowhere = f"http://127.0.0.1:{unused_port()}/payments/notify/sandbox"
    async with database.writing() as db:
        await db.execute(update(SandboxTransaction).values(notify_url=nowhere))
    await decide(client, sandbox_page, "pay", ACCEPTED_CARD)
    return sandbox_page.rsplit("/", 1)[-1]


def signed(reference: str, *, at: float | None = None, secret: str = SECRET) -> str:
    """A notification body as the sandbox signs it."""
    timestamp = str(int(at if at is not None else time.time()))
    return urlencode(
        {"reference": reference, "ts": timestamp, "sig": sign(secret, reference, timestamp)}
    )


async def notify(client: TestClient, body: str | bytes) -> int:
    response = await client.post(
        "/payments/notify/sandbox",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return response.status


# Reading back what happened ----------------------------------------------------------------------


async def the_payment(database: Database, url: str) -> Payment:
    token = url.rsplit("/", 1)[-1]
    async with database.reading() as db:
        payment = await db.scalar(select(Payment).where(Payment.token == token))
    assert payment is not None
    return payment


async def states_of(database: Database, payment: Payment) -> list[BookingState]:
    async with database.reading() as db:
        rows = await db.scalars(
            select(Booking.state)
            .where(Booking.id.in_(payment.details["booking_ids"]))
            .order_by(Booking.id)
        )
        return list(rows)


async def household_of(database: Database, login: str) -> int:
    async with database.reading() as db:
        return await db.scalar(select(Guardian.household_id).where(Guardian.login == login))


async def payment_entries(database: Database, payment: Payment) -> list[tuple[LedgerKind, int]]:
    household = payment.household_id
    entries = []
    for kind in WalletKind:
        entries += [
            (entry.kind, entry.amount)
            for entry in await builders.ledger_of(database, household, kind)
            if entry.payment_id == payment.id
        ]
    return entries


def receipts(texts: list[str]) -> list[str]:
    return [text for text in texts if "Reçu n°" in text]


# The whole journey -----------------------------------------------------------------------------


async def test_a_parent_pays_the_recap_on_the_sandbox_and_the_receipt_reaches_the_chat(
    client, demo
):
    chat, url = await booked_and_confirmed(client)
    assert re.fullmatch(re.escape(public_url(client)) + r"/pay/[A-Za-z0-9_-]{20,}", url)
    await chat.say("mes réservations")  # the conversation moves on meanwhile
    socket = await client.ws_connect(f"/api/chat/ws?conversation={chat.token}")

    landing = await client.get(path_of(client, url))
    page = await page_of(landing)
    assert landing.status == 200
    assert MERCHANT in page
    assert f"Léa — {MERCREDIS} — mercredi 10 mars — 10,00 €" in page
    assert f"Léa — {MERCREDIS} — mercredi 17 mars — 10,00 €" in page
    assert "Total : 20,00 €" in page and "<form method='post'>" in page
    assert "Lien valable jusqu'à 10:00" in page  # the basket's hold
    payment = await the_payment(demo, url)
    assert payment.provider_reference is None  # a link preview fetching the page opens nothing

    sandbox_page = await open_payment(client, url)
    hosted = await page_of(await client.get(sandbox_page))
    assert MERCHANT in hosted and "Montant : <strong>20,00 €</strong>" in hosted
    assert f"Léa — {MERCREDIS} — mercredi 10 mars — 10,00 €" in hosted
    back = await decide(client, sandbox_page, "pay", ACCEPTED_CARD)

    # The sandbox's notification came over HTTP before the payer is sent back.
    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.PAID
    assert back == path_of(client, url) + "/done"
    returned = await page_of(await client.get(back))
    assert "Paiement accepté" in returned
    assert f"Reçu n° {payment.receipt_number}" in returned

    assert await states_of(demo, payment) == [BookingState.CONFIRMED] * 2
    assert payment.details["ticket"]["receipt"] == payment.receipt_number
    assert payment.details["ticket"]["amount_cents"] == 2000
    assert await payment_entries(demo, payment) == [
        (LedgerKind.PAYMENT, 2000),
        (LedgerKind.DEBIT, -1000),
        (LedgerKind.DEBIT, -1000),
    ]
    (receipt,) = receipts(await chat.pushed())
    assert "Paiement reçu, merci !" in receipt
    assert f"Reçu n° {payment.receipt_number}" in receipt
    assert "Payé le lundi 1er mars à 09:00" in receipt
    assert f"✓ Léa — {MERCREDIS} — mercredi 10 mars — 10,00 € : confirmé" in receipt
    assert "Total payé : 20,00 €" in receipt
    frame = await socket.receive_json(timeout=5)
    assert plain(frame["text"]) == receipt
    await socket.close()

    await chat.say("mon solde")
    assert "Derniers paiements en ligne" in chat.text
    assert f"reçu n° {payment.receipt_number} — 20,00 €" in chat.text
    march = chat.text[chat.text.index("Mars 2027") : chat.text.index("Février 2027")]
    # The month's payments, signed and named.
    assert f"+ 20,00 € paiement par carte — lun. 1er mars — reçu n° {payment.receipt_number}" in (
        march
    )


async def test_the_link_of_a_paid_payment_no_longer_pays(client, demo):
    _, url = await booked_and_confirmed(client)
    await pay(client, url)

    for method in (client.get, client.post):
        response = await method(path_of(client, url), allow_redirects=False)
        page = await page_of(response)
        assert response.status == 200
        assert "Paiement accepté" in page and "<form" not in page
    async with demo.reading() as db:
        assert len((await db.scalars(select(SandboxTransaction))).all()) == 1


async def test_a_second_tap_on_pay_goes_back_to_the_same_sandbox_payment(client, demo):
    _, url = await booked_and_confirmed(client)

    first, second = await open_payment(client, url), await open_payment(client, url)

    assert first == second
    async with demo.reading() as db:
        assert len((await db.scalars(select(SandboxTransaction))).all()) == 1


async def test_an_unknown_link_is_404(client):
    response = await client.get("/pay/no-such-token")
    assert response.status == 404
    response = await client.post("/pay/" + "x" * 200)
    assert response.status == 404
    response = await client.get("/sandbox/pay/sbx_unknown")
    assert response.status == 404


# Failures -----------------------------------------------------------------------------------------


async def pushed_messages(chat: Chat) -> list[Message]:
    """The messages pushed into the conversation (with their links), once the outbox ran."""
    await chat.client.app[OUTBOX].run_once()
    response = await chat.client.get(
        "/api/chat/inbox", params={"conversation": chat.token, "after": "0"}
    )
    return (await response.json())["messages"]


async def test_a_refused_card_keeps_the_places_and_retrying_pays_the_same_places(
    client, demo, clock
):
    chat, url = await booked_and_confirmed(client)
    first = await the_payment(demo, url)

    returned = await pay(client, url, card=REFUSED_CARD)

    # The payer's page: nothing paid, the places wait, a button to try again.
    assert "Paiement refusé" in returned and "Rien n'a été payé" in returned
    assert "Les places restent gardées pour vous jusqu'à 10:00" in returned
    assert f"Léa — {MERCREDIS} — mercredi 10 mars — 10,00 €" in returned
    retry_url = re.search(
        r'href="(/pay/[A-Za-z0-9_-]+)">Réessayer le paiement \(20,00 €\)', (returned)
    ).group(1)
    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.REFUSED
    assert await states_of(demo, payment) == [BookingState.PENDING_PAYMENT] * 2
    assert await payment_entries(demo, payment) == []

    # The chat is told, with the same new link.
    (told,) = [m for m in await pushed_messages(chat) if "refusé" in m["text"]]
    assert "Le paiement de 20,00 € a été refusé." in plain(told["text"])
    assert "Les places restent gardées pour vous jusqu'à 10:00" in plain(told["text"])
    assert plain(told["link"]["label"]) == "Réessayer le paiement (20,00 €)"
    assert path_of(client, told["link"]["url"]) == retry_url
    await chat.say("mes réservations")
    assert "Le paiement précédent n'a pas abouti" in chat.text
    assert plain(chat.link["label"]) == "Réessayer le paiement (20,00 €)"

    # The refused transaction stays refused at the sandbox; the new link pays the same places.
    sandbox_page = path_of(client, payment.details["redirect_url"])
    assert "Transaction déjà traitée (refused)" in await page_of(await client.get(sandbox_page))
    clock.advance(minutes=10)
    assert "Paiement accepté" in await pay(client, public_url(client) + retry_url)

    retry = await the_payment(demo, retry_url)
    assert retry.state is PaymentState.PAID and retry.details["retry_of"] == first.id
    assert retry.details["booking_ids"] == first.details["booking_ids"]
    assert await states_of(demo, first) == [BookingState.CONFIRMED] * 2
    assert [kind for kind, _ in await payment_entries(demo, retry)] == [
        LedgerKind.PAYMENT,
        LedgerKind.DEBIT,
        LedgerKind.DEBIT,
    ]
    (receipt,) = receipts(await chat.pushed())
    assert f"✓ Léa — {MERCREDIS} — mercredi 17 mars — 10,00 € : confirmé" in receipt
    shown = await page_of(await client.get(path_of(client, url)))
    assert "Paiement refusé" in shown and "<form" not in shown and "Réessayer" not in shown


async def test_abandoning_keeps_the_places_until_the_hold_ends_then_frees_them(client, demo, clock):
    chat, url = await booked_and_confirmed(client)

    back = await decide(client, await open_payment(client, url), "abandon")

    returned = await page_of(await client.get(back))
    assert "Paiement annulé" in returned and "Réessayer le paiement (20,00 €)" in returned
    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.ABANDONED
    assert await states_of(demo, payment) == [BookingState.PENDING_PAYMENT] * 2
    assert any("Le paiement de 20,00 € a été annulé." in text for text in await chat.pushed())

    clock.advance(minutes=60)  # the basket's hold is over: freed as before
    assert await sweep_holds_once(demo, clock) == 2
    assert await states_of(demo, payment) == [BookingState.EXPIRED] * 2
    async with demo.reading() as db:
        retry = await db.scalar(select(Payment).where(Payment.id == payment.details["retried_by"]))
    assert (await client.get(f"/pay/{retry.token}")).status == 410
    await chat.say("mes réservations")
    assert "En attente de paiement" not in chat.text


async def test_a_card_refused_after_the_hold_ended_frees_the_places(client, demo, clock):
    _, url = await booked_and_confirmed(client)
    sandbox_page = await open_payment(client, url)
    clock.advance(minutes=61)

    await decide(client, sandbox_page, "pay", REFUSED_CARD)

    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.REFUSED and "retried_by" not in payment.details
    assert await states_of(demo, payment) == [BookingState.EXPIRED] * 2


async def test_a_bad_test_card_number_is_refused_by_the_sandbox_page(client, demo):
    _, url = await booked_and_confirmed(client)
    sandbox_page = await open_payment(client, url)

    token = await form_token(client, sandbox_page)
    response = await client.post(
        sandbox_page, data={"decision": "pay", "card": "12", "token": token}
    )

    assert response.status == 400
    assert (await the_payment(demo, url)).state is PaymentState.CREATED


@pytest.mark.parametrize("token", [None, "", "0" * 64, "é"])
async def test_knowing_a_sandbox_reference_alone_cannot_mark_its_payment_paid(client, demo, token):
    _, url = await booked_and_confirmed(client)
    sandbox_page = await open_payment(client, url)
    form = {"decision": "pay", "card": ACCEPTED_CARD}
    if token is not None:
        form["token"] = token

    response = await client.post(sandbox_page, data=form, allow_redirects=False)

    assert response.status == 403
    assert (await the_payment(demo, url)).state is PaymentState.CREATED
    async with demo.reading() as db:
        row = await db.get(SandboxTransaction, sandbox_page.rsplit("/", 1)[-1])
    assert row.state == "pending"


async def test_a_link_is_closed_once_its_hold_ran_out_and_the_parent_is_told(client, demo, clock):
    chat, url = await booked_and_confirmed(client)
    clock.advance(minutes=60)

    for method in (client.get, client.post):
        response = await method(path_of(client, url), allow_redirects=False)
        page = await page_of(response)
        assert response.status == 410, page
        assert "Ce lien de paiement n'est plus valable" in page and "<form" not in page
    async with demo.reading() as db:
        assert (await db.scalars(select(SandboxTransaction))).all() == []

    assert await reconcile_once(client.app) == 1

    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.EXPIRED
    assert await states_of(demo, payment) == [BookingState.EXPIRED] * 2
    assert any("Le délai de paiement de 20,00 € est dépassé" in t for t in await chat.pushed())
    assert (await client.get(path_of(client, url))).status == 410


async def test_a_payment_made_after_the_hold_ran_out_keeps_the_places_still_free(
    client, demo, clock
):
    chat, url = await booked_and_confirmed(client)
    sandbox_page = await open_payment(client, url)
    clock.advance(minutes=61)
    assert await sweep_holds_once(demo, clock) == 2  # the places are freed meanwhile

    await decide(client, sandbox_page, "pay", ACCEPTED_CARD)

    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.PAID
    assert await states_of(demo, payment) == [BookingState.CONFIRMED] * 2
    (receipt,) = receipts(await chat.pushed())
    assert f"✓ Léa — {MERCREDIS} — mercredi 17 mars — 10,00 € : confirmé" in receipt


async def test_a_payment_made_too_late_for_a_place_taken_since_is_credited_and_said(
    client, demo, clock
):
    chat, url = await booked_and_confirmed(client)
    sandbox_page = await open_payment(client, url)
    clock.advance(minutes=61)
    await sweep_holds_once(demo, clock)
    payment = await the_payment(demo, url)
    async with demo.writing() as db:  # meanwhile the 10 March fills up
        tenth = await db.scalar(
            select(Booking.session_id).where(Booking.id == payment.details["booking_ids"][0])
        )
        taken = await db.scalar(
            select(func.count(Booking.id)).where(
                Booking.session_id == tenth, Booking.state.in_(PLACE_TAKING)
            )
        )
        await db.execute(update(Session).where(Session.id == tenth).values(capacity=taken))
    household = await household_of(demo, "dupont")

    await decide(client, sandbox_page, "pay", ACCEPTED_CARD)

    assert await states_of(demo, payment) == [BookingState.EXPIRED, BookingState.CONFIRMED]
    assert await builders.balance_of(demo, household, WalletKind.EUROS) == 2500 + 1000
    (receipt,) = receipts(await chat.pushed())
    assert f"✕ Léa — {MERCREDIS} — mercredi 10 mars — 10,00 € : plus de place" in receipt
    assert f"✓ Léa — {MERCREDIS} — mercredi 17 mars — 10,00 € : confirmé" in receipt
    assert (
        "Le paiement est arrivé trop tard pour ces places : 10,00 € ont été crédités "
        "sur votre porte-monnaie." in receipt
    )


async def test_a_provider_saying_paid_for_another_amount_is_not_applied(client, demo, caplog):
    chat, url = await booked_and_confirmed(client)
    sandbox_page = await open_payment(client, url)
    async with demo.writing() as db:
        await db.execute(update(SandboxTransaction).values(amount_cents=1))

    await decide(client, sandbox_page, "pay", ACCEPTED_CARD)

    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.CREATED
    assert payment.details["anomaly"] == "paid 1 EUR"
    assert "expected 2000 EUR: not applied" in caplog.text
    assert await states_of(demo, payment) == [BookingState.PENDING_PAYMENT] * 2
    assert await payment_entries(demo, payment) == []
    assert receipts(await chat.pushed()) == []


# Notifications: replayed, forged, unknown, lost, concurrent -------------------------------------


async def test_a_replayed_notification_is_applied_once(client, demo):
    chat, url = await booked_and_confirmed(client)
    await pay(client, url)
    payment = await the_payment(demo, url)
    body = signed(payment.provider_reference)

    assert [await notify(client, body) for _ in range(2)] == [200, 200]

    assert await payment_entries(demo, payment) == [
        (LedgerKind.PAYMENT, 2000),
        (LedgerKind.DEBIT, -1000),
        (LedgerKind.DEBIT, -1000),
    ]
    assert len(receipts(await chat.pushed())) == 1
    assert (await the_payment(demo, url)).receipt_number == payment.receipt_number


async def test_a_notification_with_a_bad_signature_is_refused_and_changes_nothing(
    client, demo, caplog
):
    chat, url = await booked_and_confirmed(client)
    reference = await paid_but_lost(client, demo, url)
    genuine = signed(reference)

    forged = [
        signed(reference, secret="not-the-secret"),
        genuine.replace("sig=", "sig=0"),
        genuine[:-1] + ("0" if genuine[-1] != "0" else "1"),
        signed(reference, at=time.time() - 2 * 3600),  # genuine, but hours old
        signed(reference).replace(f"reference={reference}", "reference=sbx_other"),
    ]
    assert [await notify(client, body) for body in forged] == [403] * len(forged)
    assert caplog.text.count("notification from sandbox refused") == len(forged)

    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.CREATED and payment.checked_at is None
    assert await payment_entries(demo, payment) == []
    assert receipts(await chat.pushed()) == []

    assert await notify(client, genuine) == 200
    assert (await the_payment(demo, url)).state is PaymentState.PAID


async def test_a_notification_for_an_unknown_reference_is_404_and_logged(client, demo, caplog):
    assert await notify(client, signed("sbx_nobody_knows_it")) == 404
    assert "unknown reference 'sbx_nobody_knows_it'" in caplog.text
    response = await client.post("/payments/notify/nowhere", data=signed("sbx_x"))
    assert response.status == 404


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"reference=sbx_x",
        b"reference=sbx_x&ts=abc&sig=00",
        b"ts=1&sig=00",
        b"\xff\xfe",
        b"a=1&&=&b",
        b"not a form",
    ],
)
async def test_a_malformed_notification_is_400(client, demo, body):
    assert await notify(client, body) == 400


async def test_a_lost_notification_is_caught_by_reconciliation(client, demo):
    chat, url = await booked_and_confirmed(client)
    await paid_but_lost(client, demo, url)
    assert (await the_payment(demo, url)).state is PaymentState.CREATED
    assert receipts(await chat.pushed()) == []

    assert await reconcile_once(client.app) == 1
    assert await reconcile_once(client.app) == 0

    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.PAID
    assert payment.details["ticket"]["source"] == "reconciliation"
    assert await states_of(demo, payment) == [BookingState.CONFIRMED] * 2
    assert len(receipts(await chat.pushed())) == 1


async def test_two_notifications_the_return_and_reconciliation_at_once_apply_it_once(client, demo):
    chat, url = await booked_and_confirmed(client)
    reference = await paid_but_lost(client, demo, url)

    *statuses, back, changed = await asyncio.gather(
        notify(client, signed(reference)),
        notify(client, signed(reference)),
        client.get(path_of(client, url) + "/done"),
        reconcile_once(client.app),
    )

    assert statuses == [200, 200]
    assert "Paiement accepté" in await page_of(back)
    assert changed in (0, 1)
    payment = await the_payment(demo, url)
    assert payment.state is PaymentState.PAID
    assert [kind for kind, _ in await payment_entries(demo, payment)] == [
        LedgerKind.PAYMENT,
        LedgerKind.DEBIT,
        LedgerKind.DEBIT,
    ]
    assert await states_of(demo, payment) == [BookingState.CONFIRMED] * 2
    assert len(receipts(await chat.pushed())) == 1


async def test_the_payers_return_is_enough_when_the_notification_is_lost(client, demo):
    chat, url = await booked_and_confirmed(client)
    await paid_but_lost(client, demo, url)

    returned = await page_of(await client.get(path_of(client, url) + "/done"))

    payment = await the_payment(demo, url)
    assert "Paiement accepté" in returned and payment.receipt_number in returned
    assert payment.details["ticket"]["source"] == "return"
    assert len(receipts(await chat.pushed())) == 1


# Top-ups, coupons, debts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "amount", "item", "wallet", "before", "after", "told"),
    [
        (
            "recharger mon porte-monnaie de 30 €",
            "30,00 €",
            "Rechargement du porte-monnaie",
            WalletKind.EUROS,
            2500,
            5500,
            "Porte-monnaie crédité de 30,00 €",
        ),
        (
            "acheter 10 coupons",  # at the town's 2,50 € a coupon
            "25,00 €",
            "10 coupons",
            WalletKind.COUPONS,
            10,
            20,
            "10 coupons ajoutés",
        ),
    ],
    ids=["euros", "coupons"],
)
async def test_a_top_up_typed_in_the_chat_is_paid_by_link(
    client, demo, typed, amount, item, wallet, before, after, told
):
    chat = Chat(client)
    await chat.log_in("dupont")
    household = await household_of(demo, "dupont")
    assert await builders.balance_of(demo, household, wallet) == before

    await chat.say(typed)

    link = chat.link
    assert plain(link["label"]) == f"Payer {amount}"
    assert "Le lien est valable jusqu'à 10:00" in chat.text
    landing = await page_of(await client.get(path_of(client, link["url"])))
    assert f"<li>{item}</li>" in landing and f"Total : {amount}" in landing
    assert "Paiement accepté" in await pay(client, link["url"])
    assert await builders.balance_of(demo, household, wallet) == after
    (receipt,) = receipts(await chat.pushed())
    assert told in receipt and f"Total payé : {amount}" in receipt
    payment = await the_payment(demo, link["url"])
    assert payment.purpose is PaymentPurpose.TOP_UP
    assert await payment_entries(demo, payment) == [(LedgerKind.TOP_UP, after - before)]


async def test_a_household_in_debt_sees_what_it_owes_pays_it_and_books_again(client, demo):
    chat = Chat(client)
    await chat.log_in("bernard")
    household = await household_of(demo, "bernard")
    await chat.say("inscris Hugo aux mercredis loisirs le 10 mars")
    assert "ajouté au panier" not in chat.text
    assert "85,40 € restent à régler à la mairie" in chat.text
    assert "Régler 85,40 €" in chat.buttons

    await chat.say("mon solde")
    assert "À régler à la mairie : 85,40 €" in chat.text
    await chat.press("Régler 85,40 €")

    assert "Vous devez 85,40 € à la mairie." in chat.text
    link = chat.link
    assert plain(link["label"]) == "Payer 85,40 €"
    landing = await page_of(await client.get(path_of(client, link["url"])))
    assert "Règlement des sommes dues" in landing and "85,40 €" in landing
    assert "Paiement accepté" in await pay(client, link["url"])
    assert await builders.balance_of(demo, household, WalletKind.ACCOUNT) == 0
    (receipt,) = receipts(await chat.pushed())
    assert "Règlement de votre dette de 85,40 €" in receipt

    await chat.say("inscris Hugo aux mercredis loisirs le 10 mars")
    assert "Hugo — Mercredis loisirs 6-12 ans — mercredi 10 mars" in chat.text


# Cancelling what was paid -----------------------------------------------------------------------


@dataclass
class Cancelled:
    chat: Chat
    payment: Payment
    household: int


async def paid_then_cancelled(client: TestClient, demo: Database) -> Cancelled:
    chat, url = await booked_and_confirmed(client)
    await pay(client, url)
    await chat.say("annule le 10 mars pour Léa")
    await chat.press("Confirmer")
    return Cancelled(chat, await the_payment(demo, url), await household_of(demo, "dupont"))


async def test_cancelling_a_paid_wednesday_credits_the_wallet(client, demo):
    done = await paid_then_cancelled(client, demo)

    assert (
        "mercredi 10 mars : annulé — remboursé sur votre porte-monnaie : 10,00 €" in done.chat.text
    )
    assert await builders.balance_of(demo, done.household, WalletKind.EUROS) == 2500 + 1000
    assert await reconcile_once(client.app) == 0
    async with demo.reading() as db:
        assert (await db.scalar(select(SandboxTransaction.refunded_cents))) == 0


async def test_with_refunds_to_the_card_reconciliation_sends_the_refund_through_the_sandbox(
    client, demo
):
    async with demo.writing() as db:
        await db.execute(update(Structure).values(refund_via_provider=True))

    done = await paid_then_cancelled(client, demo)

    assert "mercredi 10 mars : annulé — remboursé sur votre carte : 10,00 €" in done.chat.text
    assert await builders.balance_of(demo, done.household, WalletKind.EUROS) == 2500 + 1000
    await reconcile_once(client.app)
    await reconcile_once(client.app)  # sent once

    async with demo.reading() as db:
        assert (await db.scalar(select(SandboxTransaction.refunded_cents))) == 1000
        refund = await db.scalar(select(Payment).where(Payment.purpose == PaymentPurpose.REFUND))
    assert (refund.state, refund.refund_of_id, refund.amount_cents) == (
        PaymentState.REFUNDED,
        done.payment.id,
        1000,
    )
    assert await builders.balance_of(demo, done.household, WalletKind.EUROS) == 2500
    euros = await builders.ledger_of(demo, done.household, WalletKind.EUROS)
    assert [(e.kind, e.amount) for e in euros if e.payment_id == refund.id] == [
        (LedgerKind.REFUND, 1000),
        (LedgerKind.PAYOUT, -1000),
    ]
    await done.chat.say("mon solde")
    assert "remboursé sur votre carte : 10,00 €" in done.chat.text


async def test_my_bookings_gives_the_link_again_while_the_places_wait_for_payment(client, demo):
    chat, url = await booked_and_confirmed(client)

    await chat.say("mes réservations")
    assert "Léa" in chat.text and "(en attente de paiement)" in chat.text
    assert "En attente de paiement : 20,00 €. Le lien est valable jusqu'à" in plain(chat.text)
    assert chat.link["url"] == url

    await pay(client, url)
    await chat.say("mes réservations")
    assert "En attente de paiement" not in chat.text
    assert [message["link"] for message in chat.last] == [None] * len(chat.last)

"""Password reset by e-mail on the real app: the chat asks for the login or an address and
answers the same either way; the outbox sends the link through a real SMTP server (aiosmtpd);
the link's page sets a new password under the first login's rules, once, within 30 minutes."""

from __future__ import annotations

import logging
import re
import statistics
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from booking.clock import FrozenClock
from booking.db import Database
from booking.models import AccountToken, Guardian, Household, NoticeKind, OutboxMessage
from booking.refusals import Refused
from booking.services.password_reset import request_password_reset, reset_password
from booking.services.profile import confirm_email_change, request_email_change
from bot.app import build_app
from bot.settings import Settings
from bot.web.keys import ENGINE, OUTBOX
from dialogs.engine import Engine
from dialogs.i18n import Translator
from tests import builders
from tests.integration.test_email import body
from tests.smtp_server import SmtpServer, smtp_server
from tests.unit import dialog_script
from tests.unit.dialog_script import PASSWORD, Script

town_template = dialog_script.town_template
sqlite_url = dialog_script.sqlite_url
town = dialog_script.town
engine = dialog_script.engine

PUBLIC = "https://ribambelle.example.fr"
ANSWER = "Si ce compte existe, un e-mail vient d'être envoyé"
NEW_PASSWORD = "nouveau-secret-42"
LINK = re.compile(
    re.escape(PUBLIC) + r"(/(?:mot-de-passe|adresse-e-mail)/[A-Za-z0-9_-]+)(\?lang=en)?"
)
JEAN_PAUL = "jean-paul@example.fr"  # dupont's own address
DUPONT_HOME = "famille.dupont@example.fr"  # the Dupont household's address
MARTIN_HOME = ["martin@example.fr", "claire.pro@example.fr"]  # Claire has none of her own


# --- The town's addresses, the mail server, the app ------------------------------------------


@pytest.fixture
async def addresses(sqlite_database: Database) -> None:
    """Jean-Paul DUPONT has his own address; Claire MARTIN, English e-mails, her household's."""
    async with sqlite_database.writing() as db:
        await db.execute(
            update(Household).where(Household.name == "DUPONT").values(emails=DUPONT_HOME)
        )
        await db.execute(update(Guardian).where(Guardian.login == "dupont").values(email=JEAN_PAUL))
        await db.execute(
            update(Household)
            .where(Household.name == "MARTIN")
            .values(emails=";".join(MARTIN_HOME), language="en")
        )


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with smtp_server() as server:
        yield server


@pytest.fixture
async def app(
    engine: Engine,  # argon2 made cheap for the whole test
    sqlite_database: Database,
    clock: FrozenClock,
    smtp: SmtpServer,
    addresses: None,
) -> AsyncIterator[TestClient]:
    """The real app (no scheduler: tests run the outbox worker), mailing through `smtp`."""
    settings = Settings(
        database_url="sqlite://unused", public_url=PUBLIC, smtp_url=smtp.url, chat_burst=100
    )
    client = TestClient(
        TestServer(
            build_app(
                settings, database=sqlite_database, clock=clock, run_scheduler=False, telegram=False
            )
        )
    )
    await client.start_server()
    yield client
    await client.close()


def chat(app: TestClient, key: str = "parent", **options: object) -> Script:
    return Script(app.app[ENGINE], key, **options)  # type: ignore[arg-type]


async def mailed(app: TestClient, smtp: SmtpServer) -> list[EmailMessage]:
    """Run the outbox worker as the scheduler would; every message the SMTP server took."""
    while await app.app[OUTBOX].run_once():
        pass
    return smtp.messages


def link_of(message: EmailMessage) -> str:
    """The path (and language) of the one-time link in an e-mail, in both its parts."""
    found = LINK.search(body(message, "text/plain"))
    assert found is not None, body(message, "text/plain")
    assert found.group(0) in body(message, "text/html")
    return found.group(1) + (found.group(2) or "")


def token_of(path: str) -> str:
    return path.split("?")[0].rsplit("/", 1)[1]


async def ask_reset(parent: Script, identifier: str) -> Script:
    """From wherever the conversation is: "mot de passe oublié", then the login or address."""
    await parent.send("mot de passe oublié")
    parent.says("identifiant ou l'adresse e-mail")
    return await parent.send(identifier)


async def submit(
    app: TestClient,
    path: str,
    password: str,
    confirmation: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    language = "?lang=en" if path.endswith("?lang=en") else ""
    response = await app.post(
        "/mot-de-passe" + language,
        data={
            "token": token_of(path),
            "password": password,
            "confirmation": password if confirmation is None else confirmation,
        },
        headers=headers,
    )
    return response.status, await response.text()


async def logs_in(app: TestClient, password: str, key: str) -> bool:
    parent = chat(app, key)
    await parent.login("dupont", password)
    return "Bonjour Jean-Paul" in parent.text


# --- The chat -----------------------------------------------------------------------------


async def test_the_forgot_button_at_the_login_step_mails_a_link_that_sets_a_new_password(
    app: TestClient, smtp: SmtpServer
):
    parent = chat(app)
    await parent.send("connexion")
    parent.offers("Mot de passe oublié", "Annuler")
    await parent.press("Mot de passe oublié")
    parent.says("Écrivez votre identifiant ou l'adresse e-mail de votre compte")
    await parent.send("dupont")
    parent.says(ANSWER, "30 minutes", "courriers indésirables").offers("Se connecter")

    (message,) = await mailed(app, smtp)
    assert smtp.received[0].rcpt_tos == [JEAN_PAUL]  # his own address, not the household's
    assert message["Subject"] == "Choisir un nouveau mot de passe"
    assert "Bonjour Jean-Paul" in body(message, "text/plain")
    assert "identifiant : dupont" in body(message, "text/plain")
    path = link_of(message)

    page = await app.get(path)
    text = await page.text()
    assert page.status == 200
    assert "Identifiant : dupont" in text and text.count('type="password"') == 2
    assert "au moins 10 caractères" in text
    status, text = await submit(app, path, NEW_PASSWORD)
    assert status == 200, text
    assert "Mot de passe changé" in text and "Retournez au chat" in text

    assert await logs_in(app, NEW_PASSWORD, "again")
    assert not await logs_in(app, PASSWORD, "old")


async def test_the_words_ask_for_the_login_at_the_start_and_at_both_login_steps(
    app: TestClient, smtp: SmtpServer
):
    visitor = chat(app, "visitor")
    await visitor.send("j'ai oublié mon mot de passe")  # at the start, logged out
    visitor.says("identifiant ou l'adresse e-mail")
    await visitor.send("dupont")
    visitor.says(ANSWER)

    at_login = chat(app, "at-login")
    await at_login.send("connexion")
    await at_login.send("mot de passe oublié")  # not taken for a login
    at_login.says("identifiant ou l'adresse e-mail")
    await at_login.send(JEAN_PAUL)
    at_login.says(ANSWER)

    at_password = chat(app, "at-password")
    await at_password.send("connexion")
    await at_password.send("dupont")
    assert at_password.replies[-1].secret_input
    at_password.offers("Mot de passe oublié")
    await at_password.send("Mot de passe oublié ?")  # not taken for a password
    at_password.says("identifiant ou l'adresse e-mail").never_says("incorrect")
    await at_password.send("dupont")
    at_password.says(ANSWER)

    assert len(await mailed(app, smtp)) == 3
    assert await logs_in(app, PASSWORD, "nothing-counted")  # no wrong password was counted


async def test_in_english_with_the_button_and_typed_words_the_page_and_mail_follow_suit(
    app: TestClient, smtp: SmtpServer
):
    en = Translator("en")
    parent = chat(app, "english", locale="en")
    await parent.send("log in")
    parent.offers(en._("Mot de passe oublié"))
    await parent.press(en._("Mot de passe oublié"))
    await parent.send("martin@example.fr")
    answer = en._(
        "Si ce compte existe, un e-mail vient d'être envoyé à son adresse avec un lien pour "
        "choisir un nouveau mot de passe. Le lien sert une seule fois, pendant 30 minutes ; "
        "pensez à regarder dans les courriers indésirables."
    )
    parent.says(answer)
    await parent.send("forgot my password")
    parent.says(
        en._(
            "Mot de passe oublié ? Écrivez votre identifiant ou l'adresse e-mail de votre "
            "compte : un lien pour choisir un nouveau mot de passe y sera envoyé."
        )
    )
    await parent.send("nobody@example.fr")
    parent.says(answer)

    (message,) = await mailed(app, smtp)  # Claire's household writes in English
    assert smtp.received[0].rcpt_tos == MARTIN_HOME
    assert message["Subject"] == en._("Choisir un nouveau mot de passe")
    assert message["Content-Language"] == "en"
    path = link_of(message)
    assert path.endswith("?lang=en")
    page = await app.get(path)
    text = await page.text()
    assert page.headers["Content-Language"] == "en" and '<html lang="en">' in text
    assert en._("Nouveau mot de passe") in text
    status, text = await submit(app, path, "short")
    assert status == 400 and '<html lang="en">' in text
    status, text = await submit(app, path, NEW_PASSWORD)
    assert status == 200 and en._("Mot de passe changé") in text

    by_browser = await app.get("/mot-de-passe/unknown", headers={"Accept-Language": "en-GB"})
    assert en._("Lien expiré ou déjà utilisé") in await by_browser.text()


async def test_known_and_unknown_logins_and_addresses_get_the_same_answer(
    app: TestClient, smtp: SmtpServer
):
    typed = [
        "dupont",
        "personne",
        JEAN_PAUL,
        "inconnu@example.fr",
        DUPONT_HOME,  # names Jean-Paul's account: the link still goes to his own address
        MARTIN_HOME[1],
        "MARTIN@example.fr ",
    ]
    answers = set()
    for number, identifier in enumerate(typed):
        parent = await ask_reset(chat(app, f"parent-{number}"), identifier)
        answers.add((parent.text, tuple(parent.buttons)))
    assert len(answers) == 1

    await mailed(app, smtp)
    assert [received.rcpt_tos for received in smtp.received] == [
        [JEAN_PAUL],
        [JEAN_PAUL],
        [JEAN_PAUL],
        MARTIN_HOME,
        MARTIN_HOME,
    ]


#: No argon2 here: the turns are short (a few milliseconds), so a difference shows more.
ROUNDS = 25


async def _reset_turn_seconds(parent: Script, identifier: str) -> float:
    await parent.send("mot de passe oublié")
    started = time.perf_counter()
    await parent.send(identifier)
    return time.perf_counter() - started


async def test_a_known_and_an_unknown_login_take_about_the_same_time(
    engine: Engine, addresses: None, clock: FrozenClock
):
    known, unknown = Script(engine, "known"), Script(engine, "unknown")
    seconds: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(ROUNDS):
        clock.advance(minutes=61)  # never held back by the cap: every known try writes a link
        seconds["known"].append(await _reset_turn_seconds(known, "dupont"))
        seconds["unknown"].append(await _reset_turn_seconds(unknown, "personne"))
    assert known.text == unknown.text
    ratio = statistics.median(seconds["known"]) / statistics.median(seconds["unknown"])
    # Typically 1.1-1.3 (6 ms against 5); about 2 without the statements an unknown login runs.
    assert 0.6 < ratio < 1.6, f"{ratio:.2f} times an unknown login's time {seconds}"


async def test_at_most_three_reset_emails_an_hour_per_login_the_answer_unchanged(
    app: TestClient, smtp: SmtpServer, clock: FrozenClock
):
    parent = chat(app)
    for _ in range(5):
        await ask_reset(parent, "dupont")
        parent.says(ANSWER)
    assert len(await mailed(app, smtp)) == 3
    clock.advance(minutes=61)
    await ask_reset(parent, "dupont")
    assert len(await mailed(app, smtp)) == 4


# --- The link and its page ------------------------------------------------------------------


async def reset_link(app: TestClient, smtp: SmtpServer, identifier: str = "dupont") -> str:
    await ask_reset(chat(app, f"asking-{len(smtp.messages)}"), identifier)
    return link_of((await mailed(app, smtp))[-1])


async def test_the_link_serves_once(app: TestClient, smtp: SmtpServer):
    path = await reset_link(app, smtp)
    assert (await submit(app, path, NEW_PASSWORD))[0] == 200

    again = await app.get(path)
    assert again.status == 410
    assert "Lien expiré ou déjà utilisé" in await again.text()
    status, text = await submit(app, path, "un-autre-secret-7")
    assert status == 410 and "Lien expiré ou déjà utilisé" in text
    assert await logs_in(app, NEW_PASSWORD, "new")
    assert not await logs_in(app, "un-autre-secret-7", "other")


async def test_the_link_expires_after_thirty_minutes(
    app: TestClient, smtp: SmtpServer, clock: FrozenClock
):
    path = await reset_link(app, smtp)
    clock.advance(minutes=29)
    assert (await app.get(path)).status == 200
    clock.advance(minutes=2)
    page = await app.get(path)
    assert page.status == 410 and "30 minutes" in await page.text()
    assert (await submit(app, path, NEW_PASSWORD))[0] == 410
    assert await logs_in(app, PASSWORD, "unchanged")


async def test_only_the_latest_link_works_and_opening_it_changes_nothing(
    app: TestClient, smtp: SmtpServer
):
    first = await reset_link(app, smtp)
    for _ in range(3):  # a mail scanner, a preview, the parent: GET never uses the link up
        assert (await app.get(first)).status == 200
    second = await reset_link(app, smtp)
    assert (await app.get(first)).status == 410
    assert (await submit(app, second, NEW_PASSWORD))[0] == 200


async def test_a_weak_password_is_refused_with_the_rule_and_the_link_still_works(
    app: TestClient, smtp: SmtpServer
):
    path = await reset_link(app, smtp)
    status, text = await submit(app, path, "motdepasse")
    assert status == 400
    assert (
        "trop simple" in text and "au moins 10 caractères, avec des lettres et des chiffres" in text
    )
    status, text = await submit(app, path, NEW_PASSWORD, "nouveau-secret-43")
    assert status == 400 and "Les deux mots de passe sont différents" in text
    assert (await submit(app, path, NEW_PASSWORD))[0] == 200


async def test_a_login_kept_waiting_logs_in_at_once_after_a_reset(
    app: TestClient, smtp: SmtpServer
):
    stranger = chat(app, "stranger")
    for _ in range(5):
        await stranger.login("dupont", "devine-1234")
    stranger.says("Trop d'essais")
    parent = chat(app, "parent")
    await parent.login("dupont")
    parent.says("Trop d'essais")  # the right password waits too

    path = await reset_link(app, smtp)
    assert (await submit(app, path, NEW_PASSWORD))[0] == 200
    await parent.login("dupont", NEW_PASSWORD)
    parent.says("Bonjour Jean-Paul").offers("Réserver")


async def test_a_reset_logs_out_the_conversations_logged_in_as_the_guardian(
    app: TestClient, smtp: SmtpServer
):
    other_device = chat(app, "other-device")
    await other_device.login("dupont")
    other_device.says("Bonjour Jean-Paul")
    path = await reset_link(app, smtp)
    assert (await submit(app, path, NEW_PASSWORD))[0] == 200
    await other_device.send("mes réservations")
    other_device.says("Connectez-vous d'abord")


async def test_a_post_from_another_sites_page_is_refused_and_changes_nothing(
    app: TestClient, smtp: SmtpServer
):
    path = await reset_link(app, smtp)
    for foreign in (
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
    ):
        status, text = await submit(app, path, NEW_PASSWORD, headers=foreign)
        assert status == 403, foreign
    assert (await app.get(path)).status == 200  # still valid
    # Our own page, whose no-referrer policy makes the browser say "Origin: null".
    ours = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}
    assert (await submit(app, path, NEW_PASSWORD, headers=ours))[0] == 200


async def test_the_pages_carry_the_security_headers_and_the_access_log_no_token(
    app: TestClient, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
):
    path = await reset_link(app, smtp)
    token = token_of(path)
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        for response in (await app.get(path), await app.get("/mot-de-passe/" + "Zx" * 20)):
            headers = response.headers
            assert headers["Referrer-Policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
            assert headers["X-Frame-Options"] == "DENY"
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Cache-Control"] == "no-store"
            assert '<link rel="stylesheet" href="/pages.css">' in await response.text()
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("/mot-de-passe/[redacted]" in line for line in logged), logged
    assert not any(token in line or "Zx" * 20 in line for line in logged)


async def test_once_sent_the_link_is_kept_nowhere_in_clear(
    app: TestClient, smtp: SmtpServer, sqlite_database: Database
):
    token = token_of(await reset_link(app, smtp))
    async with sqlite_database.reading() as db:
        outbox = (await db.scalars(select(OutboxMessage))).all()
        tokens = (await db.scalars(select(AccountToken))).all()
    assert outbox and all(token not in str(row.data) for row in outbox)
    assert tokens and all(token not in (row.token_hash, str(row.data)) for row in tokens)


# --- The services on both databases -------------------------------------------------------


async def test_the_services_work_alike_on_sqlite_and_postgresql(
    database: Database, clock: FrozenClock
):
    now = clock.now()
    async with database.writing() as db:
        home = await builders.family(db, await builders.structure(db), name="PETIT")
        home.guardian.email = "petit@example.fr"
        home.household.emails = "foyer.petit@example.fr"
        guardian_id, household_id = home.guardian.id, home.household.id

    async def links(kind: NoticeKind) -> list[OutboxMessage]:
        async with database.reading() as db:
            return list(
                await db.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.household_id == household_id, OutboxMessage.kind == kind)
                    .order_by(OutboxMessage.id)
                )
            )

    async with database.writing() as db:
        assert await request_password_reset(db, "personne@example.fr", now) == 0
        assert await request_password_reset(db, "FOYER.petit@example.fr", now) == 1
    (row,) = await links(NoticeKind.PASSWORD_RESET)
    assert row.address == "petit@example.fr" and row.urgent
    token = row.data["token"]
    with pytest.raises(Refused):
        async with database.writing() as db:
            await reset_password(db, token, "faible", now)
    async with database.writing() as db:
        guardian = await reset_password(db, token, NEW_PASSWORD, now)
        assert guardian is not None and guardian.id == guardian_id
    async with database.writing() as db:
        assert await reset_password(db, token, NEW_PASSWORD, now) is None

    async with database.writing() as db:
        assert await request_email_change(db, guardian_id, ["neuf@example.fr"], now) == [
            "neuf@example.fr"
        ]
    (change,) = await links(NoticeKind.EMAIL_CHANGE)
    (notice,) = await links(NoticeKind.EMAIL_CHANGE_NOTICE)
    assert (change.address, notice.address) == (
        "neuf@example.fr",
        "foyer.petit@example.fr;petit@example.fr",
    )
    async with database.writing() as db:
        household = await confirm_email_change(db, change.data["token"], now)
        assert household is not None and household.emails == "neuf@example.fr"
    async with database.writing() as db:
        assert await confirm_email_change(db, change.data["token"], now) is None


async def test_the_reset_email_leaves_at_once_even_in_the_quiet_hours(
    app: TestClient, smtp: SmtpServer, clock: FrozenClock
):
    clock.advance(hours=14, minutes=30)  # 23:30: notifications wait for 07:30, this does not
    await ask_reset(chat(app), "dupont")
    assert len(await mailed(app, smtp)) == 1

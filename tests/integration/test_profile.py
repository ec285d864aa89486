"""The family account in the chat ("Mon compte"): the household's guardians and addresses (its
own only), a new password after the current one (a wrong one is a failed login), new e-mail
addresses applied only from the link sent to them, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from booking.clock import FrozenClock
from booking.db import Database
from booking.models import Guardian, Household
from dialogs.engine import Engine
from dialogs.i18n import Translator
from tests.integration import test_password_reset as reset
from tests.integration.test_password_reset import (
    DUPONT_HOME,
    JEAN_PAUL,
    NEW_PASSWORD,
    chat,
    link_of,
    logs_in,
    mailed,
    token_of,
)
from tests.smtp_server import SmtpServer
from tests.unit import dialog_script
from tests.unit.dialog_script import PASSWORD, Script

town_template = dialog_script.town_template
sqlite_url = dialog_script.sqlite_url
town = dialog_script.town
engine = dialog_script.engine
addresses = reset.addresses
smtp = reset.smtp
app = reset.app


@pytest.fixture
async def marie(sqlite_database: Database, addresses: None) -> None:
    """A second guardian in the Dupont household."""
    async with sqlite_database.writing() as db:
        household = await db.scalar(select(Household).where(Household.name == "DUPONT"))
        db.add(
            Guardian(
                household_id=household.id,
                login="marie.dupont",
                password_hash="not-a-real-hash",
                first_name="Marie",
                last_name="DUPONT",
                email="marie@example.fr",
                must_change_password=False,
            )
        )


async def logged_in(app: TestClient, login: str = "dupont", **options: object) -> Script:
    parent = chat(app, f"{login}-{len(options)}", **options)
    await parent.login(login)
    return parent


async def dupont_addresses(database: Database) -> tuple[str, str]:
    async with database.reading() as db:
        household = await db.scalar(select(Household).where(Household.name == "DUPONT"))
        guardian = await db.scalar(select(Guardian).where(Guardian.login == "dupont"))
        return household.emails, guardian.email


# --- Seeing the account ---------------------------------------------------------------------


async def test_the_menu_and_the_words_show_the_households_own_guardians_and_addresses(
    app: TestClient, marie: None
):
    parent = await logged_in(app)
    parent.offers("Mon compte")
    await parent.press("Mon compte")
    parent.says(
        "Votre compte famille : DUPONT.",
        "Jean-Paul DUPONT — identifiant dupont — jean-paul@example.fr — vous",
        "Marie DUPONT — identifiant ma… — marie@example.fr",
        "Adresses e-mail du foyer (notifications) : famille.dupont@example.fr",
    )
    parent.never_says("marie.dupont", "MARTIN", "Claire")
    parent.offers(
        "Changer mon mot de passe", "Changer les adresses e-mail", "Télécharger mes données"
    )
    await parent.send("mon profil")
    parent.says("Votre compte famille : DUPONT.")
    await parent.press_payload("x.profile")  # the button of an old menu
    parent.says("Votre compte famille : DUPONT.")

    neighbour = await logged_in(app, "martin")
    await neighbour.send("mon compte")
    neighbour.says("Votre compte famille : MARTIN.", "Claire MARTIN — identifiant martin — vous")
    neighbour.says("martin@example.fr, claire.pro@example.fr")
    neighbour.never_says("DUPONT", "Jean-Paul", "Marie", "jean-paul@", "famille.dupont")

    visitor = chat(app, "visitor")
    await visitor.send("mon compte")
    visitor.says("Connectez-vous d'abord").never_says("DUPONT")


async def test_in_english_the_words_open_the_profile_and_the_password_change(app: TestClient):
    en = Translator("en")
    parent = await logged_in(app, locale="en")
    await parent.send("my account")
    parent.says(en._("Votre compte famille : {name}.", name="DUPONT"))
    parent.offers(en._("Changer mon mot de passe"), en._("Télécharger mes données"))
    await parent.send("change my password")
    parent.says(
        en._(
            "Pour changer de mot de passe, écrivez d'abord votre mot de passe actuel. (Il sera "
            "effacé de la conversation.)"
        )
    )
    await parent.send(PASSWORD)
    await parent.send(NEW_PASSWORD)
    await parent.send(NEW_PASSWORD)
    parent.says(en._("Votre compte famille : {name}.", name="DUPONT"))
    await parent.send("change my email")
    parent.offers(en._("Annuler"))
    assert await logs_in(app, NEW_PASSWORD, "after")


# --- A new password -----------------------------------------------------------------------


async def test_changing_the_password_asks_the_current_one_then_the_new_one_twice(
    app: TestClient,
):
    parent = await logged_in(app)
    await parent.press("Mon compte")
    await parent.press("Changer mon mot de passe")
    parent.says("écrivez d'abord votre mot de passe actuel")
    assert parent.replies[-1].secret_input
    await parent.send(PASSWORD)
    assert parent.result.secret_received  # the channel erases the message
    parent.says("au moins 10 caractères")
    assert parent.replies[-1].secret_input
    await parent.send("court")
    parent.says("trop simple")
    await parent.send(NEW_PASSWORD)
    assert parent.result.secret_received
    parent.says("une seconde fois")
    await parent.send("autre-secret-99")
    parent.says("différents")
    await parent.send(NEW_PASSWORD)
    await parent.send(NEW_PASSWORD)
    assert parent.result.secret_received
    parent.says("votre mot de passe est changé", "Votre compte famille : DUPONT")

    await parent.send("déconnexion")
    assert await logs_in(app, NEW_PASSWORD, "new")
    assert not await logs_in(app, PASSWORD, "old")


async def test_cancel_and_the_typed_words_leave_the_password_unchanged(app: TestClient):
    parent = await logged_in(app)
    await parent.send("changer mon mot de passe")
    await parent.press("Annuler")
    parent.says("Votre compte famille : DUPONT")
    await parent.send("changer de mot de passe")
    await parent.send(PASSWORD)
    await parent.press("Annuler")
    parent.says("Votre compte famille : DUPONT")
    assert await logs_in(app, PASSWORD, "unchanged")


async def test_a_wrong_current_password_is_a_failed_login_with_the_same_waits(
    app: TestClient, clock: FrozenClock
):
    parent = await logged_in(app)
    for left in (4, 3, 2, 1):
        await parent.send("changer mon mot de passe")
        await parent.send("devine-1234")
        parent.says(f"Il vous reste {left} essai", "Votre compte famille : DUPONT")
    await parent.send("changer mon mot de passe")
    await parent.send("devine-1234")
    parent.says("Trop d'essais", "bloqué jusqu'à 09:01")
    await parent.send("changer mon mot de passe")
    await parent.send(PASSWORD)  # the right one waits too
    parent.says("Trop d'essais").never_says("au moins 10 caractères")

    elsewhere = chat(app, "elsewhere")
    await elsewhere.login("dupont")  # the login waits as well: one count, one wait
    elsewhere.says("Trop d'essais")
    clock.advance(minutes=1)
    await parent.send("changer mon mot de passe")
    await parent.send(PASSWORD)
    parent.says("au moins 10 caractères")


async def test_a_password_typed_at_the_profile_steps_is_hashed_before_the_transaction(
    engine: Engine, addresses: None
):
    parent = Script(engine, "ahead")
    await parent.login("dupont")
    await parent.send("changer mon mot de passe")
    checks = []
    original = engine._check_password_first

    async def spy(*args):  # noqa: ANN002, ANN202
        checked = await original(*args)
        checks.append(checked)
        return checked

    engine._check_password_first = spy  # type: ignore[method-assign]
    await parent.send(PASSWORD)
    await parent.send(NEW_PASSWORD)
    await parent.send(NEW_PASSWORD)
    parent.says("votre mot de passe est changé")
    assert len(checks) == 3 and all(check is not None for check in checks)
    assert checks[0][1].matches and checks[2][1].matches


# --- New e-mail addresses -----------------------------------------------------------------


async def ask_new_addresses(parent: Script, typed: str) -> Script:
    if "Mon compte" in parent.buttons:  # from the menu; else the profile is shown already
        await parent.press("Mon compte")
    await parent.press("Changer les adresses e-mail")
    parent.says("la première devient la vôtre", "rien ne change avant qu'il soit ouvert")
    return await parent.send(typed)


async def test_new_addresses_apply_only_from_the_link_and_only_once(
    app: TestClient, smtp: SmtpServer, sqlite_database: Database
):
    before = await dupont_addresses(sqlite_database)
    parent = await logged_in(app)
    await ask_new_addresses(parent, "pas-une-adresse@, nouvelle@example.fr")
    parent.says("« pas-une-adresse@ » n'est pas une adresse e-mail valide")
    await parent.send("Nouvelle@example.fr, famille.dupont@example.fr")
    parent.says("Un lien de confirmation vient d'être envoyé à Nouvelle@example.fr", "24 heures")
    parent.says("Adresses e-mail du foyer (notifications) : famille.dupont@example.fr")

    link, notice = await mailed(app, smtp)
    assert [received.rcpt_tos for received in smtp.received] == [
        ["Nouvelle@example.fr"],
        [DUPONT_HOME, JEAN_PAUL],
    ]
    assert link["Subject"] == "Confirmez votre adresse e-mail"
    assert notice["Subject"] == "Changement d'adresse e-mail demandé"
    assert "Nouvelle@example.fr, famille.dupont@example.fr" in reset.body(notice, "text/plain")
    assert "/adresse-e-mail/" not in reset.body(notice, "text/plain")
    path = link_of(link)

    for _ in range(3):  # a mail scanner opening the link applies nothing
        page = await app.get(path)
        assert page.status == 200
        text = await page.text()
        assert "Nouvelle@example.fr, famille.dupont@example.fr" in text and "Confirmer" in text
    assert await dupont_addresses(sqlite_database) == before

    confirmed = await app.post("/adresse-e-mail", data={"token": token_of(path)})
    assert confirmed.status == 200
    assert "Adresses e-mail enregistrées" in await confirmed.text()
    assert await dupont_addresses(sqlite_database) == (
        "Nouvelle@example.fr;famille.dupont@example.fr",
        "Nouvelle@example.fr",
    )
    again = await app.post("/adresse-e-mail", data={"token": token_of(path)})
    assert again.status == 410 and "Lien expiré ou déjà utilisé" in await again.text()
    assert (await app.get(path)).status == 410

    await parent.send("mon compte")
    parent.says("Nouvelle@example.fr, famille.dupont@example.fr")
    await reset.ask_reset(chat(app, "forgot"), "dupont")  # a reset goes to the new address
    await mailed(app, smtp)
    assert smtp.received[-1].rcpt_tos == ["Nouvelle@example.fr"]


async def test_an_email_change_link_expires_after_a_day_and_changes_nothing(
    app: TestClient, smtp: SmtpServer, sqlite_database: Database, clock: FrozenClock
):
    before = await dupont_addresses(sqlite_database)
    parent = await logged_in(app)
    await ask_new_addresses(parent, "nouvelle@example.fr")
    path = link_of((await mailed(app, smtp))[0])
    clock.advance(timedelta(hours=24, minutes=1))
    page = await app.get(path)
    assert page.status == 410 and "24 heures" in await page.text()
    assert (await app.post("/adresse-e-mail", data={"token": token_of(path)})).status == 410
    assert await dupont_addresses(sqlite_database) == before


async def test_a_confirmation_from_another_sites_page_is_refused(
    app: TestClient, smtp: SmtpServer, sqlite_database: Database
):
    before = await dupont_addresses(sqlite_database)
    parent = await logged_in(app)
    await ask_new_addresses(parent, "nouvelle@example.fr")
    path = link_of((await mailed(app, smtp))[0])
    refused = await app.post(
        "/adresse-e-mail",
        data={"token": token_of(path)},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert refused.status == 403
    assert await dupont_addresses(sqlite_database) == before


async def test_e_mail_changes_are_capped_and_words_without_an_address_are_read_as_usual(
    app: TestClient, smtp: SmtpServer
):
    parent = await logged_in(app)
    for number in range(3):
        await ask_new_addresses(parent, f"nouvelle{number}@example.fr")
        parent.says("Un lien de confirmation vient d'être envoyé")
    await ask_new_addresses(parent, "encore@example.fr")
    parent.says("Trop de demandes").never_says("Un lien de confirmation")
    assert len(await mailed(app, smtp)) == 6  # three links, three notices

    await parent.press("Changer les adresses e-mail")
    await parent.send("menu")
    parent.says("Que voulez-vous faire ?")
    await parent.press("Mon compte")
    await parent.press("Changer les adresses e-mail")
    await parent.send("a@x.fr b@y.fr c@z.fr d@w.fr e@v.fr f@u.fr")
    parent.says("5 adresses au plus")

"""Back-office access: staff log in with the parents' waits, sessions end when idle or at
logout, every form needs the session's CSRF token, and a role sees only its pages."""

from __future__ import annotations

from datetime import timedelta

from booking.models import StaffRole
from tests import builders
from tests.staff_support import StaffBrowser, make_staff


async def _town(database, clock):
    async with database.writing() as db:
        structure = await builders.structure(db)
        return structure.id


async def test_a_staff_member_logs_in_and_out(database, clock, staff_client):
    structure_id = await _town(database, clock)
    await make_staff(database, structure_id, "agnes", StaffRole.AGENT, now=clock.now())
    browser = StaffBrowser(staff_client)

    await browser.get("/staff/")
    assert "Connexion à l'espace des services" in browser.text  # redirected to log in

    await browser.log_in("agnes")
    assert browser.status == 200
    assert "Bonjour Agnes" in browser.text
    assert "Tableau de bord" not in browser.text  # an agent's menu

    await browser.post("/staff/logout")
    await browser.get("/staff/")
    assert "Connexion à l'espace des services" in browser.text


async def test_a_wrong_password_and_an_unknown_login_get_the_same_answer(
    database, clock, staff_client
):
    structure_id = await _town(database, clock)
    await make_staff(database, structure_id, "agnes", now=clock.now())
    browser = StaffBrowser(staff_client)

    await browser.log_in("agnes", "wrong-password-1")
    wrong = browser.text
    assert browser.status == 401
    await browser.log_in("nobody", "wrong-password-1")
    assert browser.status == 401
    assert browser.text == wrong


async def test_wrong_passwords_make_a_staff_login_wait(database, clock, staff_client):
    structure_id = await _town(database, clock)
    await make_staff(database, structure_id, "agnes", now=clock.now())
    browser = StaffBrowser(staff_client)
    for _ in range(5):
        await browser.log_in("agnes", "wrong-password-1")
    await browser.log_in("agnes")
    assert browser.status == 401
    assert "Trop d'essais" in browser.text

    clock.advance(timedelta(minutes=2))
    await browser.log_in("agnes")
    assert "Bonjour Agnes" in browser.text


async def test_a_form_without_the_sessions_csrf_token_is_refused(database, clock, staff_client):
    structure_id = await _town(database, clock)
    await make_staff(database, structure_id, "agnes", now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("agnes")

    await browser.post("/staff/logout", {"csrf": "forged"})
    assert browser.status == 403
    await browser.get("/staff/")
    assert "Bonjour Agnes" in browser.text  # still logged in: the forged logout did nothing

    login = StaffBrowser(staff_client)
    await login.get("/staff/login")
    await login.post("/staff/login", {"csrf": "forged", "login": "agnes", "password": "x"})
    assert login.status == 403


async def test_an_idle_session_ends(database, clock, staff_client):
    structure_id = await _town(database, clock)
    await make_staff(database, structure_id, "agnes", now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.log_in("agnes")

    clock.advance(timedelta(minutes=59))
    await browser.get("/staff/")
    assert "Bonjour Agnes" in browser.text
    clock.advance(timedelta(minutes=61))
    await browser.get("/staff/")
    assert "Connexion à l'espace des services" in browser.text


async def test_the_session_cookie_is_http_only_and_strict(database, clock, staff_client):
    structure_id = await _town(database, clock)
    await make_staff(database, structure_id, "agnes", now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.get("/staff/login")
    response = await staff_client.post(
        "/staff/login",
        data={"csrf": browser.csrf, "login": "agnes", "password": "mairie-2026-ok"},
        allow_redirects=False,
    )
    assert response.status == 303
    cookie = response.cookies["ribambelle_staff"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/staff"


async def test_after_login_only_a_back_office_path_is_followed(database, clock, staff_client):
    structure_id = await _town(database, clock)
    await make_staff(database, structure_id, "agnes", now=clock.now())
    browser = StaffBrowser(staff_client)
    await browser.get("/staff/login")
    response = await staff_client.post(
        "/staff/login",
        data={
            "csrf": browser.csrf,
            "login": "agnes",
            "password": "mairie-2026-ok",
            "next": "https://evil.example/",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/staff/"

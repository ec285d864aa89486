"""Dossiers and enrolment requests decided in the back office: the staff approves or refuses
with a reason, the family is told through the outbox and reads the reason in the chat, every
decision is audited, and no one decides on another town's children."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from booking.clock import FrozenClock
from booking.db import Database
from booking.models import (
    Dossier,
    Enrolment,
    EnrolmentStatus,
    Guardian,
    Household,
    NoticeKind,
    OutboxMessage,
    Participant,
    StaffAudit,
    StaffRole,
    Structure,
)
from booking.refusals import Refusal, Refused
from booking.services.basket import add_to_basket
from booking.services.staff_accounts import StaffContext
from booking.services.staff_dossiers import (
    DecisionError,
    approve_dossier,
    decide_enrolment,
    dossier_item,
    dossiers_to_validate,
    enrolments_to_decide,
    read_items,
    refuse_dossier,
    update_dossier,
)
from dialogs.explain import explain
from dialogs.i18n import Translator
from dialogs.notices import render as render_notice
from tests import builders
from tests.integration import test_payments_flow as flow
from tests.integration.test_payments_flow import Chat
from tests.staff_support import StaffBrowser, make_staff, start_app

demo_template = flow.demo_template
demo = flow.demo
client = flow.client
PARIS = ZoneInfo("Europe/Paris")


class Town:
    """Two towns: ours with Zoé (dossier incomplete) and Amalia (enrolment pending), and a
    neighbour with its own child and request."""

    structure_id: int
    other_id: int
    household_id: int
    zoe_dossier: int
    zoe_id: int
    enrolment: int
    activity_id: int
    session_id: int
    their_dossier: int
    their_enrolment: int
    manager: StaffContext
    neighbour: StaffContext


async def town(database: Database, now: datetime) -> Town:
    made = Town()
    async with database.writing() as db:
        ours = await builders.structure(db)
        theirs = await builders.structure(db)
        home = await builders.household(db, ours, name="MARTIN")
        home.emails = "claire@example.org"
        await builders.guardian(db, home, first_name="Claire")
        zoe = await builders.participant(
            db, home, first_name="Zoé", missing=["fiche sanitaire"], validated=False
        )
        amalia = await builders.participant(db, home, first_name="Amalia")
        sport = await builders.activity(db, ours, name="École des sports", enrolment_required=True)
        request = await builders.enrolment(db, amalia, sport, EnrolmentStatus.PENDING)
        session = await builders.session(db, sport)
        other_home = await builders.household(db, theirs, name="AUTRE")
        other_child = await builders.participant(
            db, other_home, first_name="Yanis", missing=["vaccinations"], validated=False
        )
        other_sport = await builders.activity(db, theirs, enrolment_required=True)
        other_request = await builders.enrolment(
            db, other_child, other_sport, EnrolmentStatus.PENDING
        )
        made.structure_id, made.other_id = ours.id, theirs.id
        made.household_id, made.zoe_id = home.id, zoe.id
        made.enrolment, made.activity_id, made.session_id = request.id, sport.id, session.id
        made.their_enrolment = other_request.id
        made.zoe_dossier = await db.scalar(
            select(Dossier.id).where(Dossier.participant_id == zoe.id)
        )
        made.their_dossier = await db.scalar(
            select(Dossier.id).where(Dossier.participant_id == other_child.id)
        )
    manager = await make_staff(database, made.structure_id, "gestion", now=now)
    neighbour = await make_staff(database, made.other_id, "voisin", now=now)
    made.manager = StaffContext.of(manager)
    made.neighbour = StaffContext.of(neighbour)
    return made


async def refusal_for(database: Database, participant_id: int, session_id: int, now) -> Refused:
    """What the booking service answers the family trying to book the child."""
    async with database.writing() as db:
        child = await db.get(Participant, participant_id)
        actor = builders.parent(await db.get(Household, child.household_id))
        with pytest.raises(Refused) as refused:
            await add_to_basket(
                db, actor=actor, participant_id=participant_id, session_id=session_id, now=now
            )
    return refused.value


async def notices(database: Database, kind: NoticeKind) -> list[OutboxMessage]:
    async with database.reading() as db:
        return list(
            (await db.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind))).all()
        )


async def audits(database: Database) -> list[StaffAudit]:
    async with database.reading() as db:
        return list((await db.scalars(select(StaffAudit).order_by(StaffAudit.id))).all())


# Services -------------------------------------------------------------------------------------


async def test_the_queue_names_the_missing_items_of_this_towns_dossiers_only(database, clock):
    made = await town(database, clock.now())
    async with database.reading() as db:
        queue = await dossiers_to_validate(db, made.structure_id)
        requests = await enrolments_to_decide(db, made.structure_id)
    assert [(item.first_name, item.missing_items) for item in queue] == [
        ("Zoé", ["fiche sanitaire"])
    ]
    assert [(item.first_name, item.activity) for item in requests] == [
        ("Amalia", "École des sports")
    ]


async def test_approving_a_dossier_validates_it_tells_the_family_and_is_audited(database, clock):
    made = await town(database, clock.now())
    async with database.writing() as db:
        item = await approve_dossier(db, made.manager, made.zoe_dossier, clock.now())
    assert item is not None and item.missing_items == []

    dossier = await builders.reload(database, Dossier, made.zoe_dossier)
    assert dossier.is_complete and dossier.validated_at == clock.now()
    assert dossier.refusal_reason is None
    [mail] = await notices(database, NoticeKind.DOSSIER_DECIDED)
    assert mail.channel == "email" and mail.household_id == made.household_id
    assert mail.data == {"participant": "Zoé", "approved": True, "reason": None}
    [audit] = [a for a in await audits(database) if a.action == "dossier_approved"]
    assert audit.staff_id == made.manager.id and audit.household_id == made.household_id
    assert audit.target == f"dossier:{made.zoe_dossier}"
    async with database.reading() as db:
        assert await dossiers_to_validate(db, made.structure_id) == []


async def test_a_refusal_needs_a_reason_which_the_parent_reads_when_booking(database, clock):
    made = await town(database, clock.now())
    with pytest.raises(DecisionError) as error:
        async with database.writing() as db:
            await refuse_dossier(db, made.manager, made.zoe_dossier, "   ", clock.now())
    assert error.value.code == "required"

    async with database.writing() as db:
        await refuse_dossier(
            db, made.manager, made.zoe_dossier, "Attestation d'assurance périmée", clock.now()
        )
    dossier = await builders.reload(database, Dossier, made.zoe_dossier)
    assert dossier.validated_at is None
    assert dossier.refusal_reason == "Attestation d'assurance périmée"
    [mail] = await notices(database, NoticeKind.DOSSIER_DECIDED)
    assert mail.data["reason"] == "Attestation d'assurance périmée"

    refused = await refusal_for(database, made.zoe_id, made.session_id, clock.now())
    assert refused.code is Refusal.DOSSIER_INCOMPLETE
    assert refused.params["reason"] == "Attestation d'assurance périmée"
    said = explain(Translator("fr"), refused)
    assert "Motif : Attestation d'assurance périmée." in said
    async with database.reading() as db:
        [still] = await dossiers_to_validate(db, made.structure_id)
    assert still.refusal_reason == "Attestation d'assurance périmée"


async def test_a_dossier_of_another_town_is_neither_seen_nor_changed(database, clock):
    made = await town(database, clock.now())
    async with database.writing() as db:
        assert await approve_dossier(db, made.manager, made.their_dossier, clock.now()) is None
        assert (
            await refuse_dossier(db, made.manager, made.their_dossier, "non", clock.now()) is None
        )
        assert (
            await update_dossier(
                db,
                made.manager,
                made.their_dossier,
                notes="x",
                missing_items=[],
                now=clock.now(),
            )
            is None
        )
        assert await dossier_item(db, made.structure_id, made.their_dossier) is None
        assert (
            await decide_enrolment(
                db, made.manager, made.their_enrolment, approved=True, now=clock.now()
            )
            is None
        )
    theirs = await builders.reload(database, Dossier, made.their_dossier)
    assert theirs.validated_at is None and theirs.missing_items == ["vaccinations"]
    request = await builders.reload(database, Enrolment, made.their_enrolment)
    assert request.status is EnrolmentStatus.PENDING
    assert await audits(database) == [] or all(
        a.action == "staff_added" for a in await audits(database)
    )


async def test_notes_and_missing_items_are_edited_and_a_new_missing_item_blocks_again(
    database, clock
):
    made = await town(database, clock.now())
    async with database.writing() as db:
        await approve_dossier(db, made.manager, made.zoe_dossier, clock.now())
        item = await update_dossier(
            db,
            made.manager,
            made.zoe_dossier,
            notes="Allergie arachide (PAI)",
            missing_items=read_items("attestation d'assurance\n\n attestation d'assurance "),
            now=clock.now(),
        )
    assert item.notes == "Allergie arachide (PAI)"
    assert item.missing_items == ["attestation d'assurance"]
    dossier = await builders.reload(database, Dossier, made.zoe_dossier)
    assert dossier.validated_at is None
    audit = [a for a in await audits(database) if a.action == "dossier_updated"][0]
    assert audit.data["missing_after"] == ["attestation d'assurance"]
    assert audit.data["notes_changed"] is True


async def test_an_enrolment_is_approved_or_refused_with_a_reason_and_the_family_told(
    database, clock
):
    made = await town(database, clock.now())
    with pytest.raises(DecisionError):
        async with database.writing() as db:
            await decide_enrolment(
                db, made.manager, made.enrolment, approved=False, reason="", now=clock.now()
            )
    async with database.writing() as db:
        await decide_enrolment(
            db,
            made.manager,
            made.enrolment,
            approved=False,
            reason="Groupe complet cette année",
            now=clock.now(),
        )
    request = await builders.reload(database, Enrolment, made.enrolment)
    assert request.status is EnrolmentStatus.REFUSED
    assert request.refusal_reason == "Groupe complet cette année"
    async with database.reading() as db:
        amalia = await db.scalar(select(Enrolment.participant_id).where(Enrolment.id == request.id))
    refused = await refusal_for(database, amalia, made.session_id, clock.now())
    assert refused.code is Refusal.ENROLMENT_REFUSED
    assert "Motif : Groupe complet cette année." in explain(Translator("fr"), refused)

    clock.advance(timedelta(minutes=5))
    async with database.writing() as db:
        await decide_enrolment(db, made.manager, made.enrolment, approved=True, now=clock.now())
    request = await builders.reload(database, Enrolment, made.enrolment)
    assert request.status is EnrolmentStatus.APPROVED and request.refusal_reason is None
    told = await notices(database, NoticeKind.ENROLMENT_DECIDED)
    assert [m.data["approved"] for m in told] == [False, True]
    actions = [a.action for a in await audits(database)]
    assert actions.count("enrolment_refused") == 1 and actions.count("enrolment_approved") == 1


def test_the_decisions_are_told_in_the_parents_words():
    t = Translator("fr")
    approved = render_notice(
        NoticeKind.DOSSIER_DECIDED, {"participant": "Zoé", "approved": True}, t, PARIS, "http://x"
    )
    assert approved.text == "Le dossier de Zoé est validé : vous pouvez réserver."
    refused = render_notice(
        NoticeKind.ENROLMENT_DECIDED,
        {"participant": "Amalia", "activity": "EMS", "approved": False, "reason": "complet"},
        t,
        PARIS,
        "http://x",
    )
    assert "Motif : complet" in refused.text and "Amalia" in refused.text


# Pages ------------------------------------------------------------------------------------------


@pytest.fixture
async def staff_app(database: Database, clock: FrozenClock) -> AsyncIterator[TestClient]:
    client = await start_app(database, clock)
    yield client
    await client.close()


async def test_a_manager_validates_and_refuses_from_the_queue(database, clock, staff_app):
    made = await town(database, clock.now())
    browser = StaffBrowser(staff_app)
    await browser.log_in("gestion")
    await browser.get("/staff/dossiers")
    assert browser.status == 200
    assert "Zoé" in browser.text and "fiche sanitaire" in browser.text
    assert "Amalia" in browser.text and "École des sports" in browser.text
    assert "Yanis" not in browser.text

    await browser.post(f"/staff/dossiers/{made.zoe_dossier}/refuse", {"reason": ""})
    assert browser.status == 400
    assert "Écrivez le motif du refus" in browser.text
    await browser.post(
        f"/staff/dossiers/{made.zoe_dossier}/refuse", {"reason": "Fiche sanitaire non signée"}
    )
    assert browser.status == 200
    assert "Dossier refusé" in browser.text and "Fiche sanitaire non signée" in browser.text

    await browser.post(f"/staff/enrolments/{made.enrolment}/approve")
    assert "Inscription acceptée" in browser.text
    assert "Aucune demande d'inscription en attente." in browser.text

    await browser.post(f"/staff/dossiers/{made.zoe_dossier}/approve")
    assert "Dossier validé" in browser.text and "Aucun dossier en attente." in browser.text


async def test_a_manager_edits_a_dossiers_notes(database, clock, staff_app):
    made = await town(database, clock.now())
    browser = StaffBrowser(staff_app)
    await browser.log_in("gestion")
    await browser.get(f"/staff/dossiers/{made.zoe_dossier}")
    assert browser.status == 200 and "Dossier de Zoé" in browser.text
    await browser.post(
        f"/staff/dossiers/{made.zoe_dossier}",
        {"notes": "Allergie arachide", "missing_items": "fiche sanitaire\nvaccinations"},
    )
    assert "Dossier enregistré." in browser.text and "Allergie arachide" in browser.text
    dossier = await builders.reload(database, Dossier, made.zoe_dossier)
    assert dossier.missing_items == ["fiche sanitaire", "vaccinations"]
    assert dossier.notes == "Allergie arachide"


async def test_another_towns_staff_gets_404_and_an_agent_403_on_every_dossier_url(
    database, clock, staff_app
):
    made = await town(database, clock.now())
    await make_staff(database, made.structure_id, "agent", StaffRole.AGENT, now=clock.now())
    posts = [
        (f"/staff/dossiers/{made.zoe_dossier}/approve", {}),
        (f"/staff/dossiers/{made.zoe_dossier}/refuse", {"reason": "non"}),
        (f"/staff/dossiers/{made.zoe_dossier}", {"notes": "volé", "missing_items": ""}),
        (f"/staff/enrolments/{made.enrolment}/approve", {}),
        (f"/staff/enrolments/{made.enrolment}/refuse", {"reason": "non"}),
    ]
    neighbour = StaffBrowser(staff_app)
    await neighbour.log_in("voisin")
    await neighbour.get("/staff/dossiers")
    assert "Zoé" not in neighbour.text and "Amalia" not in neighbour.text
    await neighbour.get(f"/staff/dossiers/{made.zoe_dossier}")
    assert neighbour.status == 404 and "Zoé" not in neighbour.text
    for path, data in posts:
        await neighbour.get("/staff/dossiers")  # a fresh CSRF token
        await neighbour.post(path, data)
        assert neighbour.status == 404, path
        assert "Zoé" not in neighbour.text and "Amalia" not in neighbour.text

    agent = StaffBrowser(staff_app)
    await agent.log_in("agent")
    await agent.get("/staff/dossiers")
    assert agent.status == 403
    await agent.get(f"/staff/dossiers/{made.zoe_dossier}")
    assert agent.status == 403
    for path, data in posts:
        await agent.get("/staff/")
        await agent.post(path, data)
        assert agent.status == 403, path

    dossier = await builders.reload(database, Dossier, made.zoe_dossier)
    assert dossier.validated_at is None and dossier.notes == "" and dossier.refusal_reason is None
    request = await builders.reload(database, Enrolment, made.enrolment)
    assert request.status is EnrolmentStatus.PENDING
    assert not [a for a in await audits(database) if a.action != "staff_added"]


# The demo town, end to end: the back office, then the parent's chat ---------------------------


async def test_once_a_manager_validates_zoes_dossier_martin_is_told_and_can_book_her(
    client, demo, clock
):
    async with demo.reading() as db:
        structure_id = await db.scalar(select(Structure.id).where(Structure.slug == "ville-demo"))
        zoe_dossier = await db.scalar(
            select(Dossier.id)
            .join(Participant, Participant.id == Dossier.participant_id)
            .join(Guardian, Guardian.household_id == Participant.household_id)
            .where(Guardian.login == "martin", Participant.first_name == "Zoé")
        )
    await make_staff(demo, structure_id, "gestion-demo", now=clock.now())
    chat = Chat(client)
    await chat.log_in("martin")
    await chat.say("inscris Zoé à la cantine lundi prochain")
    assert "dossier" in chat.text and "Total" not in chat.text, chat.text

    staff = StaffBrowser(client)
    await staff.log_in("gestion-demo")
    await staff.get("/staff/dossiers")
    assert "Zoé" in staff.text and "attestation d'assurance" in staff.text
    await staff.post(
        f"/staff/dossiers/{zoe_dossier}/refuse", {"reason": "L'attestation d'assurance a expiré"}
    )
    assert "Dossier refusé" in staff.text
    await chat.say("inscris Zoé à la cantine lundi prochain")
    assert "Motif : L'attestation d'assurance a expiré." in chat.text, chat.text

    await staff.post(f"/staff/dossiers/{zoe_dossier}/approve")
    assert "Dossier validé" in staff.text

    pushed = await chat.pushed()
    assert "La mairie n'a pas validé le dossier de Zoé. Motif : L'attestation" in " ".join(pushed)
    assert "Le dossier de Zoé est validé : vous pouvez réserver." in pushed
    await chat.say("inscris Zoé à la cantine lundi prochain")
    assert "Total" in chat.text, chat.text
    await chat.press("Confirmer")
    assert "confirmé" in chat.text.lower(), chat.text

"""The retention sweep on SQLite and PostgreSQL, with the clock injected: conversations,
messages and notifications past RIBAMBELLE_RETENTION_MONTHS go, spent links and login counts
after a day, Telegram update ids after a week; what is recent or still needed stays; small
batches, each in its own transaction, until nothing is left; a second run finds nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.models import (
    AccountToken,
    Conversation,
    LinkCode,
    LoginThrottle,
    NoticeKind,
    OutboxMessage,
    OutboxState,
    PushedMessage,
    TelegramUpdate,
)
from booking.models.conversations import MessageKind
from booking.services.account_tokens import Purpose, issue_token
from booking.services.privacy import months_before, purge_expired_personal_data
from bot.scheduler import privacy_sweep_once
from bot.settings import Settings
from tests import builders as b
from tests.conftest import PINNED_NOW

OLD = PINNED_NOW - timedelta(days=400)  # more than 13 months ago
RECENT = PINNED_NOW - timedelta(days=300)  # less


async def seed(database: Database) -> dict[str, int]:
    """Old and recent rows of each kind; returns the ids of those that must stay."""
    async with database.writing() as db:
        town = await b.structure(db)
        family = await b.family(db, town)
        idle = Conversation(
            channel="telegram", key="111", household_id=family.household.id,
            guardian_id=family.guardian.id, created_at=OLD, updated_at=OLD,
        )  # fmt: skip
        active = Conversation(
            channel="web", key="active", created_at=OLD, updated_at=RECENT,
            history_from=3, last_message_id=4,
        )  # fmt: skip
        db.add_all([idle, active])
        await db.flush()
        for conversation, message_id, at in (
            (idle, 1, OLD),
            (idle, 2, RECENT),  # goes with its idle conversation
            (active, 1, RECENT),  # hidden: before the history's start (another login)
            (active, 3, OLD),
            (active, 4, RECENT),
        ):
            db.add(
                PushedMessage(
                    conversation_id=conversation.id,
                    message_id=message_id,
                    body={"text": "…"},
                    created_at=at,
                    kind=MessageKind.PUSH,
                )
            )
        for number, (state, at) in enumerate(
            [
                (OutboxState.SENT, OLD),
                (OutboxState.DEAD, OLD),
                (OutboxState.SKIPPED, OLD),
                (OutboxState.PENDING, OLD),  # stays: not delivered yet
                (OutboxState.SENT, RECENT),
            ]
        ):
            db.add(
                OutboxMessage(
                    household_id=family.household.id,
                    kind=NoticeKind.REMINDER,
                    channel="email",
                    address="a@exemple.test",
                    delivery_key=f"k{number}",
                    state=state,
                    next_attempt_at=at,
                    created_at=at,
                )
            )
        two_days_ago = PINNED_NOW - timedelta(days=2)
        await issue_token(db, family.guardian.id, Purpose.DATA_EXPORT, two_days_ago)
        await issue_token(db, family.guardian.id, Purpose.DATA_EXPORT, PINNED_NOW)
        db.add_all(
            [
                LinkCode(
                    code_hash="spent",
                    guardian_id=family.guardian.id,
                    created_at=two_days_ago,
                    expires_at=two_days_ago + timedelta(minutes=15),
                ),
                LinkCode(
                    code_hash="fresh",
                    guardian_id=family.guardian.id,
                    created_at=PINNED_NOW,
                    expires_at=PINNED_NOW + timedelta(minutes=15),
                ),
                LoginThrottle(key="192.0.2.1", failures=2, updated_at=two_days_ago),
                LoginThrottle(key="192.0.2.2", failures=7, updated_at=PINNED_NOW),
                TelegramUpdate(bot_id=1, update_id=1, received_at=PINNED_NOW - timedelta(days=8)),
                TelegramUpdate(bot_id=1, update_id=2, received_at=PINNED_NOW),
            ]
        )
        await db.flush()
        return {"active": active.id, "household": family.household.id}


async def remaining(database: Database) -> dict[str, object]:
    async with database.reading() as db:
        count = lambda model: db.scalar(select(func.count()).select_from(model))  # noqa: E731
        return {
            "conversations": list(await db.scalars(select(Conversation.key))),
            "pushed_messages": sorted(
                tuple(row)
                for row in await db.execute(
                    select(PushedMessage.conversation_id, PushedMessage.message_id)
                )
            ),
            "outbox": sorted(
                tuple(row)
                for row in await db.execute(select(OutboxMessage.state, OutboxMessage.created_at))
            ),
            "account_tokens": await count(AccountToken),
            "link_codes": list(await db.scalars(select(LinkCode.code_hash))),
            "login_throttles": list(await db.scalars(select(LoginThrottle.key))),
            "telegram_updates": list(await db.scalars(select(TelegramUpdate.update_id))),
        }


async def test_the_sweep_forgets_what_is_past_its_keeping_time_and_keeps_the_rest(
    database: Database,
) -> None:
    kept = await seed(database)

    async with database.writing() as db:
        counts = await purge_expired_personal_data(db, PINNED_NOW, 13)

    assert counts == {
        "pushed_messages": 1 + 2,  # an old one; the idle conversation's two
        "hidden_messages": 1,
        "conversations": 1,
        "outbox": 3,
        "account_tokens": 1,
        "link_codes": 1,
        "login_throttles": 1,
        "telegram_updates": 1,
    }
    assert await remaining(database) == {
        "conversations": ["active"],
        "pushed_messages": [(kept["active"], 4)],
        "outbox": sorted([(OutboxState.PENDING, OLD), (OutboxState.SENT, RECENT)]),
        "account_tokens": 1,
        "link_codes": ["fresh"],
        "login_throttles": ["192.0.2.2"],
        "telegram_updates": [2],
    }


async def test_the_sweep_is_idempotent(database: Database) -> None:
    await seed(database)
    async with database.writing() as db:
        await purge_expired_personal_data(db, PINNED_NOW, 13)
    left = await remaining(database)

    async with database.writing() as db:
        assert set((await purge_expired_personal_data(db, PINNED_NOW, 13)).values()) == {0}
    assert await remaining(database) == left


async def test_a_longer_retention_keeps_more(database: Database) -> None:
    await seed(database)
    async with database.writing() as db:
        counts = await purge_expired_personal_data(db, PINNED_NOW, 24)
    assert (counts["conversations"], counts["outbox"], counts["pushed_messages"]) == (0, 0, 0)


async def test_the_scheduled_sweep_deletes_in_small_batches_until_nothing_is_left(
    database: Database,
) -> None:
    kept = await seed(database)
    async with database.writing() as db:
        for number in range(7):
            db.add(
                OutboxMessage(
                    household_id=kept["household"],
                    kind=NoticeKind.REMINDER,
                    channel="web",
                    address="1",
                    delivery_key=f"many{number}",
                    state=OutboxState.SENT,
                    next_attempt_at=OLD,
                    created_at=OLD,
                )
            )
    clock = FrozenClock(PINNED_NOW)

    total = await privacy_sweep_once(database, clock, 13, batch=2)

    assert total["outbox"] == 3 + 7
    assert (await remaining(database))["outbox"] == sorted(
        [(OutboxState.PENDING, OLD), (OutboxState.SENT, RECENT)]
    )
    assert set((await privacy_sweep_once(database, clock, 13, batch=2)).values()) == {0}
    clock.advance(days=100)  # the active conversation is idle past the retention now
    total = await privacy_sweep_once(database, clock, 13, batch=2)
    assert total["conversations"] == 1 and (await remaining(database))["conversations"] == []


def test_retention_counts_calendar_months() -> None:
    assert months_before(datetime(2027, 3, 31, 9, tzinfo=PARIS), 1) == datetime(
        2027, 2, 28, 9, tzinfo=PARIS
    )
    assert months_before(PINNED_NOW, 13) == datetime(2026, 2, 1, 9, tzinfo=PARIS)
    assert months_before(PINNED_NOW, 3) == datetime(2026, 12, 1, 9, tzinfo=PARIS)


def test_the_retention_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).retention_months == 13
    assert Settings.from_env({"RIBAMBELLE_RETENTION_MONTHS": "6"}).retention_months == 6
    with pytest.raises(ValueError, match="at least 1"):
        Settings.from_env({"RIBAMBELLE_RETENTION_MONTHS": "0"})

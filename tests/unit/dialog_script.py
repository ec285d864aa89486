"""Drive a scripted conversation against the engine: send text, press buttons by their label,
tap calendar days, and assert on what the last turn said."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from booking import passwords
from booking.clock import PARIS, Clock
from booking.db import Database
from booking.models import (
    Activity,
    Category,
    Household,
    LedgerKind,
    Participant,
    PaymentMode,
    Session,
    WalletKind,
)
from booking.passwords import hash_password
from booking.services.basket import add_to_basket, confirm_basket
from booking.services.common import Actor
from dialogs.engine import Engine, Incoming, TurnResult
from dialogs.replies import Button, Calendar, CalendarDay, Reply
from tests import builders as b
from tests.conftest import PINNED_NOW


def _plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


class Script:
    """One conversation (channel, key) and the replies of its last turn."""

    def __init__(
        self,
        engine: Engine,
        key: str = "parent",
        *,
        channel: str = "web",
        locale: str | None = None,
        client: str | None = None,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.key = key
        self.locale = locale  # the channel's hint (a browser's language)
        self.client = client  # the client's address, as the channel tells it
        self.result: TurnResult | None = None
        self.history: list[tuple[str, list[Reply]]] = []

    # --- sending ------------------------------------------------------------------------

    async def turn(self, incoming: Incoming, said: str = "") -> Script:
        if self.locale is not None:
            incoming = replace(incoming, locale_hint=self.locale)
        if self.client is not None:
            incoming = replace(incoming, client=self.client)
        self.result = await self.engine.handle(self.channel, self.key, incoming)
        self.history.append((said, self.result.replies))
        return self

    async def send(self, text: str) -> Script:
        """Type a message."""
        return await self.turn(Incoming(text=text), text)

    async def press(self, label: str) -> Script:
        """Press the button (or calendar arrow) whose label starts with `label`."""
        return await self.turn(Incoming(button=self.payload(label)), f"[{label}]")

    async def press_payload(self, payload: str) -> Script:
        """Send a raw button payload: a replayed, stale or forged one."""
        return await self.turn(Incoming(button=payload), f"[{payload}]")

    async def tap(self, day: date) -> Script:
        """Tap a day of the calendar shown last."""
        found = self.day(day)
        assert found.payload, f"{day} cannot be tapped ({found.state}){self._dump()}"
        return await self.turn(Incoming(button=found.payload), f"[{day}]")

    async def look(self) -> Script:
        """An empty message: the step is shown again (after racing turns, a restart)."""
        return await self.turn(Incoming(text=""), "")

    async def login(self, login: str = "dupont", password: str = "") -> Script:
        """Log in from wherever the conversation is (a login prompt is answered at once)."""
        english = self.locale not in (None, "fr")
        if self.result is None:
            await self.send("log in" if english else "connexion")
        elif any(label in ("Se connecter", "Log in") for label in self.buttons):
            await self.press("Log in" if "Log in" in self.buttons else "Se connecter")
        await self.send(login)
        return await self.send(password or PASSWORD)

    # --- reading the last turn ----------------------------------------------------------

    @property
    def replies(self) -> list[Reply]:
        assert self.result is not None, "nothing was sent yet"
        return self.result.replies

    @property
    def text(self) -> str:
        """The last turn's messages, no-break spaces (Babel's, before "€") made plain."""
        return _plain("\n".join(reply.text for reply in self.replies))

    def _buttons(self) -> Iterator[Button]:
        for reply in self.replies:
            for row in reply.buttons:
                yield from row
            if reply.calendar is not None:
                yield from (b for b in (reply.calendar.previous, reply.calendar.next) if b)

    @property
    def buttons(self) -> list[str]:
        return [button.label for button in self._buttons()]

    def payload(self, label: str) -> str:
        for button in self._buttons():
            if button.label.startswith(label):
                return button.payload
        raise AssertionError(f"no button starting with {label!r}{self._dump()}")

    @property
    def calendar(self) -> Calendar:
        calendars = [reply.calendar for reply in self.replies if reply.calendar is not None]
        assert calendars, f"no calendar shown{self._dump()}"
        return calendars[-1]

    def day(self, day: date) -> CalendarDay:
        for week in self.calendar.weeks:
            for cell in week:
                if cell is not None and cell.day == day:
                    return cell
        raise AssertionError(f"{day} is not in the calendar {self.calendar.title}")

    def state_of(self, day: date) -> str:
        return self.day(day).state

    # --- assertions ---------------------------------------------------------------------

    def says(self, *fragments: str) -> Script:
        """Every fragment appears in the last turn's text (case-insensitive)."""
        folded = self.text.casefold()
        for fragment in fragments:
            assert _plain(fragment).casefold() in folded, f"{fragment!r} not said{self._dump()}"
        return self

    def never_says(self, *fragments: str) -> Script:
        folded = self.text.casefold()
        for fragment in fragments:
            assert _plain(fragment).casefold() not in folded, f"{fragment!r} was said{self._dump()}"
        return self

    def offers(self, *labels: str) -> Script:
        """A button starts with each label."""
        for label in labels:
            assert any(b.startswith(label) for b in self.buttons), (
                f"no button {label!r}{self._dump()}"
            )
        return self

    def does_not_offer(self, *labels: str) -> Script:
        for label in labels:
            assert not any(b.startswith(label) for b in self.buttons), (
                f"button {label!r} offered{self._dump()}"
            )
        return self

    def shows_days(self, state: str, *days: date) -> Script:
        for day in days:
            assert self.state_of(day) == state, (
                f"{day} is {self.state_of(day)}, not {state}{self._dump()}"
            )
        return self

    def _dump(self) -> str:
        if self.result is None:
            return ""
        lines = ["", "--- last turn ---"]
        for reply in self.replies:
            lines.append(reply.text)
            if reply.buttons:
                lines.append(
                    "  [" + " | ".join(b.label for row in reply.buttons for b in row) + "]"
                )
            if reply.calendar is not None:
                lines.append(
                    f"  calendar {reply.calendar.title}: "
                    + ", ".join(
                        f"{cell.day.day}={cell.state}"
                        for week in reply.calendar.weeks
                        for cell in week
                        if cell is not None and cell.state != "closed"
                    )
                )
        return "\n".join(lines)


# --- The town the journeys happen in ------------------------------------------------------
#
# Pinned clock: Monday 1 March 2027, 09:00 (Paris).

PASSWORD = "demo-dupont-1"
FIRST_PASSWORD = "premier-mot-2"


#: argon2 with its production cost takes half a second a login; the journeys use the same
#: code with a cheap cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class Town:
    dupont: Household
    lea: Participant  # 8, complete dossier
    paolo: Participant  # 6
    amalia: Participant  # 13: too old for most activities
    cantine: Activity  # invoice, school days, cancellable until 10:00 the day before
    mercredis: Activity  # immediate payment, 2 places, waitlist
    soir: Activity  # wallet
    escalade: Activity  # coupons
    ems: Activity  # needs an approved enrolment
    ete: Activity  # summer days, invoice
    sejour: Activity  # opens on 1 April
    voisins: Household  # another household that fills the Wednesdays
    voisins_kids: list[Participant]
    sessions: dict[tuple[int, date], Session]

    def session(self, activity: Activity, day: date) -> Session:
        return self.sessions[(activity.id, day)]


def _days(first: date, last: date, weekdays: set[int]) -> Iterator[date]:
    day = first
    while day <= last:
        if day.weekday() in weekdays:
            yield day
        day += timedelta(days=1)


async def _book(db, actor: Actor, child: Participant, session: Session, now: datetime) -> None:
    await add_to_basket(db, actor=actor, participant_id=child.id, session_id=session.id, now=now)
    checkout = await confirm_basket(db, actor=actor, now=now)
    for booking in checkout.pending_payment:
        await b.mark_paid(db, booking, now)


async def build_town(database: Database, now: datetime) -> Town:
    """The Dupont household (Léa, Paolo, Amalia; wallet and coupons; a few bookings), their
    town's activities, and other households: Durand (first login), Martin (dossier
    incomplete), Bernard (in debt), the Voisins (who took both places of Wednesday 10 March)."""
    sessions: dict[tuple[int, date], Session] = {}

    async def add(db, activity, days, *, hour, minute=0, hours, **kwargs) -> None:
        for day in days:
            sessions[(activity.id, day)] = await b.session(
                db,
                activity,
                starts_at=datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS),
                hours=hours,
                **kwargs,
            )

    async with database.writing() as db:
        town = await b.structure(db)
        dupont = await b.household(db, town, name="DUPONT")
        jean_paul = await b.guardian(db, dupont, first_name="Jean-Paul")
        jean_paul.login = "dupont"
        jean_paul.password_hash = hash_password(PASSWORD)
        jean_paul.terms_accepted_at = now - timedelta(days=60)
        lea = await b.participant(db, dupont, first_name="Léa", born=date(2018, 5, 12))
        paolo = await b.participant(db, dupont, first_name="Paolo", born=date(2021, 2, 3))
        amalia = await b.participant(db, dupont, first_name="Amalia", born=date(2013, 10, 20))

        school_days = {0, 1, 3, 4}
        spring = (date(2027, 2, 15), date(2027, 4, 30))
        cantine = await b.activity(
            db,
            town,
            name="Cantine",
            category=Category.RESTAURATION,
            min_age=3,
            max_age=12,
            cancellation_days=1,
            cancellation_time=time(10, 0),
        )
        await add(
            db,
            cantine,
            _days(*spring, school_days),
            hour=11,
            minute=30,
            hours=2,
            capacity=40,
            price_cents=335,
        )
        mercredis = await b.activity(
            db,
            town,
            name="Mercredis loisirs 6-12",
            category=Category.ALSH,
            mode=PaymentMode.IMMEDIATE,
            min_age=6,
            max_age=12,
            waitlist=True,
            cancellation_days=2,
        )
        await add(
            db,
            mercredis,
            _days(date(2027, 3, 1), spring[1], {2}),
            hour=8,
            minute=30,
            hours=9,
            capacity=2,
            price_cents=1200,
        )
        soir = await b.activity(
            db,
            town,
            name="Accueil du soir",
            category=Category.PERISCOLAIRE,
            mode=PaymentMode.WALLET,
            min_age=3,
            max_age=12,
            booking_time=time(9, 0),
        )
        await add(
            db,
            soir,
            _days(date(2027, 3, 1), spring[1], school_days),
            hour=16,
            minute=30,
            hours=2,
            capacity=20,
            price_cents=250,
        )
        escalade = await b.activity(
            db,
            town,
            name="Escalade en famille",
            category=Category.SPORT,
            mode=PaymentMode.COUPONS,
            min_age=6,
            max_age=None,
        )
        await add(
            db,
            escalade,
            _days(date(2027, 3, 1), spring[1], {5}),
            hour=10,
            hours=2,
            capacity=12,
            price_cents=0,
            coupons=2,
        )
        ems = await b.activity(
            db,
            town,
            name="École des sports",
            category=Category.EMS,
            min_age=6,
            max_age=12,
            enrolment_required=True,
        )
        await add(
            db,
            ems,
            _days(date(2027, 3, 1), spring[1], {1}),
            hour=17,
            hours=1.5,
            capacity=15,
            price_cents=400,
        )
        ete = await b.activity(
            db,
            town,
            name="Centre de loisirs d'été",
            category=Category.ALSH,
            min_age=3,
            max_age=12,
        )
        await add(
            db,
            ete,
            _days(date(2027, 7, 5), date(2027, 7, 30), {0, 1, 2, 3, 4}),
            hour=8,
            hours=9,
            capacity=20,
            price_cents=1500,
        )
        sejour = await b.activity(
            db,
            town,
            name="Séjour montagne",
            category=Category.SEJOUR,
            mode=PaymentMode.IMMEDIATE,
            min_age=6,
            max_age=12,
            opens_at=datetime(2027, 4, 1, 9, 0, tzinfo=PARIS),
        )
        await add(
            db,
            sejour,
            [date(2027, 7, 12)],
            hour=9,
            hours=4 * 24 + 8,
            capacity=12,
            price_cents=25000,
        )

        cantine.place = "Groupe scolaire Jules Ferry"
        mercredis.place = ete.place = "Les Tilleuls"
        escalade.place = "Gymnase Coubertin"
        sejour.place = "Chalet du Vercors"

        # Money: last month's top-ups, a wallet and coupons to spend.
        february = datetime(2027, 2, 10, 10, 0, tzinfo=PARIS)
        await b.credit(db, dupont, 4000, at=february)
        await b.credit(db, dupont, 10, kind=WalletKind.COUPONS, at=february)

        # Bookings: last month's meal, today's meal, and what the journeys cancel.
        actor = b.parent(dupont, jean_paul)
        await _book(db, actor, lea, sessions[(cantine.id, date(2027, 2, 15))], february)
        await _book(db, actor, lea, sessions[(cantine.id, date(2027, 3, 1))], now)
        await _book(db, actor, lea, sessions[(cantine.id, date(2027, 3, 2))], now)
        await _book(db, actor, paolo, sessions[(mercredis.id, date(2027, 3, 3))], now)
        await _book(db, actor, lea, sessions[(soir.id, date(2027, 3, 4))], now)
        await _book(db, actor, lea, sessions[(escalade.id, date(2027, 3, 6))], now)

        # Other households.
        durand = await b.household(db, town, name="DURAND")
        nina = await b.guardian(db, durand, first_name="Nina")
        nina.login = "durand"
        nina.password_hash = hash_password(FIRST_PASSWORD)
        nina.must_change_password = True
        await b.participant(db, durand, first_name="Hugo", born=date(2019, 1, 9))

        martin = await b.household(db, town, name="MARTIN")
        claire = await b.guardian(db, martin, first_name="Claire")
        claire.login = "martin"
        claire.password_hash = hash_password(PASSWORD)
        claire.terms_accepted_at = now - timedelta(days=10)
        await b.participant(db, martin, first_name="Zoé", missing=["fiche sanitaire"])

        bernard = await b.household(db, town, name="BERNARD")
        marc = await b.guardian(db, bernard, first_name="Marc")
        marc.login = "bernard"
        marc.password_hash = hash_password(PASSWORD)
        marc.terms_accepted_at = now - timedelta(days=10)
        await b.participant(db, bernard, first_name="Tom")
        await b.credit(
            db, bernard, -4500, kind=WalletKind.ACCOUNT, at=february, entry_kind=LedgerKind.INVOICE
        )

        voisins = await b.household(db, town, name="VOISIN")
        neighbour = await b.guardian(db, voisins, first_name="Ana")
        kids = [
            await b.participant(db, voisins, first_name=name, born=date(2019, 6, 1))
            for name in ("Inès", "Noé")
        ]
        for kid in kids:
            await _book(
                db,
                b.parent(voisins, neighbour),
                kid,
                sessions[(mercredis.id, date(2027, 3, 10))],
                now,
            )
    return Town(
        dupont,
        lea,
        paolo,
        amalia,
        cantine,
        mercredis,
        soir,
        escalade,
        ems,
        ete,
        sejour,
        voisins,
        kids,
        sessions,
    )


async def book_for(
    database: Database, household: Household, child: Participant, session: Session, now: datetime
) -> None:
    """Another parent books (and pays) a place, through the same services."""
    async with database.writing() as db:
        await _book(db, b.parent(household), child, session, now)


# --- Fixtures (imported by the journey modules) ---------------------------------------------


def _build_file(path: Path) -> Town:
    async def build() -> Town:
        database = Database.from_url(f"sqlite+aiosqlite:///{path}")
        try:
            return await build_town(database, PINNED_NOW)
        finally:
            await database.dispose()

    town = asyncio.run(build())
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return town


@pytest.fixture(scope="module")
def town_template(
    sqlite_template: bytes, tmp_path_factory: pytest.TempPathFactory
) -> tuple[bytes, Town]:
    """The migrated database with the town, built once per module and copied per test."""
    path = tmp_path_factory.mktemp("town") / "town.db"
    path.write_bytes(sqlite_template)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", FAST_HASHER)
        with ThreadPoolExecutor(max_workers=1) as pool:  # fixtures may start inside a loop
            town = pool.submit(_build_file, path).result()
    return path.read_bytes(), town


@pytest.fixture
def sqlite_url(tmp_path: Path, town_template: tuple[bytes, Town]) -> str:
    """`sqlite_database` opens a copy of the town (this overrides conftest's empty copy)."""
    path = tmp_path / "ribambelle.db"
    path.write_bytes(town_template[0])
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def town(town_template: tuple[bytes, Town]) -> Town:
    return town_template[1]


@pytest.fixture
def engine(sqlite_database: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)
    return Engine(sqlite_database, clock)

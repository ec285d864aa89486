"""Payments by link, on SQLite and PostgreSQL: what the provider says is applied exactly once.

The provider's answers are given as `ProviderStatus` values, as the HTTP side would read them;
the pages, the sandbox and the notifications are tested in `test_payments_flow.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

import booking.services.payments as payments_module
from booking.clock import FrozenClock
from booking.db import Database
from booking.models import (
    PLACE_TAKING,
    Booking,
    BookingEvent,
    BookingState,
    EventKind,
    LedgerKind,
    Payment,
    PaymentMode,
    PaymentPurpose,
    PaymentState,
    Session,
    Structure,
    WalletKind,
)
from booking.providers import ProviderState, ProviderStatus
from booking.refusals import Refusal, Refused
from booking.services.basket import add_to_basket, confirm_basket, join_waitlist
from booking.services.cancellation import cancel_booking
from booking.services.holds import sweep_expired_holds
from booking.services.payments import (
    GIVE_UP_AFTER,
    Outcome,
    apply_status,
    attach_reference,
    expire_unopened,
    pay_from_wallet,
    payment_history,
    refunds_to_send,
    settle_refund,
    start_basket_payment,
    start_debt_payment,
    start_top_up,
    wallet_covers,
)
from booking.services.receipts import receipts_of
from booking.services.wallets import amount_owed, get_wallet
from tests import builders as b
from tests.builders import WEDNESDAY, Family, postgres_scratch  # noqa: F401

PRICE = 1485  # two Wednesdays at 14,85 €: "Payer 29,70 €"
COUPON_PRICE = 250


@pytest.fixture
async def postgres_url(postgres_scratch: str) -> str:  # noqa: F811
    return await b.emptied_postgres_url(postgres_scratch)


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(postgres_url)
    yield database
    await database.dispose()


# A town whose Wednesdays are paid online ----------------------------------------------------


@dataclass
class Town:
    database: Database
    clock: FrozenClock
    structure: Structure
    wednesdays: list[Session]
    family: Family

    async def another_family(self, name: str) -> Family:
        async with self.database.writing() as db:
            return await b.family(db, self.structure, name=name)


async def immediate_town(
    database: Database,
    clock: FrozenClock,
    *,
    capacity: int = 10,
    waitlist: bool = False,
    refund_via_provider: bool = False,
) -> Town:
    """Two Wednesdays of 14,85 € paid by link; coupons sold at 2,50 €; one family."""
    async with database.writing() as db:
        town = await b.structure(db)
        town.coupon_price_cents = COUPON_PRICE
        town.refund_via_provider = refund_via_provider
        activity = await b.activity(
            db, town, mode=PaymentMode.IMMEDIATE, waitlist=waitlist, cancellation_days=2
        )
        wednesdays = [
            await b.session(
                db,
                activity,
                starts_at=WEDNESDAY + timedelta(weeks=week),
                capacity=capacity,
                price_cents=PRICE,
            )
            for week in (0, 1)
        ]
        home = await b.family(db, town)
    return Town(database, clock, town, wednesdays, home)


async def ask_payment(
    town: Town, family: Family | None = None, sessions: list[Session] | None = None
) -> tuple[Payment, list[Booking]]:
    """The parent adds sessions to the basket, then confirms the recap: a payment is asked."""
    family = family or town.family
    now = town.clock.now()
    for session in sessions if sessions is not None else town.wednesdays:
        async with town.database.writing() as db:
            await add_to_basket(
                db,
                actor=family.actor,
                participant_id=family.child.id,
                session_id=session.id,
                now=now,
            )
    async with town.database.writing() as db:
        checkout = await confirm_basket(db, actor=family.actor, now=now)
        payment = await start_basket_payment(
            db, actor=family.actor, bookings=checkout.pending_payment, now=now
        )
    return payment, checkout.pending_payment


def paid(payment: Payment, **changes: object) -> ProviderStatus:
    values: dict[str, object] = {
        "state": ProviderState.PAID,
        "amount_cents": payment.amount_cents,
        "currency": "EUR",
        "details": {"card": "test"},
    }
    return ProviderStatus(**(values | changes))


async def apply(
    database: Database, payment_id: int, status: ProviderStatus, now: datetime
) -> Outcome | None:
    async with database.writing() as db:
        return await apply_status(db, payment_id, status, now=now, source="test")


async def sweep(database: Database, now: datetime) -> int:
    async with database.writing() as db:
        return await sweep_expired_holds(db, now)


async def reload_payment(database: Database, payment_id: int) -> Payment:
    return await b.reload(database, Payment, payment_id)


async def states(database: Database, bookings: list[Booking]) -> list[BookingState]:
    return [(await b.reload(database, Booking, booking.id)).state for booking in bookings]


async def kinds(database: Database, booking: Booking) -> list[EventKind]:
    return [event.kind for event in await b.events_of(database, booking.id)]


async def ledger(database: Database, family: Family, kind: WalletKind) -> list[tuple]:
    return [
        (entry.kind, entry.amount)
        for entry in await b.ledger_of(database, family.household.id, kind)
    ]


async def taken(database: Database, session: Session) -> int:
    return sum(
        booking.state in PLACE_TAKING for booking in await b.bookings_of(database, session.id)
    )


# Applied once ---------------------------------------------------------------------------------


async def test_a_paid_status_applied_three_times_confirms_and_counts_once(database, clock):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)
    assert payment.amount_cents == 2 * PRICE
    assert payment.expires_at == clock.now() + timedelta(minutes=60)  # the basket's hold

    outcomes = [await apply(database, payment.id, paid(payment), clock.now()) for _ in range(3)]

    first, *replays = outcomes
    assert first is not None and replays == [None, None]
    assert first.state is PaymentState.PAID and not first.late
    assert [booking.id for booking in first.confirmed] == [booking.id for booking in bookings]
    assert await states(database, bookings) == [BookingState.CONFIRMED] * 2
    assert await ledger(database, town.family, WalletKind.EUROS) == [
        (LedgerKind.PAYMENT, 2 * PRICE),
        (LedgerKind.DEBIT, -PRICE),
        (LedgerKind.DEBIT, -PRICE),
    ]
    for booking in bookings:
        assert await kinds(database, booking) == [
            EventKind.HELD,
            EventKind.PENDING_PAYMENT,
            EventKind.PAID,
            EventKind.CONFIRMED,
        ]
    stored = await reload_payment(database, payment.id)
    assert stored.state is PaymentState.PAID
    assert stored.receipt_number == f"R2027-{payment.id:06d}"
    ticket = stored.details["ticket"]
    assert ticket["receipt"] == stored.receipt_number
    assert ticket["amount_cents"] == 2 * PRICE
    assert datetime.fromisoformat(ticket["paid_at"]) == clock.now()
    assert [item["amount_cents"] for item in stored.details["items"]] == [PRICE, PRICE]
    assert await b.ledger_mismatches(database) == []


async def test_a_failure_after_the_payment_never_undoes_it(database, clock):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)
    await apply(database, payment.id, paid(payment), clock.now())

    for state in (ProviderState.REFUSED, ProviderState.ABANDONED, ProviderState.EXPIRED):
        assert await apply(database, payment.id, ProviderStatus(state), clock.now()) is None

    assert (await reload_payment(database, payment.id)).state is PaymentState.PAID
    assert await states(database, bookings) == [BookingState.CONFIRMED] * 2
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 0


async def test_a_refused_card_keeps_the_places_and_asks_again_with_a_new_link(database, clock):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)
    clock.advance(minutes=5)

    refused = await apply(database, payment.id, ProviderStatus(ProviderState.REFUSED), clock.now())
    again = await apply(database, payment.id, ProviderStatus(ProviderState.REFUSED), clock.now())

    assert refused is not None and again is None
    assert refused.state is PaymentState.REFUSED and refused.released == []
    assert [booking.id for booking in refused.kept] == [booking.id for booking in bookings]
    assert await states(database, bookings) == [BookingState.PENDING_PAYMENT] * 2
    assert [await taken(database, session) for session in town.wednesdays] == [1, 1]
    retry = await reload_payment(database, refused.retry.id)
    assert (retry.state, retry.amount_cents, retry.expires_at) == (
        PaymentState.CREATED,
        2 * PRICE,
        payment.expires_at,  # the rest of the hold, not a new one
    )
    assert retry.details["booking_ids"] == [booking.id for booking in bookings]
    assert retry.details["retry_of"] == payment.id and retry.token != payment.token

    paid_again = await apply(database, retry.id, paid(retry), clock.now())

    assert paid_again is not None and len(paid_again.confirmed) == 2
    assert await states(database, bookings) == [BookingState.CONFIRMED] * 2
    assert await ledger(database, town.family, WalletKind.EUROS) == [
        (LedgerKind.PAYMENT, 2 * PRICE),
        (LedgerKind.DEBIT, -PRICE),
        (LedgerKind.DEBIT, -PRICE),
    ]


async def test_places_kept_after_a_refused_card_are_freed_when_the_hold_ends(database, clock):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)
    refused = await apply(
        database, payment.id, ProviderStatus(ProviderState.ABANDONED), clock.now()
    )

    clock.advance(minutes=60)
    assert await sweep(database, clock.now()) == 2

    assert await states(database, bookings) == [BookingState.EXPIRED] * 2
    assert [await taken(database, session) for session in town.wednesdays] == [0, 0]
    async with database.writing() as db:  # the retry link, never opened, then lapses
        lapsed = await expire_unopened(db, refused.retry.id, clock.now())
    assert lapsed is not None and lapsed.released == []


async def test_a_refused_card_followed_by_a_success_on_the_same_page_drops_the_new_link(
    database, clock
):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)
    refused = await apply(database, payment.id, ProviderStatus(ProviderState.REFUSED), clock.now())

    clock.advance(minutes=5)  # the payer tries another card on the provider's page
    late = await apply(database, payment.id, paid(payment), clock.now())

    assert late is not None and late.late
    assert len(late.confirmed) == 2 and late.lost == []
    assert await states(database, bookings) == [BookingState.CONFIRMED] * 2
    assert (await reload_payment(database, payment.id)).state is PaymentState.PAID
    assert (await reload_payment(database, refused.retry.id)).state is PaymentState.EXPIRED
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 0


async def test_a_payment_after_the_hold_ran_out_keeps_the_places_still_free(database, clock):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)
    clock.advance(minutes=61)
    assert await sweep(database, clock.now()) == 2
    assert await states(database, bookings) == [BookingState.EXPIRED] * 2

    outcome = await apply(database, payment.id, paid(payment), clock.now())

    assert outcome is not None and outcome.late
    assert len(outcome.confirmed) == 2 and outcome.credited_cents == 0
    assert await states(database, bookings) == [BookingState.CONFIRMED] * 2
    assert await ledger(database, town.family, WalletKind.EUROS) == [
        (LedgerKind.PAYMENT, 2 * PRICE),
        (LedgerKind.DEBIT, -PRICE),
        (LedgerKind.DEBIT, -PRICE),
    ]


async def test_a_payment_after_the_hold_ran_out_credits_the_wallet_for_a_place_taken_since(
    database, clock
):
    town = await immediate_town(database, clock, capacity=1)
    payment, bookings = await ask_payment(town, sessions=town.wednesdays[:1])
    clock.advance(minutes=61)
    await sweep(database, clock.now())
    other = await town.another_family("MARTIN")
    _, theirs = await ask_payment(town, other, town.wednesdays[:1])  # takes the freed place

    outcome = await apply(database, payment.id, paid(payment), clock.now())

    assert outcome is not None and outcome.late
    assert outcome.confirmed == []
    assert [booking.id for booking in outcome.lost] == [bookings[0].id]
    assert outcome.credited_cents == PRICE
    assert await states(database, bookings) == [BookingState.EXPIRED]
    assert await states(database, theirs) == [BookingState.PENDING_PAYMENT]
    assert await taken(database, town.wednesdays[0]) == 1
    assert await ledger(database, town.family, WalletKind.EUROS) == [(LedgerKind.PAYMENT, PRICE)]
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == PRICE
    refunded = [
        e for e in await b.events_of(database, bookings[0].id) if e.kind is EventKind.REFUNDED
    ]
    assert [(e.data["refund_cents"], e.data["to"]) for e in refunded] == [(PRICE, "wallet")]
    assert (await reload_payment(database, payment.id)).state is PaymentState.PAID


@pytest.mark.parametrize(
    "answer",
    [{"amount_cents": 2 * PRICE - 1}, {"amount_cents": 100 * PRICE}, {"currency": "USD"}],
    ids=["a cent short", "too much", "another currency"],
)
async def test_a_paid_status_with_another_amount_or_currency_is_left_for_the_staff(
    database, clock, answer, caplog
):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)

    outcome = await apply(database, payment.id, paid(payment, **answer), clock.now())

    assert outcome is None
    stored = await reload_payment(database, payment.id)
    assert stored.state is PaymentState.CREATED
    assert stored.receipt_number is None
    assert "anomaly" in stored.details
    assert "not applied, left for the staff" in caplog.text
    assert await states(database, bookings) == [BookingState.PENDING_PAYMENT] * 2
    assert await ledger(database, town.family, WalletKind.EUROS) == []
    assert EventKind.PAID not in await kinds(database, bookings[0])


async def test_a_pending_status_waits_then_gives_up_long_after_the_link_expired(database, clock):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)
    pending = ProviderStatus(ProviderState.PENDING)

    assert await apply(database, payment.id, pending, clock.now()) is None
    clock.advance(minutes=61)
    assert await apply(database, payment.id, pending, clock.now()) is None
    assert (await reload_payment(database, payment.id)).state is PaymentState.CREATED

    clock.set(payment.expires_at + GIVE_UP_AFTER)
    outcome = await apply(database, payment.id, pending, clock.now())

    assert outcome is not None and outcome.state is PaymentState.EXPIRED
    assert len(outcome.released) == 2
    assert await states(database, bookings) == [BookingState.EXPIRED] * 2


async def test_a_link_never_opened_expires_with_its_hold_and_frees_the_places(database, clock):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)
    async with database.writing() as db:
        assert await expire_unopened(db, payment.id, clock.now()) is None  # not yet

    clock.advance(minutes=60)
    async with database.writing() as db:
        outcome = await expire_unopened(db, payment.id, clock.now())

    assert outcome is not None and outcome.state is PaymentState.EXPIRED
    assert await states(database, bookings) == [BookingState.EXPIRED] * 2
    assert (await reload_payment(database, payment.id)).state is PaymentState.EXPIRED


async def test_a_booking_dropped_before_paying_is_credited_when_the_payment_comes_anyway(
    database, clock
):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)
    await cancel(town, bookings[1])  # an unpaid booking can always be dropped

    outcome = await apply(database, payment.id, paid(payment), clock.now())

    assert outcome is not None
    assert [booking.id for booking in outcome.confirmed] == [bookings[0].id]
    assert [booking.id for booking in outcome.lost] == [bookings[1].id]
    assert await states(database, bookings) == [BookingState.CONFIRMED, BookingState.CANCELLED]
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == PRICE


# Concurrency ----------------------------------------------------------------------------------


async def test_concurrent_applications_of_one_payment_apply_it_once(database, clock):
    town = await immediate_town(database, clock)
    payment, bookings = await ask_payment(town)

    outcomes = await asyncio.gather(
        *(apply(database, payment.id, paid(payment), clock.now()) for _ in range(8))
    )

    assert sum(outcome is not None for outcome in outcomes) == 1
    assert await ledger(database, town.family, WalletKind.EUROS) == [
        (LedgerKind.PAYMENT, 2 * PRICE),
        (LedgerKind.DEBIT, -PRICE),
        (LedgerKind.DEBIT, -PRICE),
    ]
    for booking in bookings:
        assert (await kinds(database, booking)).count(EventKind.PAID) == 1
        assert (await kinds(database, booking)).count(EventKind.CONFIRMED) == 1
    assert await b.ledger_mismatches(database) == []


@pytest.mark.postgres
async def test_demonstration_without_the_payment_lock_a_payment_is_counted_twice(
    postgres_database, clock, monkeypatch
):
    """Not a rule: proof that the row lock is what keeps a payment from applying twice.

    With `_lock_payment` replaced by a plain read, and every transaction made to read the
    payment before any of them writes, each sees it unpaid and credits the wallet.
    """
    database, racers = postgres_database, 4
    town = await immediate_town(database, clock)
    async with database.writing() as db:
        await get_wallet(db, town.family.household.id, WalletKind.EUROS)
        payment = await start_top_up(
            db, actor=town.family.actor, now=clock.now(), amount_cents=3000
        )
    everyone_read = asyncio.Event()
    readers = []

    async def read_without_lock(db, payment_id):  # noqa: ANN001, ANN202
        found = await db.scalar(select(Payment).where(Payment.id == payment_id))
        readers.append(payment_id)
        if len(readers) == racers:
            everyone_read.set()
        await everyone_read.wait()
        return found

    monkeypatch.setattr(payments_module, "_lock_payment", read_without_lock)

    outcomes = await asyncio.gather(
        *(apply(database, payment.id, paid(payment), clock.now()) for _ in range(racers))
    )

    assert sum(outcome is not None for outcome in outcomes) == racers
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 4 * 3000


@pytest.mark.parametrize("first", ["payment", "sweep"])
async def test_a_payment_racing_its_holds_expiry_is_confirmed_or_credited_never_both(
    database, clock, first
):
    """The place has someone waiting for it: whichever runs first, the paid booking is
    either confirmed (the sweep then finds nothing) or expired and credited (the place went
    to the waitlist); the session is never over capacity."""
    town = await immediate_town(database, clock, capacity=1, waitlist=True)
    wednesday = town.wednesdays[0]
    payment, (mine,) = await ask_payment(town, sessions=[wednesday])
    other = await town.another_family("MARTIN")
    async with database.writing() as db:
        waiting, _ = await join_waitlist(
            db,
            actor=other.actor,
            participant_id=other.child.id,
            session_id=wednesday.id,
            now=clock.now(),
        )
    clock.advance(minutes=60)
    jobs = {
        "payment": lambda: apply(database, payment.id, paid(payment), clock.now()),
        "sweep": lambda: sweep(database, clock.now()),
    }
    order = [first, *(name for name in jobs if name != first)]

    results = dict(zip(order, await asyncio.gather(*(jobs[name]() for name in order)), strict=True))

    outcome = results["payment"]
    assert outcome is not None and outcome.state is PaymentState.PAID
    assert len(outcome.confirmed) + len(outcome.lost) == 1
    mine_now, waiting_now = await states(database, [mine, waiting])
    balance = await b.balance_of(database, town.family.household.id, WalletKind.EUROS)
    if outcome.confirmed:
        assert (mine_now, waiting_now, balance) == (
            BookingState.CONFIRMED,
            BookingState.WAITLISTED,
            0,
        )
        assert results["sweep"] == 0
    else:  # the place went to the family in line, who is offered it
        assert (mine_now, balance) == (BookingState.EXPIRED, PRICE)
        assert waiting_now in PLACE_TAKING
        assert results["sweep"] == 1
        assert EventKind.REFUNDED in await kinds(database, mine)
    if database.is_sqlite:  # one writer at a time: the first to start wins
        assert bool(outcome.confirmed) == (first == "payment")
    assert await taken(database, wednesday) == 1
    assert await b.ledger_mismatches(database) == []


# Top-ups, coupons and debts -------------------------------------------------------------------


async def test_a_top_up_credits_the_euro_wallet_once_paid(database, clock):
    town = await immediate_town(database, clock)
    async with database.writing() as db:
        payment = await start_top_up(
            db, actor=town.family.actor, now=clock.now(), amount_cents=3000
        )
    assert payment.purpose is PaymentPurpose.TOP_UP
    assert payment.expires_at == clock.now() + timedelta(hours=1)
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 0

    await apply(database, payment.id, paid(payment), clock.now())
    await apply(database, payment.id, paid(payment), clock.now())

    assert await ledger(database, town.family, WalletKind.EUROS) == [(LedgerKind.TOP_UP, 3000)]
    stored = await reload_payment(database, payment.id)
    assert stored.receipt_number and stored.details["ticket"]["amount_cents"] == 3000


async def test_coupons_are_bought_at_the_structures_coupon_price(database, clock):
    town = await immediate_town(database, clock)
    async with database.writing() as db:
        payment = await start_top_up(db, actor=town.family.actor, now=clock.now(), coupons=10)
    assert (payment.amount_cents, payment.coupons) == (10 * COUPON_PRICE, 10)

    outcome = await apply(database, payment.id, paid(payment), clock.now())

    assert outcome is not None and outcome.coupons == 10
    assert await ledger(database, town.family, WalletKind.COUPONS) == [(LedgerKind.TOP_UP, 10)]
    assert await ledger(database, town.family, WalletKind.EUROS) == []


@pytest.mark.parametrize(
    ("ask", "code"),
    [
        ({"amount_cents": 99}, Refusal.INVALID_AMOUNT),
        ({"amount_cents": 500_01}, Refusal.INVALID_AMOUNT),
        ({"coupons": 101}, Refusal.INVALID_AMOUNT),
        ({"coupons": -1}, Refusal.INVALID_AMOUNT),
    ],
)
async def test_a_top_up_out_of_bounds_is_refused(database, clock, ask, code):
    town = await immediate_town(database, clock)
    with pytest.raises(Refused) as refused:
        async with database.writing() as db:
            await start_top_up(db, actor=town.family.actor, now=clock.now(), **ask)
    assert refused.value.code is code


async def test_coupons_cannot_be_bought_where_the_town_does_not_sell_them(database, clock):
    town = await immediate_town(database, clock)
    async with database.writing() as db:
        (await db.get(Structure, town.structure.id)).coupon_price_cents = 0
    with pytest.raises(Refused) as refused:
        async with database.writing() as db:
            await start_top_up(db, actor=town.family.actor, now=clock.now(), coupons=5)
    assert refused.value.code is Refusal.COUPONS_NOT_SOLD


async def test_paying_what_is_owed_clears_the_debt(database, clock):
    town = await immediate_town(database, clock)
    async with database.writing() as db:
        await b.credit(
            db, town.family.household, -8540, kind=WalletKind.ACCOUNT, entry_kind=LedgerKind.INVOICE
        )
        payment = await start_debt_payment(db, actor=town.family.actor, now=clock.now())
    assert (payment.purpose, payment.amount_cents) == (PaymentPurpose.DEBT, 8540)

    await apply(database, payment.id, paid(payment), clock.now())

    assert await ledger(database, town.family, WalletKind.ACCOUNT) == [
        (LedgerKind.INVOICE, -8540),
        (LedgerKind.PAYMENT, 8540),
    ]
    async with database.reading() as db:
        assert await amount_owed(db, town.family.household.id) == 0
    with pytest.raises(Refused) as refused:
        async with database.writing() as db:
            await start_debt_payment(db, actor=town.family.actor, now=clock.now())
    assert refused.value.code is Refusal.NOTHING_OWED


# Cancelling what was paid ---------------------------------------------------------------------


async def paid_bookings(town: Town) -> tuple[Payment, list[Booking]]:
    payment, bookings = await ask_payment(town)
    async with town.database.writing() as db:
        await attach_reference(db, payment.id, f"sbx_test_{payment.id}")
    await apply(town.database, payment.id, paid(payment), town.clock.now())
    return payment, bookings


async def cancel(town: Town, booking: Booking):  # noqa: ANN201
    async with town.database.writing() as db:
        return await cancel_booking(
            db, actor=town.family.actor, booking_id=booking.id, now=town.clock.now()
        )


async def test_cancelling_a_paid_booking_inside_the_deadline_credits_the_wallet(database, clock):
    town = await immediate_town(database, clock)
    _, bookings = await paid_bookings(town)
    clock.advance(days=1)

    done = await cancel(town, bookings[0])

    assert (done.refund_cents, done.to_card) == (PRICE, False)
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == PRICE
    assert (await ledger(database, town.family, WalletKind.EUROS))[-1] == (LedgerKind.REFUND, PRICE)
    assert await kinds(database, bookings[0]) == [
        EventKind.HELD,
        EventKind.PENDING_PAYMENT,
        EventKind.PAID,
        EventKind.CONFIRMED,
        EventKind.CANCELLED,
    ]
    async with database.reading() as db:
        assert await refunds_to_send(db) == []


@pytest.mark.parametrize("sent", [True, False], ids=["sent to the card", "kept in the wallet"])
async def test_with_refunds_through_the_provider_a_cancellation_asks_the_provider(
    database, clock, sent
):
    town = await immediate_town(database, clock, refund_via_provider=True)
    payment, bookings = await paid_bookings(town)
    clock.advance(days=1)

    done = await cancel(town, bookings[0])

    assert (done.refund_cents, done.to_card) == (PRICE, True)
    async with database.reading() as db:
        to_send = await refunds_to_send(db)
    assert [(ref, amount) for _, _, ref, amount, _ in to_send] == [
        (f"sbx_test_{payment.id}", PRICE)
    ]
    refund_id = to_send[0][0]
    refund = await reload_payment(database, refund_id)
    assert (refund.purpose, refund.state, refund.refund_of_id) == (
        PaymentPurpose.REFUND,
        PaymentState.CREATED,
        payment.id,
    )
    # The money is back in the wallet until the provider has sent it.
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == PRICE

    clock.advance(minutes=1)
    async with database.writing() as db:
        assert await settle_refund(db, refund_id, sent=sent, now=clock.now(), reason="test")
    async with database.writing() as db:
        assert await settle_refund(db, refund_id, sent=sent, now=clock.now()) is None  # once

    refund = await reload_payment(database, refund_id)
    euros = await ledger(database, town.family, WalletKind.EUROS)
    balance = await b.balance_of(database, town.family.household.id, WalletKind.EUROS)
    refunded = [
        e for e in await b.events_of(database, bookings[0].id) if e.kind is EventKind.REFUNDED
    ]
    if sent:
        assert refund.state is PaymentState.REFUNDED
        assert euros[-2:] == [(LedgerKind.REFUND, PRICE), (LedgerKind.PAYOUT, -PRICE)]
        assert balance == 0
        assert [e.data["to"] for e in refunded] == ["card"]
    else:
        assert refund.state is PaymentState.REFUSED
        assert refund.details["kept_in_wallet"] == "test"
        assert euros[-1] == (LedgerKind.REFUND, PRICE)
        assert balance == PRICE
        assert [e.data["to"] for e in refunded] == ["wallet"]
    async with database.reading() as db:
        assert await refunds_to_send(db) == []
    assert await b.ledger_mismatches(database) == []


async def test_a_booking_paid_from_the_wallet_is_credited_even_with_refunds_to_the_card(
    database, clock
):
    """Only a booking paid through the provider can go back to a card."""
    town = await immediate_town(database, clock, refund_via_provider=True)
    payment, bookings = await ask_payment(town)  # paid, but never opened at the provider
    await apply(database, payment.id, paid(payment), clock.now())

    done = await cancel(town, bookings[0])

    assert (done.refund_cents, done.to_card) == (PRICE, False)
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == PRICE
    async with database.reading() as db:
        assert await refunds_to_send(db) == []


async def test_the_payment_history_lists_payments_and_refunds_newest_first(database, clock):
    town = await immediate_town(database, clock, refund_via_provider=True)
    async with database.writing() as db:
        top_up = await start_top_up(db, actor=town.family.actor, now=clock.now(), amount_cents=3000)
    await apply(database, top_up.id, paid(top_up), clock.now())
    clock.advance(minutes=1)
    basket, bookings = await paid_bookings(town)
    clock.advance(minutes=1)
    await cancel(town, bookings[0])
    async with database.reading() as db:
        ((refund_id, *_),) = await refunds_to_send(db)
    clock.advance(minutes=1)
    async with database.writing() as db:
        await settle_refund(db, refund_id, sent=True, now=clock.now())
    async with database.writing() as db:  # a refused payment is not history
        failed = await start_top_up(db, actor=town.family.actor, now=clock.now(), amount_cents=500)
    await apply(database, failed.id, ProviderStatus(ProviderState.REFUSED), clock.now())

    async with database.reading() as db:
        history = await payment_history(db, town.family.household.id)

    assert [(p.id, p.purpose) for p in history] == [
        (refund_id, PaymentPurpose.REFUND),
        (basket.id, PaymentPurpose.BASKET),
        (top_up.id, PaymentPurpose.TOP_UP),
    ]
    async with database.reading() as db:
        events = (
            await db.scalars(
                select(BookingEvent.kind).where(BookingEvent.booking_id == bookings[0].id)
            )
        ).all()
    assert events.count(EventKind.REFUNDED) == 1


# Paying from the porte-monnaie ----------------------------------------------------------------


async def credit_wallet(town: Town, cents: int) -> None:
    async with town.database.writing() as db:
        await b.credit(db, town.family.household, cents)


async def from_wallet(town: Town, payment: Payment, family: Family | None = None) -> Outcome:
    async with town.database.writing() as db:
        return await pay_from_wallet(
            db,
            actor=(family or town.family).actor,
            payment_id=payment.id,
            now=town.clock.now(),
        )


async def test_a_basket_link_is_paid_from_the_wallet_when_it_holds_enough(database, clock):
    town = await immediate_town(database, clock)
    await credit_wallet(town, 3000)
    payment, bookings = await ask_payment(town)
    async with database.reading() as db:
        assert await wallet_covers(db, town.family.household.id, payment.amount_cents) == 3000

    outcome = await from_wallet(town, payment)

    assert [booking.id for booking in outcome.confirmed] == [booking.id for booking in bookings]
    assert await states(database, bookings) == [BookingState.CONFIRMED] * 2
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 30
    stored = await reload_payment(database, payment.id)
    assert stored.state is PaymentState.PAID and stored.details["paid_from"] == "wallet"
    assert stored.receipt_number == f"R2027-{payment.id:06d}"
    euros = await b.ledger_of(database, town.family.household.id, WalletKind.EUROS)
    assert [(e.kind, e.amount, e.payment_id) for e in euros] == [
        (LedgerKind.TOP_UP, 3000, None),
        (LedgerKind.DEBIT, -PRICE, payment.id),
        (LedgerKind.DEBIT, -PRICE, payment.id),
    ]
    assert await kinds(database, bookings[0]) == [
        EventKind.HELD,
        EventKind.PENDING_PAYMENT,
        EventKind.PAID,
        EventKind.CONFIRMED,
    ]
    async with database.reading() as db:
        assert [p.id for p in await receipts_of(db, town.family.household.id)] == [payment.id]
    assert await b.ledger_mismatches(database) == []


async def test_a_wallet_short_of_the_amount_pays_nothing_and_says_its_balance(database, clock):
    town = await immediate_town(database, clock)
    await credit_wallet(town, 2000)
    payment, bookings = await ask_payment(town)
    async with database.reading() as db:
        assert await wallet_covers(db, town.family.household.id, payment.amount_cents) is None

    with pytest.raises(Refused) as refused:
        await from_wallet(town, payment)

    assert refused.value.code is Refusal.INSUFFICIENT_BALANCE
    assert refused.value.params == {"wallet": "euros", "balance": 2000, "needed": 2 * PRICE}
    assert await states(database, bookings) == [BookingState.PENDING_PAYMENT] * 2
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 2000
    assert (await reload_payment(database, payment.id)).state is PaymentState.CREATED


async def test_another_households_link_cannot_be_paid_from_a_wallet(database, clock):
    town = await immediate_town(database, clock)
    payment, _ = await ask_payment(town)
    stranger = await town.another_family("VOISIN")
    async with database.writing() as db:
        await b.credit(db, stranger.household, 10_000)

    with pytest.raises(Refused) as refused:
        await from_wallet(town, payment, stranger)

    assert refused.value.code is Refusal.UNKNOWN_BASKET
    assert (await reload_payment(database, payment.id)).state is PaymentState.CREATED


async def test_a_link_whose_hold_ran_out_is_not_paid_from_the_wallet(database, clock):
    town = await immediate_town(database, clock)
    await credit_wallet(town, 5000)
    payment, bookings = await ask_payment(town)
    clock.advance(minutes=60)

    with pytest.raises(Refused) as refused:
        await from_wallet(town, payment)

    assert refused.value.code is Refusal.HOLD_EXPIRED
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 5000


async def test_two_taps_on_pay_from_the_wallet_pay_once(database, clock):
    town = await immediate_town(database, clock)
    await credit_wallet(town, 10_000)
    payment, bookings = await ask_payment(town)

    results = await asyncio.gather(
        from_wallet(town, payment), from_wallet(town, payment), return_exceptions=True
    )

    assert sorted(type(result).__name__ for result in results) == ["Outcome", "Refused"]
    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == (
        10_000 - 2 * PRICE
    )
    assert await states(database, bookings) == [BookingState.CONFIRMED] * 2


async def test_a_card_payment_finished_after_the_wallet_paid_the_link_is_credited(database, clock):
    town = await immediate_town(database, clock)
    await credit_wallet(town, 3000)
    payment, _ = await ask_payment(town)
    async with database.writing() as db:  # the card page was opened first
        await attach_reference(db, payment.id, f"sbx_test_{payment.id}")
    await from_wallet(town, payment)

    clock.advance(minutes=2)
    assert await apply(database, payment.id, paid(payment), clock.now()) is None
    assert await apply(database, payment.id, paid(payment), clock.now()) is None  # once

    assert await b.balance_of(database, town.family.household.id, WalletKind.EUROS) == 3000
    assert await b.ledger_mismatches(database) == []

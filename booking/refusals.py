"""Typed refusal reasons: services raise `Refused(code, **params)`; dialogs translate them."""

from __future__ import annotations

import enum
from typing import Any


class Refusal(enum.StrEnum):
    UNKNOWN_PARTICIPANT = "unknown_participant"
    UNKNOWN_SESSION = "unknown_session"
    UNKNOWN_BOOKING = "unknown_booking"
    UNKNOWN_BASKET = "unknown_basket"
    TOO_YOUNG = "too_young"  # min_age
    TOO_OLD = "too_old"  # max_age
    ENROLMENT_REQUIRED = "enrolment_required"  # activity
    ENROLMENT_PENDING = "enrolment_pending"
    ENROLMENT_REFUSED = "enrolment_refused"  # activity, reason (the staff's, may be "")
    DOSSIER_INCOMPLETE = "dossier_incomplete"  # missing: list[str], reason if staff refused
    IN_DEBT = "in_debt"  # owed_cents
    NOT_OPEN_YET = "not_open_yet"  # opens_at
    PAST_DEADLINE = "past_deadline"  # deadline
    SESSION_CANCELLED = "session_cancelled"
    FULL = "full"  # waitlist: bool
    WAITLIST_UNAVAILABLE = "waitlist_unavailable"
    NOT_FULL = "not_full"  # waitlist asked while places are left
    ALREADY_BOOKED = "already_booked"  # state
    OVERLAP = "overlap"  # session_id, label
    ADULT_REQUIRED = "adult_required"  # children_per_adult
    ADULT_STILL_NEEDED = "adult_still_needed"
    INSUFFICIENT_BALANCE = "insufficient_balance"  # wallet, balance, needed
    BASKET_EMPTY = "basket_empty"
    HOLD_EXPIRED = "hold_expired"  # held_until
    CANCELLATION_PAST_DEADLINE = "cancellation_past_deadline"  # deadline
    NOT_CANCELLABLE = "not_cancellable"  # state
    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_SUPPLEMENT = "unknown_supplement"  # code
    UNKNOWN_BUS_STOP = "unknown_bus_stop"
    BAD_CREDENTIALS = "bad_credentials"  # attempts_left
    ACCOUNT_LOCKED = "account_locked"  # until
    WEAK_PASSWORD = "weak_password"  # min_length
    COUPONS_NOT_SOLD = "coupons_not_sold"  # the structure sells no coupons online
    NOTHING_OWED = "nothing_owed"
    PAYMENT_NOT_OPEN = "payment_not_open"  # the town has no payment provider configured


class Refused(Exception):
    """A booking rule said no. `code` is stable; `params` carry what the parent needs to know."""

    def __init__(self, code: Refusal, /, **params: Any) -> None:
        super().__init__(code.value)
        self.code = code
        self.params = params

    def __repr__(self) -> str:
        return f"Refused({self.code.value}, {self.params!r})"

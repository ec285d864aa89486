"""The conversation's state: a small dataclass stored as JSON in the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class State:
    step: str = "start"
    locale: str | None = None  # chosen by the parent; else the channel's hint, else French
    household_id: int | None = None
    guardian_id: int | None = None
    login: str | None = None  # typed login while the password is asked
    participant_id: int | None = None
    activity_id: int | None = None
    month: str | None = None  # "2027-03": the calendar shown
    page: int = 0  # the page of a long list shown
    to_cancel: list[int] = field(default_factory=list)  # bookings picked for cancellation
    question: dict[str, Any] = field(default_factory=dict)  # browse filters, login in progress
    request: dict[str, Any] = field(default_factory=dict)  # the request being filled
    lapsed_told: list[int] = field(default_factory=list)  # expired basket items already named
    nonce: str = ""
    buttons: dict[str, list[Any]] = field(default_factory=dict)  # key -> [action, *args]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> State:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    @property
    def logged_in(self) -> bool:
        return self.household_id is not None and self.guardian_id is not None

    def forget_selection(self) -> None:
        self.participant_id = None
        self.activity_id = None
        self.month = None
        self.page = 0
        self.to_cancel = []
        self.question = {}
        self.request = {}

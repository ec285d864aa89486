"""Declarative base, column types and the append-only guard shared by every model."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class AwareDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC on every backend.

    SQLite has no time zones: SQLAlchemy would hand back naive values, so we store UTC and
    re-attach it when reading. Naive values are refused at bind time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to an AwareDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def enum_column(enum_class: type[enum.Enum]) -> Enum:
    """Store a StrEnum by value, as a plain string column (no native enum to migrate)."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: AwareDateTime()}


class AppendOnly:
    """Marker: rows of these models are written once and never updated or deleted."""


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_append_only_rows(session: Session, _context: Any, _instances: Any) -> None:
    for instance in list(session.dirty) + list(session.deleted):
        if isinstance(instance, AppendOnly) and (
            instance in session.deleted or session.is_modified(instance)
        ):
            raise ValueError(f"{type(instance).__name__} rows are append-only")

"""What every table shares: the constraint naming convention (set before the first table) and UTC time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; everything stored is UTC, so say so."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored as UTC. PostgreSQL keeps the instant whatever the zone it is given in;
    SQLite keeps the wall-clock digits and drops the zone, so a moment given in the county's time (08:00 in
    Shanghai) would read back as 08:00 UTC. Every moment is turned to UTC before it is stored or compared."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value  # naive: UTC already (what SQLite hands back)
        return value.astimezone(UTC)


def timestamp(**kwargs: Any) -> Any:
    """A timezone-aware timestamp column, stored as UTC (`UtcDateTime`)."""
    return Field(sa_type=UtcDateTime(), **kwargs)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model, typed (SQLModel does not declare `__table__` to type checkers)."""
    table = vars(model)["__table__"]
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


def row_id(value: int | None) -> int:
    """The id of a stored row. SQLModel types a primary key as optional (None until the row is flushed); a row
    read from or flushed to the database always has one, and this says so to the type checker."""
    if value is None:
        raise ValueError("a row that is not stored yet has no id")
    return value

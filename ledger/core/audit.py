"""The administrative change log: who changed what in a county's set-up, when, and what it was before and after.

Every change a county admin (or the command line) makes to places, households, members, staff, the catalogue,
the policy or partners is written here, in the same transaction as the change, so the log never says a change
happened that did not, or misses one that did. Rows are append-only: the code never updates or deletes one, and
database triggers refuse it (alembic/versions/2026-12-01_county_setup.py), as they do for the journal.

Points never move through here: they move only through records with their rules (claims, awards, deductions,
vouchers), which the journal keeps. This log is for everything around them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Index, Text, func
from sqlmodel import Field, Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from ledger.core.base import as_utc, timestamp, utcnow


class AdminChange(SQLModel, table=True):
    __tablename__ = "admin_change"
    __table_args__ = (Index("ix_admin_change_county_at", "county_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id")
    at: datetime = timestamp(default_factory=utcnow)
    actor: str = Field(max_length=80)  # "user:<id>", or "cli:<login>" for the command line
    action: str = Field(max_length=60)  # e.g. "household.close", "staff.disable", "policy.change"
    target_type: str = Field(max_length=30)  # household, person, village, township, staff, policy, matter…
    target_id: str | None = Field(default=None, max_length=64)
    before: str | None = Field(default=None, sa_type=Text)  # JSON of the fields that changed, as they were
    after: str | None = Field(default=None, sa_type=Text)  # … and as they are now


def _json(value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def record(
    session: Session,
    *,
    county_id: int,
    actor: str,
    action: str,
    target_type: str,
    target_id: object = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AdminChange | None:
    """Write one change. Only the fields that differ are kept (a change that changes nothing is not written, and
    None is returned). A creation has no `before`, a removal or closing may have no `after`."""
    if before is not None and after is not None:
        changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
        if not changed:
            return None
        before = {key: before.get(key) for key in sorted(changed)}
        after = {key: after.get(key) for key in sorted(changed)}
    row = AdminChange(
        county_id=county_id,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=_json(before),
        after=_json(after),
    )
    session.add(row)
    session.flush()
    return row


def fields(row: object, names: tuple[str, ...]) -> dict[str, Any]:
    """The named attributes of a row, as the log keeps them (before or after a change)."""
    return {name: getattr(row, name) for name in names}


COLUMNS = ("id", "at", "actor", "action", "target_type", "target_id", "before", "after")


def _matching(
    county_id: int, since: datetime | None, until: datetime | None, action: str | None
) -> SelectOfScalar[AdminChange]:
    query = select(AdminChange).where(col(AdminChange.county_id) == county_id)
    if since is not None:
        query = query.where(col(AdminChange.at) >= since)
    if until is not None:
        query = query.where(col(AdminChange.at) < until)
    if action:
        query = query.where(col(AdminChange.action).startswith(action, autoescape=True))
    return query


def changes(
    session: Session,
    county_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
    after_id: int | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[AdminChange]:
    """A county's changes, oldest first (or newest first); `after_id` continues a page that ended at that id."""
    query = _matching(county_id, since, until, action)
    if after_id is not None:
        query = query.where(col(AdminChange.id) > after_id)
    query = query.order_by(col(AdminChange.id).desc() if newest_first else col(AdminChange.id))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query).all())


def count(
    session: Session,
    county_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
) -> int:
    """How many of a county's changes match."""
    matching = _matching(county_id, since, until, action).subquery()
    return int(session.scalar(select(func.count()).select_from(matching)) or 0)


def as_dict(row: AdminChange) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": as_utc(row.at),
        "actor": row.actor,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "before": json.loads(row.before) if row.before else None,
        "after": json.loads(row.after) if row.after else None,
    }


def table(rows: list[AdminChange]) -> pd.DataFrame:
    """The changes as a table for a file: before and after as JSON text, times in UTC ISO form."""
    return pd.DataFrame(
        [
            {
                "id": row.id,
                "at": as_utc(row.at).isoformat(),
                "actor": row.actor,
                "action": row.action,
                "target_type": row.target_type,
                "target_id": row.target_id,
                "before": row.before or "",
                "after": row.after or "",
            }
            for row in rows
        ],
        columns=list(COLUMNS),
    )

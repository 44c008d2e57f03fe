"""Fixed-window rate limits kept in the database, so every API worker counts against the same limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from ledger.base import as_utc, timestamp, utcnow
from ledger.errors import Throttled


class RateWindow(SQLModel, table=True):
    __tablename__ = "rate_window"

    key: str = Field(primary_key=True, max_length=200)
    started_at: datetime = timestamp()
    count: int = 0


T = RateWindow.__table__
_LOCK = select(T.c.started_at, T.c.count).where(T.c.key == bindparam("key")).with_for_update()
_SET = update(T).where(T.c.key == bindparam("k")).values(started_at=bindparam("s"), count=bindparam("c"))


def hit(session: Session, key: str, *, limit: int, seconds: int, what: str, now: datetime | None = None) -> None:
    """Count one use of `key`; refuse (Throttled, with the seconds to wait) past `limit` uses in `seconds`."""
    now = now or utcnow()
    conn = session.connection()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(T).values(key=key, started_at=now, count=0).on_conflict_do_nothing())
    row = conn.execute(_LOCK, {"key": key}).one()
    started, count = as_utc(row.started_at), row.count
    if started + timedelta(seconds=seconds) <= now:
        started, count = now, 0
    if count >= limit:
        wait = int((started + timedelta(seconds=seconds) - now).total_seconds()) + 1
        raise Throttled(f"Too many {what}: {limit} in {seconds} seconds. Try again in {wait} seconds.",
                        retry_after=wait, limit=limit)
    conn.execute(_SET, {"k": key, "s": started, "c": count + 1})

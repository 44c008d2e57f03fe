"""Fixed-window rate limits kept in the database, so every API worker counts against the same limit."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, bindparam, case
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from ledger.core.base import as_utc, table_of, timestamp, utcnow
from ledger.core.errors import Throttled


class RateWindow(SQLModel, table=True):
    __tablename__ = "rate_window"

    key: str = Field(primary_key=True, max_length=200)
    started_at: datetime = timestamp()
    count: int = 0


T = table_of(RateWindow)
_NOW, _EXPIRED = bindparam("now", type_=T.c.started_at.type), bindparam("expired", type_=T.c.started_at.type)
_CLOSED = T.c.started_at <= _EXPIRED  # the row's window has ended: this use opens a new one


@functools.cache
def _count_one(dialect: str) -> Any:
    """One statement: make the key's row or count one more use in it (a new window if the old one has ended),
    and read back the window's start and count. Its row lock makes concurrent uses count one after another."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    uses: BindParameter[int] = bindparam("uses")
    new = insert(T).values(key=bindparam("key"), started_at=_NOW, count=uses)
    return new.on_conflict_do_update(
        index_elements=[T.c.key],
        set_={
            "started_at": case((_CLOSED, _NOW), else_=T.c.started_at),
            "count": case((_CLOSED, uses), else_=T.c.count + uses),
        },
    ).returning(T.c.started_at, T.c.count)


def hit(
    session: Session,
    key: str,
    *,
    limit: int,
    seconds: int,
    what: str,
    uses: int = 1,
    now: datetime | None = None,
    refusal: type[Throttled] = Throttled,
) -> None:
    """Count `uses` of `key`; refuse (`refusal`, a Throttled naming the limit, with the seconds to wait) past
    `limit` uses in `seconds`. A refused use is not counted: the refusal rolls its transaction back.
    One statement counts and reads back, so uses at the same moment never slip past the limit together."""
    now = now or utcnow()
    conn = session.connection()
    window = timedelta(seconds=seconds)
    started, count = conn.execute(
        _count_one(conn.dialect.name), {"key": key, "now": now, "expired": now - window, "uses": uses}
    ).one()
    if count > limit:
        raise refused(started, now, limit=limit, seconds=seconds, what=what, refusal=refusal)


def counting(dialect: str) -> Any:
    """The statement `hit` counts with (parameters key, now, expired, uses; returns the window's start and
    count), for a caller that builds it into a larger one."""
    return _count_one(dialect)


def refused(
    started: datetime, now: datetime, *, limit: int, seconds: int, what: str, refusal: type[Throttled] = Throttled
) -> Throttled:
    """The refusal of a use past `limit` in the window that started at `started`, with the seconds to wait."""
    wait = int((as_utc(started) + timedelta(seconds=seconds) - now).total_seconds()) + 1
    return refusal(
        f"Too many {what}: {limit} in {seconds} seconds. Try again in {wait} seconds.", retry_after=wait, limit=limit
    )

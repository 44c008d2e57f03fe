"""Failed sign-ins are counted per account and per client address; past the limit the key waits out a window."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ledger.base import as_utc, utcnow
from ledger.errors import Throttled
from ledger.identity.models import SignInThrottle

T = SignInThrottle.__table__


def check(session: Session, keys: Mapping[str, int]) -> None:
    """Refuse at once while any key is blocked. `keys` maps a key to its failure limit."""
    now = utcnow()
    rows = session.connection().execute(select(T).where(T.c.key.in_(list(keys)))).all()
    waits = [as_utc(r.blocked_until) - now for r in rows if r.blocked_until and as_utc(r.blocked_until) > now]
    if waits:
        seconds = int(max(waits).total_seconds()) + 1
        raise Throttled(f"Too many failed attempts. Try again in {seconds} seconds.", retry_after=seconds)


def record_failure(session: Session, keys: Mapping[str, int], *, window_seconds: int) -> None:
    conn = session.connection()
    now = utcnow()
    window = timedelta(seconds=window_seconds)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(T)
        .values([{"key": k, "failures": 0, "window_started_at": now} for k in keys])
        .on_conflict_do_nothing()
    )
    for row in conn.execute(select(T).where(T.c.key.in_(list(keys))).order_by(T.c.key).with_for_update()):
        fresh = as_utc(row.window_started_at) + window <= now
        failures = 1 if fresh else row.failures + 1
        blocked = now + window if failures >= keys[row.key] else None
        conn.execute(
            T.update()
            .where(T.c.key == row.key)
            .values(
                failures=failures,
                window_started_at=now if fresh else row.window_started_at,
                blocked_until=blocked,
            )
        )


def clear(session: Session, key: str) -> None:
    session.connection().execute(T.delete().where(T.c.key == key))

"""Rate limits kept in the database: one count however many API workers, refused uses not counted."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from ledger.core import ratelimit
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import Throttled
from tests.concurrently import run_together

KEY = "test:client:bank"


def use(engine: Engine, now: datetime | None = None, limit: int = 3) -> str:
    with unit_of_work(engine) as session:
        ratelimit.hit(session, KEY, limit=limit, seconds=60, what="tries", now=now)
    return "ok"


def test_a_window_allows_the_limit_then_says_how_long_to_wait(engine: Engine) -> None:
    start = utcnow()
    assert [use(engine, start + timedelta(seconds=i)) for i in range(3)] == ["ok", "ok", "ok"]
    with pytest.raises(Throttled) as refused:
        use(engine, start + timedelta(seconds=20))
    assert refused.value.code == "too_many_requests" and refused.value.retry_after == 41
    with pytest.raises(Throttled):  # the refusal was not counted, but the window is still full
        use(engine, start + timedelta(seconds=59))
    assert use(engine, start + timedelta(seconds=60)) == "ok"  # a new window
    assert use(engine, start + timedelta(seconds=61)) == "ok"


def _at_once(engine: Engine, _: int) -> str:
    return use(engine, limit=5)


def test_uses_at_the_same_moment_are_counted_one_by_one(database_url: str) -> None:
    results = run_together(database_url, _at_once, list(range(12)))
    assert sorted(results) == ["ok"] * 5 + ["too_many_requests"] * 7

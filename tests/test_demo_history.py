"""The demo's year of history (api/demo_history.py), played through the services: it must play at any hour of the
county's day. Its claims at the standing garbage code stop where that code ends (two days before the seed), and
nothing in it happens after the moment it is played to: a decision, an appeal or its answer that would come later
is left waiting, as it would be in a real county."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from api import demo, demo_history
from ledger.activities import codes
from ledger.activities.models import Activity
from ledger.catalogue.county import start_county
from ledger.claims.models import Claim, Deduction, Dispute
from ledger.concerns.setup import default_categories
from ledger.core.base import as_utc, row_id
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings

ZONE = ZoneInfo("Asia/Shanghai")


def _played_to(engine: Engine, monkeypatch: pytest.MonkeyPatch, moment: datetime) -> list[datetime]:
    """The demo county's roster, staff and places as `demo.seed` makes them, then its history played up to
    `moment`, the last three days played as keenly as can be: every steady household sorts its garbage, nearly
    every decision is late (sixty hours), a deduction each day in each village, and each appealed. Returns the
    days played so."""
    one_day = demo_history._day
    keen_days: list[datetime] = []

    def day(*args: Any) -> None:
        when, last = args[3], args[6]
        if last - when >= timedelta(days=3):
            one_day(*args)
            return
        keen_days.append(when)
        with monkeypatch.context() as keen:
            keen.setattr(demo_history, "GARBAGE_STEADY", 1.0)
            keen.setattr(demo_history, "LATE_DECISIONS", 0.98)
            keen.setattr(demo_history, "LATE_HOURS", (60.0, 60.0))  # a morning's claim of the last day: after it
            keen.setattr(demo_history, "DEDUCTIONS", 1.0)
            keen.setattr(demo_history, "APPEALS", 1.0)
            one_day(*args)

    monkeypatch.setattr(demo_history, "_day", day)
    keys = codes.Keys.from_settings(Settings(env="dev", jwt_secret="a-test-secret-of-enough-length-0123456789"))
    rng = random.Random(20261123)
    with unit_of_work(engine) as session:
        county = start_county(session, code="demo", name="善治县（演示）", actor=demo.ACTOR)
        default_categories(session, row_id(county.id))
        villages, townships = demo._from_roster(session, county, demo.roster(random.Random(20261201)))
        demo._staff(session, county, villages, townships)
        places = demo._places(session, county, villages, rng)
        demo_history.play(session, keys, places, now=moment, timezone=county.timezone, rng=rng)
    return keen_days


@pytest.mark.parametrize("hour", [0, 15], ids=["at 00:30 in the county", "at 15:30 in the county"])
def test_the_history_plays_at_any_hour_and_nothing_in_it_is_later_than_its_moment(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, hour: int
) -> None:
    moment = (datetime.now(ZONE) - timedelta(days=1)).replace(hour=hour, minute=30, second=0, microsecond=0)
    moment = moment.astimezone(UTC)
    assert len(_played_to(engine, monkeypatch, moment)) == 3 * 3  # three days, three villages
    with unit_of_work(engine) as session:
        [standing] = session.scalars(select(Activity).where(col(Activity.title).contains("（去年）"))).all()[:1]
        ends = as_utc(standing.ends_at)
        assert ends == moment - timedelta(days=demo_history.QUIET_DAYS)
        at_code = session.scalars(select(col(Claim.submitted_at)).where(col(Claim.activity_id) == standing.id)).all()
        assert at_code and max(as_utc(t) for t in at_code) < ends
        claims = session.execute(select(col(Claim.submitted_at), col(Claim.decided_at))).all()
        deductions = session.scalars(select(col(Deduction.recorded_at))).all()
        disputes = session.execute(select(col(Dispute.opened_at), col(Dispute.resolved_at))).all()
    moments = [t for row in [*claims, *disputes] for t in row if t is not None] + list(deductions)
    assert max(as_utc(t) for t in moments) < moment
    # the keen last days left things waiting: claims not decided yet, appeals not answered yet
    assert any(decided is None for _, decided in claims)
    assert any(resolved is None for _, resolved in disputes)

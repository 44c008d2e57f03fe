"""The demo county's village concerns (api/demo_concerns.py), as `shanzhi demo` seeds them: played through the
services with the moment each step happened, so the county has concerns in every state, a dashboard worth looking
at, and handler accounts the printed help names."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from ledger import figures
from ledger.concerns.models import Concern, ConcernEvent, ConcernHandler, ConcernHandlerMember
from ledger.core.base import utcnow
from ledger.core.db import make_engine, unit_of_work
from ledger.identity.models import User
from ledger.tenancy import County, Village


def test_the_demo_has_concerns_in_every_state_with_their_handlers(seeded: tuple[Path, str], demo_db: Path) -> None:
    printed = seeded[1]
    assert "village concerns:" in printed and "grid-qingshan" in printed and "office-qingshan" in printed
    engine = make_engine(f"sqlite:///{demo_db}")
    with unit_of_work(engine) as session:
        concerns = list(session.scalars(select(Concern)))
        states = Counter(c.status for c in concerns)
        assert 25 <= len(concerns) <= 40
        for status in ("submitted", "accepted", "dispatched", "resolved", "closed", "merged"):
            assert states[status] >= 1, states
        assert sum(c.anonymous for c in concerns) == 1
        assert sum(c.reopened for c in concerns) == 1
        assert {c.closed_by for c in concerns if c.status == "closed"} == {"evaluation", "auto"}
        assert any(c.channel == "in_person" for c in concerns)
        assert sum(c.reward_claim_id is not None for c in concerns) >= 5  # points for useful reports
        actions = Counter(session.scalars(select(col(ConcernEvent.action))))
        assert actions["escalate"] >= 3 and actions["return"] == 1 and actions["auto_close"] >= 2
        assert len({c.village_id for c in concerns if c.village_id is not None}) == 3
        [township] = [c for c in concerns if c.village_id is None]  # at the township's own code
        assert township.status == "closed"

        handlers = list(session.scalars(select(ConcernHandler)))
        assert sorted(h.kind for h in handlers) == ["grid", "township_office"]
        members = session.execute(
            select(col(User.username)).join(ConcernHandlerMember, col(ConcernHandlerMember.user_id) == col(User.id))
        ).scalars()
        assert sorted(members) == ["grid-qingshan", "office-qingshan"]

        county = session.scalars(select(County)).one()
        scope = figures.Scope(
            county=county,
            villages=list(session.scalars(select(Village).order_by(col(Village.id)))),
            townships=((township.township_id, "青山镇"),),
        )
        now = utcnow()
        months = figures.concerns_months(session, scope, now)
        assert (months["received"] > 0).sum() >= 4  # concerns over the last months, not all today
        assert months["resolved_on_time_rate"].dropna().min() < 1  # some late
        open_now = figures.concerns_open_now(session, scope, now)
        assert open_now["open_now"].sum() >= 5 and 0 < open_now["overdue_now"].sum() < open_now["open_now"].sum()

"""Every timestamp is stored as UTC (ledger/core/base.py: UtcDateTime), whatever zone the moment is given in: on
SQLite, which keeps a moment's wall-clock digits and drops its zone, a moment given in the county's time would
otherwise read back eight hours late."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlmodel import col

from ledger.core.audit import AdminChange
from ledger.core.base import as_utc
from ledger.core.db import unit_of_work
from tests import factories


def test_a_moment_in_the_countys_time_reads_back_as_the_same_instant(engine: Engine) -> None:
    at_eight_in_shanghai = datetime(2026, 11, 30, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with unit_of_work(engine) as session:
        county_id = factories.create_village(session).county_id
        session.add(
            AdminChange(
                county_id=county_id, actor="test", action="test.moment", target_type="test", at=at_eight_in_shanghai
            )
        )
    with unit_of_work(engine) as session:
        stored = session.scalars(select(col(AdminChange.at))).one()
        # and compared in the county's time, it is found where it is
        found = session.scalars(select(col(AdminChange.id)).where(col(AdminChange.at) == at_eight_in_shanghai)).all()
    assert as_utc(stored) == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert len(found) == 1

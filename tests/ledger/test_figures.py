"""The figures (ledger/figures.py, docs/claims.md "Figures"): pure pandas over claim rows, then the loaders on a
database. Months are the county's (Asia/Shanghai, UTC+8): 2026-11 runs from 2026-10-31T16:00Z to 2026-11-30T16:00Z."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine

from ledger import figures
from ledger.catalogue.models import Matter
from ledger.claims.models import Claim
from ledger.core.db import unit_of_work
from ledger.tenancy import County, Village
from tests import factories

TZ = "Asia/Shanghai"
NOVEMBER = figures.month_bounds("2026-11", TZ)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def claims(*rows: tuple[object, ...]) -> pd.DataFrame:
    """Rows of: id, household, matter, points, status, submitted, decided, decided_by, settled (UTC)."""
    full = [(i, h, 1, m, m, m, p, s, sub, dec, by, st) for i, h, m, p, s, sub, dec, by, st in rows]
    frame = pd.DataFrame(full, columns=figures.CLAIM_COLUMNS)
    for column in ("submitted_at", "decided_at", "settled_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


MONTH = claims(
    (1, 10, "sorting", 2, "settled", "2026-11-02T08:00Z", "2026-11-02T10:00Z", "official", "2026-11-09T10:00Z"),
    (2, 10, "volunteering", 5, "approved", "2026-11-20T08:00Z", "2026-11-22T08:00Z", "official", None),
    (3, 11, "sorting", 2, "rejected", "2026-11-21T08:00Z", "2026-11-21T20:00Z", "official", None),
    (4, 12, "sorting", 2, "pending", "2026-11-29T08:00Z", None, None, None),
    (5, 11, "sorting", 2, "settled", "2026-10-20T08:00Z", "2026-10-20T09:00Z", "official", "2026-10-27T09:00Z"),
)


def report(rows: pd.DataFrame, *, households: int = 4, overdue_hours: int = 24) -> figures.MonthReport:
    return figures.month_report(
        rows, households=households, month="2026-11", timezone=TZ, overdue_hours=overdue_hours, village_id=1
    )


def test_the_month_report_of_a_village() -> None:
    month = report(MONTH)
    # took part: household 10 (claims 1 and 2); 11 was rejected in November, 12 waits; claim 5 is October's
    assert (month.participating, month.participation_rate) == (1, 0.25)
    assert (month.decided, month.decided_on_time, month.on_time_rate) == (3, 2, round(2 / 3, 4))  # 2 h, 48 h, 12 h
    assert month.median_decision_hours == 12.0
    assert month.points_by_matter[["matter_code", "claims", "points"]].to_dict(orient="records") == [
        {"matter_code": "volunteering", "claims": 1, "points": 5},
        {"matter_code": "sorting", "claims": 1, "points": 2},
    ]
    assert dict(zip(month.claims_by_status["status"], month.claims_by_status["claims"], strict=True)) == {
        "approved": 1,
        "pending": 1,
        "rejected": 1,
        "settled": 1,
    }


def test_a_month_is_the_countys_not_utcs() -> None:
    # 2026-11-30T17:00Z is 1 December 01:00 in Shanghai; 2026-10-31T16:30Z is 1 November 00:30 there
    rows = claims(
        (1, 10, "sorting", 2, "approved", "2026-11-30T17:00Z", "2026-11-30T18:00Z", "official", None),
        (2, 11, "sorting", 2, "approved", "2026-10-31T16:30Z", "2026-10-31T17:00Z", "official", None),
    )
    table = figures.participation(rows, households=2, months=["2026-10", "2026-11", "2026-12"], timezone=TZ)
    assert table["participating"].tolist() == [0, 1, 1]
    assert report(rows, households=2).participating == 1  # household 11, not 10
    assert report(rows, households=2).decided == 1


def test_participation_counts_the_month_a_claim_was_made_once_it_stands() -> None:
    rows = claims(
        # made on 30 November (county time), approved on 2 December: November's participation
        (1, 10, "sorting", 2, "approved", "2026-11-30T02:00Z", "2026-12-02T02:00Z", "official", None),
        (
            2,
            11,
            "sorting",
            2,
            "revoked",
            "2026-11-05T02:00Z",
            "2026-11-05T03:00Z",
            "official",
            None,
        ),  # objection upheld
        (3, 12, "sorting", 2, "expired", "2026-11-06T02:00Z", "2026-11-13T02:00Z", "system:expiry", None),
        (4, 13, "sorting", 2, "pending", "2026-11-28T02:00Z", None, None, None),
    )
    table = figures.participation(rows, households=4, months=["2026-11", "2026-12"], timezone=TZ)
    assert table.to_dict(orient="records") == [
        {"month": "2026-11", "households": 4, "participating": 1, "rate": 0.25},
        {"month": "2026-12", "households": 4, "participating": 0, "rate": 0.0},
    ]
    by_matter = figures.points_by_matter(rows, start=NOVEMBER[0], end=NOVEMBER[1])
    assert by_matter[["claims", "points"]].values.tolist() == [[1, 2]]


def test_on_time_is_the_countys_overdue_hours_expired_is_late_and_automatic_is_not_a_review() -> None:
    rows = claims(
        (1, 10, "sorting", 2, "approved", "2026-11-02T00:00Z", "2026-11-02T20:00Z", "official", None),  # 20 h
        (2, 10, "sorting", 2, "rejected", "2026-11-03T00:00Z", "2026-11-04T06:00Z", "official", None),  # 30 h
        (3, 11, "sorting", 2, "settled", "2026-11-04T00:00Z", "2026-11-05T00:00Z", "official", "2026-11-12T00:00Z"),
        (4, 11, "sorting", 2, "expired", "2026-11-05T00:00Z", "2026-11-12T00:00Z", "system:expiry", None),
        (5, 12, "sorting", 2, "approved", "2026-11-06T00:00Z", "2026-11-06T00:00Z", "system:auto", None),
        (6, 12, "sorting", 2, "revoked", "2026-11-07T00:00Z", "2026-11-07T01:00Z", "official", None),  # 1 h
    )
    # 24 h (the default): 20 h and 1 h are on time; exactly 24 h is overdue, as the review queue marks it
    day = figures.on_time(rows, months=["2026-11"], timezone=TZ, overdue_hours=24).iloc[0]
    assert (day["decided"], day["on_time"], day["rate"]) == (5, 2, 0.4)
    assert day["median_hours"] == 22.0  # of 20, 30, 24 and 1 h: the expiry was no decision
    # a county that gives its officials 48 h: 30 h and 24 h are on time too, the expired claim still is not
    two_days = figures.on_time(rows, months=["2026-11"], timezone=TZ, overdue_hours=48).iloc[0]
    assert (two_days["decided"], two_days["on_time"], two_days["rate"]) == (5, 4, 0.8)
    # a month without a review has no rate, not 0 %
    quiet = figures.on_time(rows, months=["2026-10"], timezone=TZ, overdue_hours=24).iloc[0]
    assert (quiet["decided"], quiet["rate"], quiet["median_hours"]) == (0, None, None)


def test_leaderboard_ranks_net_points_with_ties() -> None:
    entries = pd.DataFrame([(1, 5), (1, 3), (2, 8), (3, 10), (3, -2)], columns=["household_id", "points"])
    table = figures.leaderboard(entries, {1: "A", 2: "B", 3: "C", 4: "D"}, [1, 2, 3, 4])
    assert table[["rank", "name", "points"]].values.tolist() == [[1, "A", 8], [1, "B", 8], [1, "C", 8], [4, "D", 0]]


def test_the_loaders_read_the_months_claims_of_the_scope_only(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        place = factories.create_village(session)
        other = factories.create_village(session, county_id=place.county_id)
        mine, _ = factories.create_household(session, place.village_id)
        factories.create_household(session, place.village_id)
        theirs, _ = factories.create_household(session, other.village_id)
        matter = Matter(
            county_id=place.county_id,
            code="sorting",
            name_zh="垃圾分类",
            name_en="Sorting",
            category="c",
            points=2,
            created_by="test",
        )
        session.add(matter)
        session.flush()

        def add(household: int, village: int, status: str, submitted: str, decided: str | None) -> None:
            session.add(
                Claim(
                    county_id=place.county_id,
                    village_id=village,
                    household_id=household,
                    matter_id=factories.id_of(matter),
                    points=2,
                    period_key="once",
                    status=status,
                    award_reason="test",
                    entered_by="official",
                    submitted_at=at(submitted),
                    decided_at=at(decided) if decided else None,
                    decided_by="official" if decided else None,
                    reject_reason="no" if status == "rejected" else None,
                )
            )

        add(mine, place.village_id, "approved", "2026-11-10T02:00:00", "2026-11-10T03:00:00")
        add(mine, place.village_id, "rejected", "2026-10-30T02:00:00", "2026-11-02T02:00:00")  # decided in November
        add(mine, place.village_id, "approved", "2026-10-10T02:00:00", "2026-10-10T03:00:00")  # October's
        add(theirs, other.village_id, "approved", "2026-11-10T02:00:00", "2026-11-10T03:00:00")  # another village
        session.flush()

        village = session.get(Village, place.village_id)
        assert village is not None
        scope = figures.village_scope(session, village)
        loaded = figures.load_claims(session, scope.village_ids, *NOVEMBER)
        assert sorted(loaded["status"]) == ["approved", "rejected"]
        month = figures.scope_month(session, scope, "2026-11")
        county = session.get(County, place.county_id)
        assert county is not None and county.overdue_hours == 24
    assert (month.households, month.participating, month.participation_rate) == (2, 1, 0.5)
    assert (month.decided, month.decided_on_time) == (2, 1)  # the rejection came after 72 h

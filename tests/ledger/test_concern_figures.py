"""The village concern figures (ledger/figures.py, docs/concerns.md "Figures"), computed by hand on a small county
and compared, on each database: steps timed against the deadline recorded when they opened, a concern reopened
once and resolved twice, one closed by the schedule, a merged duplicate, months in county time (Asia/Shanghai,
UTC+8: November 2026 runs from 2026-10-31T16:00Z to 2026-11-30T16:00Z)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine
from sqlmodel import Session

from ledger import figures
from ledger.concerns.models import Concern, ConcernCategory, ConcernEvent
from ledger.core.db import unit_of_work
from ledger.tenancy import County, Village
from tests import factories

TZ = "Asia/Shanghai"
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def at(text: str | None) -> datetime | None:
    return None if text is None else moment(text)


@dataclass
class Told:
    """A concern as the lifecycle leaves it: its row's end state and its timeline, each event with the deadline of
    the step it opened (times UTC, without the Z)."""

    village: str
    category: str
    created: str
    events: list[tuple[str, str, str | None]]  # action, at, due_at
    status: str
    step_due: str | None = None
    closed: str | None = None
    closed_by: str | None = None
    satisfied: bool | None = None
    into: int | None = None  # the index of the concern it was merged into
    reopened: bool = False
    level: int = 0


STORY = [
    # 0, A road: accepted in time, dispatched late, resolved in 19 h, evaluated satisfied
    Told(
        "A",
        "road",
        "2026-11-02T01:00",
        [
            ("submit", "2026-11-02T01:00", "2026-11-02T01:01"),
            ("accept", "2026-11-02T01:00:30", "2026-11-02T01:05"),
            ("dispatch", "2026-11-02T01:10", "2026-11-03T01:10"),
            ("resolve", "2026-11-02T20:00", "2026-11-09T20:00"),
            ("evaluate", "2026-11-03T02:00", None),
        ],
        "closed",
        closed="2026-11-03T02:00",
        closed_by="evaluation",
        satisfied=True,
    ),
    # 1, A road: accepted late, resolved in 24 h, not satisfied (reopened to the supervisor), escalated, dispatched
    # and resolved again late (72 h from its receipt), not satisfied the second time: closed
    Told(
        "A",
        "road",
        "2026-11-05T00:00",
        [
            ("submit", "2026-11-05T00:00", "2026-11-05T00:01"),
            ("accept", "2026-11-05T00:05", "2026-11-05T00:10"),
            ("dispatch", "2026-11-05T00:08", "2026-11-06T00:08"),
            ("resolve", "2026-11-06T00:00", "2026-11-13T00:00"),
            ("reopen", "2026-11-06T12:00", "2026-11-06T12:05"),
            ("overdue", "2026-11-06T12:06", None),  # open no step: passed over when timing the next
            ("escalate", "2026-11-06T12:06", None),
            ("dispatch", "2026-11-06T14:00", "2026-11-07T14:00"),
            ("resolve", "2026-11-08T00:00", "2026-11-15T00:00"),
            ("evaluate", "2026-11-08T06:00", None),
        ],
        "closed",
        closed="2026-11-08T06:00",
        closed_by="evaluation",
        satisfied=False,
        reopened=True,
        level=1,
    ),
    # 2, A environment: every step in time, resolved in 48 h, nobody evaluated: closed by the schedule
    Told(
        "A",
        "environment",
        "2026-11-10T02:00",
        [
            ("submit", "2026-11-10T02:00", "2026-11-10T02:01"),
            ("accept", "2026-11-10T02:00:30", "2026-11-10T02:05"),
            ("dispatch", "2026-11-10T02:04", "2026-11-13T02:04"),
            ("resolve", "2026-11-12T02:00", "2026-11-19T02:00"),
            ("auto_close", "2026-11-19T02:00", None),
        ],
        "closed",
        closed="2026-11-19T02:00",
        closed_by="auto",
    ),
    # 3, A road: a duplicate of 0, written merged
    Told(
        "A",
        "road",
        "2026-11-20T00:00",
        [("submit", "2026-11-20T00:00", "2026-11-20T00:01"), ("merge", "2026-11-20T00:00", None)],
        "merged",
        into=0,
    ),
    # 4, A environment: never accepted, late since 25 November
    Told(
        "A",
        "environment",
        "2026-11-25T00:00",
        [("submit", "2026-11-25T00:00", "2026-11-25T00:01")],
        "submitted",
        step_due="2026-11-25T00:01",
    ),
    # 5, B environment: received 31 October 23:00 in the county (October's), accepted late at 00:30 on
    # 1 November there (November's), dispatched in time, with its handler until 5 December
    Told(
        "B",
        "environment",
        "2026-10-31T15:00",
        [
            ("submit", "2026-10-31T15:00", "2026-10-31T15:01"),
            ("accept", "2026-10-31T16:30", "2026-11-01T02:00"),
            ("dispatch", "2026-11-01T01:00", "2026-12-05T00:00"),
        ],
        "dispatched",
        step_due="2026-12-05T00:00",
    ),
    # 6, B road: 1 December 01:00 in the county (December's), late to be accepted now
    Told(
        "B",
        "road",
        "2026-11-30T17:00",
        [("submit", "2026-11-30T17:00", "2026-11-30T17:01")],
        "submitted",
        step_due="2026-11-30T17:01",
    ),
    # 7, C (another village of the county, not in the scope): counted nowhere here
    Told(
        "C",
        "road",
        "2026-11-03T00:00",
        [("submit", "2026-11-03T00:00", "2026-11-03T00:01"), ("accept", "2026-11-03T09:00", "2026-11-03T09:05")],
        "accepted",
        step_due="2026-11-03T09:05",
    ),
]


@dataclass(frozen=True)
class Place:
    county: County
    villages: dict[str, Village]
    categories: dict[str, int]


def tell(session: Session) -> Place:
    """The story in three new villages of a new county: A and B (the scope) and C."""
    place = factories.create_village(session)
    other = factories.create_village(session, county_id=place.county_id)
    third = factories.create_village(session, county_id=place.county_id)
    return tell_in(session, place.county_id, {"A": place.village_id, "B": other.village_id, "C": third.village_id})


def tell_in(session: Session, county_id: int, village_ids: dict[str, int]) -> Place:
    """The story told in these villages (A, B and C, of one county), with the county's two categories."""
    villages = {name: session.get(Village, village_id) for name, village_id in village_ids.items()}
    categories = {}
    for code, zh, en in (("road", "道路隐患", "Road hazard"), ("environment", "环境卫生", "Environment")):
        category = ConcernCategory(county_id=county_id, code=code, name_zh=zh, name_en=en)
        session.add(category)
        session.flush()
        categories[code] = factories.id_of(category)
    ids: list[int] = []
    for told in STORY:
        village = villages[told.village]
        assert village is not None
        concern = Concern(
            county_id=county_id,
            township_id=village.township_id,
            village_id=village.id,
            category_id=categories[told.category],
            kind="hazard",
            text="路灯坏了",
            entered_by="user:1",
            status=told.status,
            created_at=moment(told.created),
            step_due_at=at(told.step_due),
            closed_at=at(told.closed),
            closed_by=told.closed_by,
            satisfied=told.satisfied,
            merged_into_id=None if told.into is None else ids[told.into],
            version=len(told.events),
            reopened=told.reopened,
            level=told.level,
        )
        session.add(concern)
        session.flush()
        ids.append(factories.id_of(concern))
        for action, when, due in told.events:
            session.add(
                ConcernEvent(
                    concern_id=ids[-1],
                    at=moment(when),
                    action=action,
                    actor="user:1",
                    actor_role="official",
                    due_at=at(due),
                )
            )
        session.flush()
    county = session.get(County, county_id)
    assert county is not None
    return Place(county, {k: v for k, v in villages.items() if v is not None}, categories)


def scope_of(place: Place) -> figures.Scope:
    return figures.Scope(county=place.county, villages=[place.villages["A"], place.villages["B"]])


COUNTS = dict.fromkeys(figures.CONCERN_COUNTS, 0)
NOTHING = dict.fromkeys(figures.CONCERN_RATES) | {"median_hours_to_resolve": None}


def test_the_months_figures_per_village_and_category_computed_by_hand(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        place = tell(session)
        table = figures.scope_concerns(session, scope_of(place), "2026-11", NOW)
        a, b = place.villages["A"].name, place.villages["B"].name
    assert list(table.columns) == figures.CONCERN_FIGURES
    rows = {(r["village"], r["category_code"]): r for r in table.to_dict(orient="records")}
    assert list(rows) == [(a, "road"), (a, "environment"), (b, "road"), (b, "environment")]
    figures_of = {
        key: {k: v for k, v in row.items() if k in (*COUNTS, *NOTHING, "open_now", "overdue_now")}
        for key, row in rows.items()
    }
    assert figures_of[(a, "road")] == {
        **COUNTS,
        "received": 3,  # 0, 1 and the duplicate 3
        "merged": 1,
        "accepted": 2,  # 0 in time, 1 late
        "accepted_on_time": 1,
        "dispatched": 3,  # 0 late, 1 in time, 1 again after reopening late
        "dispatched_on_time": 1,
        "resolved": 3,  # 0 and 1 in time, 1 again late
        "resolved_on_time": 2,
        "closed": 2,
        "closed_with_evaluation": 2,
        "evaluated": 3,  # 0 satisfied; 1 not satisfied twice (the reopening is an evaluation too)
        "satisfied": 1,
        "accepted_on_time_rate": 0.5,
        "dispatched_on_time_rate": 0.3333,
        "resolved_on_time_rate": 0.6667,
        "closed_loop_rate": 1.0,
        "satisfaction_rate": 0.3333,
        "median_hours_to_resolve": 24.0,  # 19, 24 and 72 hours from receipt
        "open_now": 0,
        "overdue_now": 0,
    }
    assert figures_of[(a, "environment")] == {
        **COUNTS,
        "received": 2,
        "accepted": 1,
        "accepted_on_time": 1,
        "dispatched": 1,
        "dispatched_on_time": 1,
        "resolved": 1,
        "resolved_on_time": 1,
        "closed": 1,  # by the schedule: not a closed loop
        "accepted_on_time_rate": 1.0,
        "dispatched_on_time_rate": 1.0,
        "resolved_on_time_rate": 1.0,
        "closed_loop_rate": 0.0,
        "satisfaction_rate": None,  # nobody evaluated: no rate, not 0 %
        "median_hours_to_resolve": 48.0,
        "open_now": 1,
        "overdue_now": 1,
    }
    assert figures_of[(b, "road")] == {**COUNTS, **NOTHING, "open_now": 1, "overdue_now": 1}  # December's, late now
    assert figures_of[(b, "environment")] == {
        **COUNTS,
        **NOTHING,
        "accepted": 1,  # October's report, accepted (late) in November, county time
        "dispatched": 1,
        "dispatched_on_time": 1,
        "accepted_on_time_rate": 0.0,
        "dispatched_on_time_rate": 1.0,
        "open_now": 1,
        "overdue_now": 0,
    }
    assert {r["month"] for r in rows.values()} == {"2026-11"}
    assert rows[(a, "road")]["category_zh"] == "道路隐患"


def test_the_months_of_the_scope_together_and_what_is_open_per_village(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        place = tell(session)
        scope = scope_of(place)
        months = figures.concerns_months(session, scope, NOW)
        open_now = figures.concerns_open_now(session, scope, NOW)
        version = figures.concerns_version(session, scope, NOW)
        (a_id, a), (b_id, b) = ((v.id, v.name) for v in scope.villages)
        assert figures.concerns_version(session, scope, NOW) == version
        assert figures.concerns_version(session, scope, moment("2026-12-06T00:00")) != version  # 5 is late by then
    assert list(months.columns) == figures.CONCERN_MONTH
    assert months["month"].tolist()[-3:] == ["2026-10", "2026-11", "2026-12"]
    by_month = months.set_index("month")
    assert by_month.loc["2026-10", "received"] == 1 and by_month.loc["2026-12", "received"] == 1
    assert by_month.loc["2026-10", "accepted_on_time_rate"] is None  # nothing accepted in October
    november = by_month.loc["2026-11"]
    assert (november["received"], november["merged"]) == (5, 1)
    assert (november["accepted"], november["accepted_on_time"], november["accepted_on_time_rate"]) == (4, 2, 0.5)
    assert (november["dispatched"], november["dispatched_on_time"], november["dispatched_on_time_rate"]) == (5, 3, 0.6)
    assert (november["resolved"], november["resolved_on_time"], november["resolved_on_time_rate"]) == (4, 3, 0.75)
    assert (november["closed"], november["closed_with_evaluation"], november["closed_loop_rate"]) == (3, 2, 0.6667)
    assert (november["evaluated"], november["satisfied"], november["satisfaction_rate"]) == (3, 1, 0.3333)
    assert november["median_hours_to_resolve"] == 36.0  # 19, 24, 48, 72
    assert months["received"].sum() == 7  # the village not in the scope counted nowhere
    assert open_now.to_dict(orient="records") == [
        {"village_id": a_id, "village": a, "open_now": 1, "overdue_now": 1},
        {"village_id": b_id, "village": b, "open_now": 2, "overdue_now": 1},
    ]


def test_a_month_with_nothing_shows_only_what_is_open_now_and_an_empty_scope_nothing(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        place = tell(session)
        early = figures.scope_concerns(session, scope_of(place), "2026-09", NOW)
        nobody = figures.Scope(county=place.county, villages=[])
        assert figures.scope_concerns(session, nobody, "2026-11", NOW).empty
        assert figures.concerns_months(session, nobody, NOW)["received"].sum() == 0
    assert list(early.columns) == figures.CONCERN_FIGURES
    assert (early[figures.CONCERN_COUNTS] == 0).all().all()  # nothing happened in September
    assert early[figures.CONCERN_RATES].isna().all().all()
    assert (early["open_now"].sum(), early["overdue_now"].sum()) == (3, 2)  # 4, 5 and 6, open whatever the month


def test_a_step_opened_without_a_deadline_is_not_late_and_pure_frames_need_no_database() -> None:
    concerns = pd.DataFrame(
        [(1, 1, 1, "dispatched", at("2026-11-02T00:00"), None, None, None)], columns=figures.CONCERN_COLUMNS
    )
    for column in ("created_at", "closed_at", "step_due_at"):
        concerns[column] = pd.to_datetime(concerns[column], utc=True)
    steps = pd.DataFrame(
        [(1, 1, 1, "accept", at("2026-11-09T00:00"), None, at("2026-11-02T00:00"), None)],
        columns=figures.STEP_COLUMNS,
    )
    for column in ("at", "due_at", "created_at"):
        steps[column] = pd.to_datetime(steps[column], utc=True)
    categories = pd.DataFrame([(1, "road", "道路隐患", "Road")], columns=figures.CATEGORY_COLUMNS)
    row = figures.concern_figures(
        concerns, steps, [(1, "East")], categories, month="2026-11", timezone=TZ, now=NOW
    ).iloc[0]
    assert (row["accepted"], row["accepted_on_time"], row["open_now"], row["overdue_now"]) == (1, 1, 1, 0)

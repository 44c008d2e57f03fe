"""Deadlines of concerns on the county's calendar, the scheduled steps that act on them (escalating a late step once,
closing a resolved concern nobody evaluated) and the county admin's edits of the calendar, on a real database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from ledger import jobs
from ledger.concerns import deadlines
from ledger.concerns.models import CalendarDay, Concern, ConcernCategory, ConcernEvent, ConcernHandler
from ledger.core.audit import AdminChange
from ledger.core.base import as_utc
from ledger.core.db import unit_of_work
from ledger.core.errors import DomainError
from ledger.core.outbox import Notification
from ledger.identity.models import OfficialScope, Role, User
from ledger.identity.principal import Principal
from ledger.tenancy import County
from tests import factories
from tests.concurrently import run_together
from tests.factories import id_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRI, SAT, MON, TUE = date(2026, 12, 4), date(2026, 12, 5), date(2026, 12, 7), date(2026, 12, 8)


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment of the county's wall clock (Asia/Shanghai), as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class Place:
    county_id: int
    township_id: int
    village_id: int
    category_id: int  # not urgent: 1, 5 and 1620 working minutes
    urgent_id: int  # urgent: 1, 5 working minutes, 1440 minutes on the clock
    admin: Principal
    official: Principal
    auditor: Principal
    supervisor: int  # the township's supervisor (user id)
    handler_id: int  # a handler with a supervisor of its own
    handler_supervisor: int
    household_id: int  # a household of the village that reports


def _user(session: Session, county_id: int, role: Role, name: str) -> int:
    user = User(role=role, county_id=county_id, username=name, display_name=name)
    session.add(user)
    session.flush()
    return id_of(user)


@pytest.fixture
def place(engine: Engine) -> Place:
    with unit_of_work(engine) as session:
        v = factories.create_village(session)
        category = ConcernCategory(county_id=v.county_id, code="environment", name_zh="环境卫生", name_en="Environment")
        urgent = ConcernCategory(
            county_id=v.county_id,
            code="road_hazard",
            name_zh="道路隐患",
            name_en="Road hazard",
            urgent=True,
            resolve_minutes=1440,
            resolve_working=False,
        )
        session.add_all([category, urgent])
        supervisor = _user(session, v.county_id, Role.OFFICIAL, "supervisor")
        session.add(OfficialScope(user_id=supervisor, township_id=v.township_id))
        boss = _user(session, v.county_id, Role.OFFICIAL, "roads-boss")
        handler = ConcernHandler(county_id=v.county_id, kind="department", name="Roads office", supervisor_user_id=boss)
        session.add(handler)
        session.flush()
        admin = _user(session, v.county_id, Role.COUNTY_ADMIN, "admin")
        auditor = _user(session, v.county_id, Role.AUDITOR, "auditor")
        official = factories.create_official(session, v.county_id, [v.village_id])
        household_id, _ = factories.create_household(session, v.village_id)
        return Place(
            county_id=v.county_id,
            township_id=v.township_id,
            village_id=v.village_id,
            category_id=id_of(category),
            urgent_id=id_of(urgent),
            admin=factories.principal_of(session, admin),
            official=factories.principal_of(session, official),
            auditor=factories.principal_of(session, auditor),
            supervisor=supervisor,
            handler_id=id_of(handler),
            handler_supervisor=boss,
            household_id=household_id,
        )


def report(
    engine: Engine, place: Place, created: datetime, *, status: str = "submitted", urgent: bool = False, **more: Any
) -> int:
    """A concern in `status` since `created`, with the deadline of that step as the lifecycle sets it."""
    with unit_of_work(engine) as session:
        category = session.get(ConcernCategory, place.urgent_id if urgent else place.category_id)
        assert category is not None
        concern = Concern(
            county_id=place.county_id,
            township_id=place.township_id,
            village_id=place.village_id,
            category_id=id_of(category),
            kind="hazard",
            text="路灯坏了",
            entered_by="user:1",
            status=status,
            created_at=created,
            **more,
        )
        opened = more.get("resolved_at", created)  # the step waited for began with the state
        concern.step_due_at = deadlines.due_for(session, concern, category, opened)
        session.add(concern)
        session.flush()
        return id_of(concern)


def concern_of(engine: Engine, concern_id: int) -> Concern:
    with Session(engine) as session:
        found = session.get(Concern, concern_id)
        assert found is not None
        session.expunge(found)
        return found


def events(engine: Engine, concern_id: int) -> list[tuple[str, int, str, str]]:
    with Session(engine) as session:
        return [
            (e.action, e.level, e.actor_role, e.to_status or "")
            for e in session.scalars(
                select(ConcernEvent).where(col(ConcernEvent.concern_id) == concern_id).order_by(col(ConcernEvent.id))
            ).all()
        ]


def told(engine: Engine, concern_id: int) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return [
            {"household_id": n.household_id, **n.payload}
            for n in session.scalars(
                select(Notification).where(col(Notification.kind) == "concern_overdue").order_by(col(Notification.id))
            ).all()
            if n.payload.get("concern_id") == concern_id
        ]


def told_household(engine: Engine, household_id: int) -> list[dict[str, Any]]:
    """What the reporter's household was told of concerns (kind concern_closed), oldest first."""
    with Session(engine) as session:
        return [
            {key: n.payload[key] for key in ("concern_id", "status")}
            for n in session.scalars(
                select(Notification)
                .where(col(Notification.household_id) == household_id, col(Notification.kind) == "concern_closed")
                .order_by(col(Notification.id))
            ).all()
        ]


def overdue_run(engine: Engine, now: datetime) -> int:
    with unit_of_work(engine) as session:
        return deadlines.escalate_overdue(session, now)


def mark(engine: Engine, place: Place, day: date, *, working: bool, name: str) -> None:
    with unit_of_work(engine) as session:
        deadlines.set_day(session, place.admin, day, working=working, name=name)


# ---- deadlines -------------------------------------------------------------------------------------------------


def test_each_step_is_due_on_its_own_clock(engine: Engine, place: Place) -> None:
    mark(engine, place, MON, working=False, name="测试假日")
    with Session(engine) as session:
        category = session.get(ConcernCategory, place.category_id)
        urgent = session.get(ConcernCategory, place.urgent_id)
        assert category is not None and urgent is not None
        start = at(FRI, 22)

        def due(cat: ConcernCategory, step: deadlines.Step) -> datetime | None:
            return deadlines.due_after(session, place.county_id, cat, step, start)

        assert due(category, "accept") == at(TUE, 8, 31)  # working minutes, from Tuesday's opening
        assert due(category, "dispatch") == at(TUE, 8, 35)
        # 1620 working minutes, three working days: Tuesday, Wednesday and Thursday (9 hours each: lunch is not
        # taken out), so until Thursday's closing
        assert due(category, "resolve") == at(date(2026, 12, 10), 17, 30)
        assert due(urgent, "resolve") == at(SAT, 22)  # 24 hours on the clock, weekend and all
        assert due(category, "close") == at(date(2026, 12, 11), 22)  # seven calendar days
        with pytest.raises(ValueError, match="no deadline"):
            deadlines.due_after(session, place.county_id, category, "evaluate", start)  # type: ignore[arg-type]


def test_a_late_step_is_flagged_only_after_the_weekend_and_the_holiday_and_told_to_the_supervisor(
    engine: Engine, place: Place
) -> None:
    mark(engine, place, MON, working=False, name="测试假日")
    with unit_of_work(engine) as session:  # the county closes at 17:00: a report at 17:00 waits for Tuesday
        deadlines.set_hours(session, place.admin, ends="17:00")
    concern_id = report(engine, place, at(FRI, 17))
    assert as_utc(concern_of(engine, concern_id).step_due_at or datetime.min) == at(TUE, 8, 31)

    for moment in (at(FRI, 23), at(SAT, 12), at(MON, 8, 31), at(MON, 17), at(TUE, 8, 30), at(TUE, 8, 31)):
        assert overdue_run(engine, moment) == 0, moment
    assert concern_of(engine, concern_id).overdue_at is None
    assert told(engine, concern_id) == []

    assert overdue_run(engine, at(TUE, 8, 31, 1)) == 1
    flagged = concern_of(engine, concern_id)
    assert flagged.overdue_at is not None and flagged.level == 1 and flagged.status == "submitted"
    assert flagged.version == 1
    assert events(engine, concern_id) == [("escalate", 1, "system", "submitted")]
    assert told(engine, concern_id) == [
        {
            "household_id": None,
            "user_id": place.supervisor,
            "concern_id": concern_id,
            "status": "submitted",
            "level": 1,
            "due_at": at(TUE, 8, 31).isoformat(),
        }
    ]  # no reporter, no text: only what the supervisor needs to find it

    assert overdue_run(engine, at(TUE, 12)) == 0  # flagged once per step
    assert len(told(engine, concern_id)) == 1


def test_a_late_step_with_a_handler_is_told_to_the_handlers_supervisor(engine: Engine, place: Place) -> None:
    with_boss = report(engine, place, at(TUE, 9), status="dispatched", urgent=True, handler_id=place.handler_id)
    with unit_of_work(engine) as session:
        lone = ConcernHandler(county_id=place.county_id, kind="grid", name="Grid 3")
        session.add(lone)
        session.flush()
        lone_id = id_of(lone)
    without = report(engine, place, at(TUE, 9), status="dispatched", urgent=True, handler_id=lone_id)

    assert overdue_run(engine, at(date(2026, 12, 9), 8, 59)) == 0  # 24 hours on the clock
    assert overdue_run(engine, at(date(2026, 12, 9), 9, 1)) == 2
    assert [t["user_id"] for t in told(engine, with_boss)] == [place.handler_supervisor]
    assert [t["user_id"] for t in told(engine, without)] == [place.supervisor]  # no supervisor of its own


def test_each_late_step_raises_a_level_up_to_the_county(engine: Engine, place: Place) -> None:
    concern_id = report(engine, place, at(TUE, 9), status="accepted")
    assert overdue_run(engine, at(TUE, 9, 6)) == 1
    # the next step (the lifecycle's move clears the flag and sets the new deadline), late again
    with unit_of_work(engine) as session:
        concern = session.get(Concern, concern_id)
        assert concern is not None
        concern.status, concern.overdue_at, concern.step_due_at = "returned", None, at(TUE, 10)
    assert overdue_run(engine, at(TUE, 10, 1)) == 1
    with unit_of_work(engine) as session:
        concern = session.get(Concern, concern_id)
        assert concern is not None
        concern.status, concern.overdue_at, concern.step_due_at = "reopened", None, at(TUE, 11)
    assert overdue_run(engine, at(TUE, 11, 1)) == 1
    assert concern_of(engine, concern_id).level == 2  # never above the county
    assert events(engine, concern_id) == [
        ("escalate", 1, "system", "accepted"),
        ("escalate", 2, "system", "returned"),
        ("overdue", 2, "system", "reopened"),
    ]
    # the township's supervisor each time; the county admin once, when it reached the county
    admin = place.admin.user_id
    assert [(n["level"], n["user_id"]) for n in told(engine, concern_id)] == [
        (1, place.supervisor),
        (2, place.supervisor),
        (2, admin),
        (2, place.supervisor),
    ]


def test_concerns_waiting_for_nobody_on_staff_are_never_overdue(engine: Engine, place: Place) -> None:
    resolved = report(engine, place, at(TUE, 9), status="resolved", resolved_at=at(TUE, 9), judgement="real")
    closed = report(engine, place, at(TUE, 9), status="closed", closed_by="evaluation")
    assert concern_of(engine, resolved).step_due_at is not None  # the evaluation's, for the auto-close
    assert concern_of(engine, closed).step_due_at is None
    assert overdue_run(engine, at(date(2027, 1, 31), 9)) == 0


def _tick_overdue(engine: Engine, moment: datetime) -> str:
    return str(overdue_run(engine, moment))


def test_two_workers_at_once_flag_a_late_concern_once_and_tell_its_supervisor_once(
    engine: Engine, database_url: str, place: Place
) -> None:
    concern_id = report(engine, place, at(FRI, 22))
    late = at(TUE, 9)
    assert sorted(run_together(database_url, _tick_overdue, [late, late])) == ["0", "1"]
    assert concern_of(engine, concern_id).level == 1
    assert len(told(engine, concern_id)) == 1
    assert [e[0] for e in events(engine, concern_id)] == ["escalate"]


def test_the_schedule_runs_both_steps(engine: Engine, place: Place) -> None:
    late = report(engine, place, at(TUE, 9))
    resolved = report(engine, place, at(TUE, 9), status="resolved", resolved_at=at(TUE, 10), judgement="real")
    report_ = jobs.tick(engine, now=at(date(2026, 12, 16), 9))
    assert (report_.overdue_concerns, report_.auto_closed_concerns) == (1, 1)
    assert concern_of(engine, late).overdue_at is not None
    assert concern_of(engine, resolved).status == "closed"


# ---- closing what nobody evaluated -------------------------------------------------------------------------------


def close_run(engine: Engine, now: datetime) -> int:
    with unit_of_work(engine) as session:
        return deadlines.close_resolved(session, now)


def test_a_resolved_concern_nobody_evaluates_closes_after_the_countys_days(engine: Engine, place: Place) -> None:
    resolved_at = at(TUE, 15)
    concern_id = report(
        engine,
        place,
        at(TUE, 9),
        status="resolved",
        resolved_at=resolved_at,
        judgement="real",
        reporter_household_id=place.household_id,
    )
    assert as_utc(concern_of(engine, concern_id).step_due_at or datetime.min) == resolved_at + timedelta(days=7)
    assert close_run(engine, resolved_at + timedelta(days=7, seconds=-1)) == 0
    assert concern_of(engine, concern_id).status == "resolved"

    assert close_run(engine, resolved_at + timedelta(days=7)) == 1
    closed = concern_of(engine, concern_id)
    assert (closed.status, closed.closed_by, closed.step_due_at, closed.version) == ("closed", "auto", None, 1)
    assert closed.closed_at is not None and closed.satisfied is None
    assert events(engine, concern_id) == [("auto_close", 0, "system", "closed")]
    assert told_household(engine, place.household_id) == [{"concern_id": concern_id, "status": "closed"}]
    assert close_run(engine, resolved_at + timedelta(days=30)) == 0
    assert len(told_household(engine, place.household_id)) == 1


def test_the_county_sets_how_long_a_resolved_concern_waits(engine: Engine, place: Place) -> None:
    with unit_of_work(engine) as session:
        deadlines.set_hours(session, place.admin, close_days=3)
    concern_id = report(engine, place, at(TUE, 9), status="resolved", resolved_at=at(TUE, 10), judgement="real")
    assert as_utc(concern_of(engine, concern_id).step_due_at or datetime.min) == at(date(2026, 12, 11), 10)
    assert close_run(engine, at(date(2026, 12, 11), 9)) == 0
    assert close_run(engine, at(date(2026, 12, 11), 10)) == 1


def _tick_close(engine: Engine, moment: datetime) -> str:
    return str(close_run(engine, moment))


def test_two_workers_at_once_close_a_concern_once(engine: Engine, database_url: str, place: Place) -> None:
    concern_id = report(engine, place, at(TUE, 9), status="resolved", resolved_at=at(TUE, 10), judgement="real")
    later = at(date(2026, 12, 20), 9)
    assert sorted(run_together(database_url, _tick_close, [later, later])) == ["0", "1"]
    assert events(engine, concern_id) == [("auto_close", 0, "system", "closed")]


# ---- the county admin edits the calendar -------------------------------------------------------------------------


def _changes(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AdminChange)) or 0)


def _county(engine: Engine, place: Place) -> tuple[str, str, int]:
    with Session(engine) as session:
        county = session.get(County, place.county_id)
        assert county is not None
        return county.work_starts, county.work_ends, county.concern_close_days


def _days(engine: Engine) -> list[tuple[date, bool, str]]:
    with Session(engine) as session:
        return [(d.day, d.working, d.name) for d in session.scalars(select(CalendarDay).order_by(col(CalendarDay.day)))]


def _code(engine: Engine, edit: Any) -> str:
    try:
        with unit_of_work(engine) as session:
            edit(session)
    except DomainError as error:
        return error.code
    return "done"


def test_the_county_admin_marks_holidays_and_make_up_days_and_the_deadlines_follow(
    engine: Engine, place: Place
) -> None:
    golden = date(2026, 10, 1)
    mark(engine, place, golden, working=False, name="国庆节")
    mark(engine, place, date(2026, 10, 10), working=True, name="国庆调休")
    with Session(engine) as session:
        cal = deadlines.calendar_of(session, place.county_id)
        assert cal.holidays == frozenset({golden}) and cal.workdays == frozenset({date(2026, 10, 10)})
        assert deadlines.days_of(session, place.county_id, 2026)[0].name == "国庆节"
        assert deadlines.days_of(session, place.county_id, 2027) == []
    mark(engine, place, golden, working=False, name="国庆节（一）")  # set again: replaced
    assert _days(engine)[0] == (golden, False, "国庆节（一）")
    with unit_of_work(engine) as session:
        deadlines.remove_day(session, place.admin, golden)
    assert [d[0] for d in _days(engine)] == [date(2026, 10, 10)]
    assert _code(engine, lambda s: deadlines.remove_day(s, place.admin, golden)) == "not_found"
    with Session(engine) as session:
        actions = session.scalars(select(col(AdminChange.action)).order_by(col(AdminChange.id))).all()
    assert actions == ["calendar.day", "calendar.day", "calendar.day", "calendar.day_removed"]


@pytest.mark.parametrize("who", ["official", "auditor"])
def test_only_the_county_admin_edits_the_calendar_and_a_refusal_changes_nothing(
    engine: Engine, place: Place, who: str
) -> None:
    staff: Principal = getattr(place, who)
    mark(engine, place, MON, working=False, name="测试假日")
    before = (_county(engine, place), _days(engine), _changes(engine))
    attempts = [
        lambda s: deadlines.set_day(s, staff, TUE, working=False, name="x"),
        lambda s: deadlines.remove_day(s, staff, MON),
        lambda s: deadlines.set_hours(s, staff, starts="09:00", ends="18:00", close_days=3),
        lambda s: deadlines.set_category_deadlines(
            s,
            staff,
            place.category_id,
            accept_minutes=60,
            dispatch_minutes=60,
            resolve_minutes=60,
            resolve_working=True,
        ),
    ]
    assert [_code(engine, attempt) for attempt in attempts] == ["forbidden"] * 4
    assert (_county(engine, place), _days(engine), _changes(engine)) == before


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        ({"starts": "8:30"}, "calendar_hours_invalid"),
        ({"starts": "24:00"}, "calendar_hours_invalid"),
        ({"ends": "08:00"}, "calendar_hours_invalid"),  # before the opening
        ({"starts": "18:00", "ends": "17:59"}, "calendar_hours_invalid"),
        ({"close_days": 0}, "calendar_hours_invalid"),
        ({"close_days": 61}, "calendar_hours_invalid"),
        ({"starts": "09:00", "close_days": True}, "calendar_hours_invalid"),
    ],
)
def test_wrong_hours_are_refused_whole(engine: Engine, place: Place, edit: dict[str, Any], code: str) -> None:
    before = (_county(engine, place), _changes(engine))
    assert _code(engine, lambda s: deadlines.set_hours(s, place.admin, **edit)) == code
    assert (_county(engine, place), _changes(engine)) == before


def test_the_admin_sets_hours_in_the_change_log(engine: Engine, place: Place) -> None:
    with unit_of_work(engine) as session:
        deadlines.set_hours(session, place.admin, starts="09:00", ends="18:00")
    assert _county(engine, place) == ("09:00", "18:00", 7)
    with Session(engine) as session:
        change = session.scalars(select(AdminChange)).one()
        assert change.action == "calendar.hours"
        assert change.before == '{"work_ends": "17:30", "work_starts": "08:30"}'


@pytest.mark.parametrize(
    ("day", "working", "name"),
    [
        (TUE, True, "调休"),  # a weekday works already: no make-up day
        (date(2019, 12, 31), False, "太早"),
        (date(2101, 1, 3), False, "太晚"),
        (MON, False, "节" * 41),
    ],
)
def test_wrong_days_are_refused(engine: Engine, place: Place, day: date, working: bool, name: str) -> None:
    edit = lambda s: deadlines.set_day(s, place.admin, day, working=working, name=name)  # noqa: E731
    assert _code(engine, edit) == "calendar_day_invalid"
    assert _days(engine) == [] and _changes(engine) == 0


def test_a_holiday_on_a_weekend_is_kept_and_changes_no_deadline(engine: Engine, place: Place) -> None:
    mark(engine, place, SAT, working=False, name="周末的节日")
    with Session(engine) as session:
        category = session.get(ConcernCategory, place.category_id)
        assert category is not None
        assert deadlines.due_after(session, place.county_id, category, "accept", at(FRI, 22)) == at(MON, 8, 31)


def test_the_admin_sets_a_categorys_deadlines_within_bounds(engine: Engine, place: Place) -> None:
    def edit(category_id: int, **minutes: Any) -> str:
        values: dict[str, Any] = {
            "accept_minutes": 10,
            "dispatch_minutes": 30,
            "resolve_minutes": 2880,
            "resolve_working": False,
        }
        values.update(minutes)
        return _code(engine, lambda s: deadlines.set_category_deadlines(s, place.admin, category_id, **values))

    assert edit(place.category_id, accept_minutes=0) == "category_deadlines_invalid"
    assert edit(place.category_id, dispatch_minutes=3 * 9 * 60 + 1) == "category_deadlines_invalid"
    assert edit(place.category_id, resolve_minutes=60 * 24 * 60 + 1) == "category_deadlines_invalid"
    assert edit(place.category_id, resolve_working="yes") == "category_deadlines_invalid"
    assert edit(place.category_id, accept_minutes=2.5) == "category_deadlines_invalid"
    assert _changes(engine) == 0
    with unit_of_work(engine) as session:
        other = ConcernCategory(
            county_id=factories.create_village(session).county_id, code="other", name_zh="其他", name_en="Other"
        )
        session.add(other)
        session.flush()
        other_id = id_of(other)
    assert edit(other_id) == "category_not_found"  # another county's looks missing
    assert edit(999_999) == "category_not_found"

    assert edit(place.category_id) == "done"
    with Session(engine) as session:
        category = session.get(ConcernCategory, place.category_id)
        assert category is not None
        assert (category.accept_minutes, category.dispatch_minutes, category.resolve_minutes) == (10, 30, 2880)
        assert category.resolve_working is False
        change = session.scalars(select(AdminChange)).one()
        assert (change.action, change.target_id) == ("concern_category.deadlines", "environment")


def test_a_holiday_of_several_days_is_marked_at_once_and_the_clocks_stop_through_it(
    engine: Engine, place: Place
) -> None:
    """National Day 2027 as the arrangement gives it: 1 to 7 October off (a Friday to a Thursday, the weekend
    between kept as named days), and Saturday 9 October worked."""
    with unit_of_work(engine) as session:
        rows = deadlines.set_period(
            session, place.admin, date(2027, 10, 1), date(2027, 10, 7), working=False, name="国庆节"
        )
        marked = [row.day for row in rows]
        deadlines.set_period(session, place.admin, date(2027, 10, 9), date(2027, 10, 9), working=True, name="调休")
    assert marked == [date(2027, 10, d) for d in range(1, 8)]
    assert _days(engine) == [(date(2027, 10, d), False, "国庆节") for d in range(1, 8)] + [
        (date(2027, 10, 9), True, "调休")
    ]
    with Session(engine) as session:
        category = session.get_one(ConcernCategory, place.category_id)
        # reported on the evening before the holiday: accepting it is due on Friday the 8th, a minute after opening
        due = deadlines.due_after(session, place.county_id, category, "accept", at(date(2027, 9, 30), 20))
        # and three working days to resolve, from that Friday's opening: Friday, the make-up Saturday and Monday
        resolve = deadlines.due_after(session, place.county_id, category, "resolve", at(date(2027, 10, 8), 8, 30))
        actions = session.scalars(select(col(AdminChange.action))).all()
    assert due == at(date(2027, 10, 8), 8, 31)
    assert resolve == at(date(2027, 10, 11), 17, 30)
    assert actions == ["calendar.day"] * 8  # each day its own line in the change log


@pytest.mark.parametrize(
    ("first", "last", "working"),
    [
        (date(2027, 10, 7), date(2027, 10, 1), False),  # the last day before the first
        (date(2027, 1, 1), date(2027, 2, 1), False),  # 32 days
        (date(2027, 10, 9), date(2027, 10, 11), True),  # a make-up working day on Monday the 11th: none is marked
        (date(2019, 12, 30), date(2020, 1, 2), False),  # it starts in a year out of range
    ],
)
def test_a_wrong_period_marks_nothing(engine: Engine, place: Place, first: date, last: date, working: bool) -> None:
    edit = lambda s: deadlines.set_period(s, place.admin, first, last, working=working)  # noqa: E731
    assert _code(engine, edit) == "calendar_day_invalid"
    assert _days(engine) == [] and _changes(engine) == 0


def test_only_the_county_admin_marks_a_period(engine: Engine, place: Place) -> None:
    edit = lambda s: deadlines.set_period(s, place.official, date(2027, 10, 7), date(2027, 10, 1), working=False)  # noqa: E731
    assert _code(engine, edit) == "forbidden"  # refused as the caller, before the period is read
    assert _days(engine) == [] and _changes(engine) == 0

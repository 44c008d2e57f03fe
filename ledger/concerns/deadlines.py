"""The deadlines of a concern's steps, counted on its county's calendar, and the two scheduled steps that act on them.

Each step a concern waits for has a deadline, set when the step opens (`due_after`, called by the lifecycle's
`move`): accepting and dispatching count the category's working minutes (ledger/concerns/worktime.py), resolving
counts its minutes on the working clock or, for an urgent category, on the plain clock; a resolved concern waits
for its reporter's evaluation for the county's `concern_close_days` calendar days.

`escalate_overdue` (the scheduled step `concerns_overdue`) finds every open concern whose step is past its
deadline and not yet flagged: it flags it (`overdue_at`), raises its level by one (0 village, 1 township
supervisor, 2 county; never above 2), writes the step on its timeline and tells the handler's supervisor when the
concern is with a handler, else the township's supervisors (notification `concern_overdue`). The flag is a
conditional update (`overdue_at IS NULL`, the same step), so however many workers run the step at once, a
concern goes up one level and its supervisors are told once. The next move opens a new step and clears the flag.

`close_resolved` (the scheduled step `concerns_auto_close`) closes the resolved concerns nobody evaluated within
the county's days, through the lifecycle's `auto_close` (the reporter and the followers are told, once).

The county admin edits the calendar: working hours, holidays and make-up working days (`set_hours`, `set_day`,
`remove_day`), and each category's deadlines (`set_category_deadlines`); every change is in the change log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlmodel import Session, col

from ledger.claims.escalation import supervisors
from ledger.concerns import worktime
from ledger.concerns.models import (
    OPEN_STATUSES,
    CalendarDay,
    Concern,
    ConcernCategory,
    ConcernEvent,
    ConcernHandler,
    ConcernStatus,
)
from ledger.core import audit, failures, outbox
from ledger.core.base import as_utc, row_id, utcnow
from ledger.core.errors import Forbidden, Invalid, NotFound
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal
from ledger.tenancy import County

STEP_OVERDUE = "concerns_overdue"  # the scheduled steps' names (ledger/jobs.py)
STEP_AUTO_CLOSE = "concerns_auto_close"
TOLD_OVERDUE = "concern_overdue"  # the notification's kind (ledger/sms/texts.py)
SYSTEM = "system"  # the actor and role of what the schedule does
TOP_LEVEL = 2  # 0 the village, 1 the township supervisor, 2 the county

Step = Literal["accept", "dispatch", "resolve", "close"]
# The step a concern waits for in each state (none once closed or merged).
STEP_OF: Mapping[str, Step] = {
    ConcernStatus.SUBMITTED: "accept",
    ConcernStatus.ACCEPTED: "dispatch",
    ConcernStatus.RETURNED: "dispatch",
    ConcernStatus.REOPENED: "dispatch",
    ConcernStatus.DISPATCHED: "resolve",
    ConcernStatus.RESOLVED: "close",
}

# Bounds of what the county admin sets (whole numbers, both ends included).
CLOSE_DAYS = (1, 60)  # a resolved concern waits this many calendar days for its evaluation
ACCEPT_MINUTES = (1, 3 * 9 * 60)  # working minutes: at most three working days of the default hours
DISPATCH_MINUTES = (1, 3 * 9 * 60)
RESOLVE_MINUTES = (1, 60 * 24 * 60)  # at most sixty days, whichever clock
MINUTE_BOUNDS = {
    "accept_minutes": ACCEPT_MINUTES,
    "dispatch_minutes": DISPATCH_MINUTES,
    "resolve_minutes": RESOLVE_MINUTES,
}
FIRST_YEAR, LAST_YEAR = 2020, 2100  # a calendar day outside these years is a typing mistake
PERIOD_DAYS = 31  # the longest period marked at once (the longest holiday of the year is eight or nine days)
_HOUR = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class CalendarHoursInvalid(Invalid):
    code = "calendar_hours_invalid"


class CalendarDayInvalid(Invalid):
    code = "calendar_day_invalid"


class CategoryDeadlinesInvalid(Invalid):
    code = "category_deadlines_invalid"


class CategoryNotFound(NotFound):
    code = "category_not_found"


# ---- the calendar and the deadlines -------------------------------------------------------------------------


def _clock(value: str) -> time:
    """'HH:MM' as a time (the county row keeps its working hours as text)."""
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def calendar_of(session: Session, county_id: int) -> worktime.Calendar:
    """The county's working calendar: its zone and hours, its holidays and its make-up working days."""
    zone, starts, ends = session.execute(
        select(col(County.timezone), col(County.work_starts), col(County.work_ends)).where(col(County.id) == county_id)
    ).one()
    holidays: set[date] = set()
    workdays: set[date] = set()
    for day, working in session.execute(
        select(col(CalendarDay.day), col(CalendarDay.working)).where(col(CalendarDay.county_id) == county_id)
    ).all():
        (workdays if working else holidays).add(day)
    return worktime.Calendar(zone, _clock(starts), _clock(ends), frozenset(holidays), frozenset(workdays))


def day_minutes(session: Session, county_id: int) -> int:
    """How many working minutes make one of the county's working days (its opening to its closing), to say a
    deadline in days: the default 08:30–17:30 is 540, so the default 1620 minutes to resolve are 3 working days."""
    starts, ends = session.execute(
        select(col(County.work_starts), col(County.work_ends)).where(col(County.id) == county_id)
    ).one()
    opening, closing = _clock(starts), _clock(ends)
    return (closing.hour * 60 + closing.minute) - (opening.hour * 60 + opening.minute)


def due_after(
    session: Session, county_id: int, category: ConcernCategory, step: Step, start: datetime
) -> datetime | None:
    """When `step` of a concern of `category`, opened at `start`, is due (UTC): 'accept' and 'dispatch' in the
    category's working minutes, 'resolve' in its minutes on the working clock (or the plain clock when
    `resolve_working` is off: urgent categories), 'close' the county's `concern_close_days` calendar days later."""
    if step == "close":
        days = session.scalars(select(col(County.concern_close_days)).where(col(County.id) == county_id)).one()
        return as_utc(start) + timedelta(days=int(days))
    if step == "accept":
        minutes, working = category.accept_minutes, True
    elif step == "dispatch":
        minutes, working = category.dispatch_minutes, True
    elif step == "resolve":
        minutes, working = category.resolve_minutes, category.resolve_working
    else:
        raise ValueError(f"no deadline for the step {step!r}")
    if not working:
        return as_utc(start) + timedelta(minutes=minutes)
    return worktime.add(calendar_of(session, county_id), start, minutes, working=True)


def due_for(session: Session, concern: Concern, category: ConcernCategory, start: datetime) -> datetime | None:
    """The deadline of the step a concern waits for in its present state, opened at `start` (None when it waits
    for none: closed or merged)."""
    step = STEP_OF.get(concern.status)
    if step is None:
        return None
    return due_after(session, concern.county_id, category, step, start)


# ---- the scheduled steps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Late:
    """A concern found late, as the run read it (the flag's conditional update checks it still is)."""

    concern_id: int
    county_id: int
    township_id: int
    status: str
    level: int  # before this run
    handler_id: int | None
    due_at: datetime | None

    @property
    def new_level(self) -> int:
        return min(self.level + 1, TOP_LEVEL)


def escalate_overdue(session: Session, now: datetime | None = None, *, limit: int = 500) -> int:
    """Flag, raise and tell of the open concerns whose current step is past its deadline and not flagged yet (the
    handler's supervisor or the township's supervisors, and the county's admins when it reaches the county's
    level); returns how many this run flagged. Each concern in a savepoint of its own: one that fails is skipped and
    recorded (ledger/core/failures.py), and the others go on."""
    now = now or utcnow()
    stamp = min(now, utcnow())  # a run for a past moment says so; never a future one
    rows = session.execute(
        select(
            col(Concern.id),
            col(Concern.county_id),
            col(Concern.township_id),
            col(Concern.status),
            col(Concern.level),
            col(Concern.handler_id),
            col(Concern.step_due_at),
        )
        .where(
            col(Concern.status).in_([status.value for status in OPEN_STATUSES]),
            col(Concern.overdue_at).is_(None),
            col(Concern.step_due_at) < now,
        )
        .order_by(col(Concern.step_due_at), col(Concern.id))
        .limit(limit)
    ).all()
    told: dict[tuple[int, str, int | None], list[int]] = {}  # recipients, read once per run
    admins: dict[int, list[int]] = {}  # the county admins, by county, read once per run
    flagged = 0
    for concern_id, county_id, township_id, status, level, handler_id, due_at in rows:
        late = _Late(
            concern_id, county_id, township_id, status, level, handler_id, None if due_at is None else as_utc(due_at)
        )
        with failures.item(session, step=STEP_OVERDUE, kind="concern", record_id=concern_id, county_id=county_id):
            if _flag(session, late, now, stamp):
                key = (township_id, status, handler_id)
                if key not in told:
                    told[key] = told_of_overdue(session, township_id, status, handler_id)
                recipients = told[key]
                if late.new_level == TOP_LEVEL > late.level:  # it reaches the county now: its admins are told too
                    if county_id not in admins:
                        admins[county_id] = county_admins(session, county_id)
                    recipients = recipients + [a for a in admins[county_id] if a not in recipients]
                _tell_overdue(session, late, recipients)
                flagged += 1
    session.flush()
    return flagged


def _flag(session: Session, late: _Late, now: datetime, stamp: datetime) -> bool:
    """Flag one concern and write its timeline step; False when another worker (or a move) got there first."""
    marked = session.execute(
        update(Concern)
        .where(
            col(Concern.id) == late.concern_id,
            col(Concern.status) == late.status,  # still the same step …
            col(Concern.level) == late.level,  # … at the level read
            col(Concern.overdue_at).is_(None),
            col(Concern.step_due_at) < now,
        )
        .values(overdue_at=stamp, level=late.new_level, version=col(Concern.version) + 1)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", marked).rowcount != 1:  # an UPDATE answers with a cursor result
        return False
    session.add(
        ConcernEvent(
            concern_id=late.concern_id,
            at=stamp,
            action="escalate" if late.new_level > late.level else "overdue",
            from_status=late.status,
            to_status=late.status,
            actor=SYSTEM,
            actor_role=SYSTEM,
            handler_id=late.handler_id,
            level=late.new_level,
            due_at=late.due_at,
        )
    )
    return True


def told_of_overdue(session: Session, township_id: int, status: str, handler_id: int | None) -> list[int]:
    """Who is told that a concern is late: the handler's supervisor while it is with a handler (when the handler
    has one and the account is active), else the township's supervisors."""
    if status == ConcernStatus.DISPATCHED and handler_id is not None:
        handler = session.get(ConcernHandler, handler_id)
        if handler is not None and handler.supervisor_user_id is not None:
            user = session.get(User, handler.supervisor_user_id)
            if user is not None and user.active:
                return [row_id(user.id)]
    return supervisors(session, township_id)


def county_admins(session: Session, county_id: int) -> list[int]:
    """The county's active admins: told when a late concern reaches the county's level."""
    return [
        row_id(user_id)
        for user_id in session.scalars(
            select(col(User.id))
            .where(col(User.county_id) == county_id, col(User.role) == Role.COUNTY_ADMIN, col(User.active))
            .order_by(col(User.id))
        ).all()
    ]


def _tell_overdue(session: Session, late: _Late, recipients: list[int]) -> None:
    for user_id in recipients:
        outbox.tell(
            session,
            county_id=late.county_id,
            household_id=None,
            kind=TOLD_OVERDUE,
            user_id=user_id,
            concern_id=late.concern_id,
            status=late.status,
            level=late.new_level,
            due_at=None if late.due_at is None else late.due_at.isoformat(),
        )


def close_resolved(session: Session, now: datetime | None = None, *, limit: int = 500) -> int:
    """Close the resolved concerns nobody evaluated within their county's `concern_close_days` (calendar days from
    the resolution); returns how many this run closed. Once each, however many workers run it."""
    now = now or utcnow()
    stamp = min(now, utcnow())
    closed = 0
    for county_id, days in session.execute(select(col(County.id), col(County.concern_close_days))).all():
        due = session.scalars(
            select(col(Concern.id))
            .where(
                col(Concern.county_id) == county_id,
                col(Concern.status) == ConcernStatus.RESOLVED,
                col(Concern.resolved_at) <= now - timedelta(days=days),
            )
            .order_by(col(Concern.resolved_at), col(Concern.id))
            .limit(max(limit - closed, 0))
        ).all()
        for concern_id in due:
            with failures.item(
                session, step=STEP_AUTO_CLOSE, kind="concern", record_id=concern_id, county_id=county_id
            ):
                if _auto_close(session, row_id(concern_id), stamp):
                    closed += 1
    session.flush()
    return closed


def _auto_close(session: Session, concern_id: int, stamp: datetime) -> bool:
    """Close one resolved concern through the lifecycle (its row locked first, so the reporter and the followers
    are told `concern_closed` once); False when it moved meanwhile (evaluated, or closed by another worker)."""
    from ledger.concerns import lifecycle  # the lifecycle asks this module for deadlines: imported when needed

    concern = session.scalars(
        select(Concern)
        .where(col(Concern.id) == concern_id, col(Concern.status) == ConcernStatus.RESOLVED)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if concern is None:
        return False
    lifecycle.move(session, concern, lifecycle.Transition.AUTO_CLOSE, actor=SYSTEM, actor_role=SYSTEM, now=stamp)
    return True


# ---- the county admin edits the calendar and the categories' deadlines -----------------------------------------


def _admin(who: Principal) -> None:
    if who.role != Role.COUNTY_ADMIN:
        raise Forbidden("Only the county admin edits the county's calendar and deadlines.")


def _whole(name: str, value: object, bounds: tuple[int, int], error: type[Invalid]) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise error(f"{name} is a whole number from {low} to {high}.", field=name, low=low, high=high)
    return value


def set_hours(
    session: Session,
    who: Principal,
    *,
    starts: str | None = None,
    ends: str | None = None,
    close_days: int | None = None,
) -> County:
    """The county admin sets the working hours ('HH:MM', opening before closing, the same day) and the days a
    resolved concern waits for its evaluation; only what is given changes, all or nothing, in the change log.
    Deadlines already set keep their moment; the new hours count from the next step on."""
    _admin(who)
    county = session.get(County, who.county_id, with_for_update=True)
    assert county is not None  # a principal's county exists
    changes: dict[str, Any] = {}
    for name, value in (("work_starts", starts), ("work_ends", ends)):
        if value is None:
            continue
        if not isinstance(value, str) or not _HOUR.match(value):
            raise CalendarHoursInvalid(f"{name} is a time of day as HH:MM (00:00 to 23:59).", field=name)
        changes[name] = value
    if close_days is not None:
        changes["concern_close_days"] = _whole("concern_close_days", close_days, CLOSE_DAYS, CalendarHoursInvalid)
    opening = changes.get("work_starts", county.work_starts)
    closing = changes.get("work_ends", county.work_ends)
    if not _clock(opening) < _clock(closing):
        raise CalendarHoursInvalid("Working hours start before they end, on the same day.", field="work_ends")
    fields = tuple(changes)
    before = audit.fields(county, fields)
    for name, value in changes.items():
        setattr(county, name, value)
    session.flush()
    audit.record(
        session,
        county_id=row_id(county.id),
        actor=who.actor,
        action="calendar.hours",
        target_type="calendar",
        target_id=county.code,
        before=before,
        after=audit.fields(county, fields),
    )
    return county


def set_day(session: Session, who: Principal, day: date, *, working: bool, name: str = "") -> CalendarDay:
    """The county admin marks a day: a holiday (working false: on a weekday it stops the clocks; on a weekend it is
    kept as the name of the day, and changes nothing) or a make-up working day (working true: only a Saturday or a
    Sunday can be one). Setting a day again replaces it. In the change log."""
    _admin(who)
    if not isinstance(day, date) or isinstance(day, datetime) or not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise CalendarDayInvalid(f"A calendar day is a date from {FIRST_YEAR} to {LAST_YEAR}.", field="day")
    if not isinstance(working, bool):
        raise CalendarDayInvalid("working is true (a make-up working day) or false (a holiday).", field="working")
    if working and day.weekday() < 5:
        raise CalendarDayInvalid(
            "A make-up working day is a Saturday or a Sunday: a weekday works already.", field="working"
        )
    name = (name or "").strip()
    if len(name) > 40:
        raise CalendarDayInvalid("A day's name has at most 40 characters.", field="name")
    row = session.get(CalendarDay, (who.county_id, day), with_for_update=True)
    before = None if row is None else {"working": row.working, "name": row.name}
    if row is None:
        row = CalendarDay(county_id=who.county_id, day=day, working=working, name=name)
        session.add(row)
    else:
        row.working, row.name = working, name
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="calendar.day",
        target_type="calendar_day",
        target_id=day.isoformat(),
        before=before,
        after={"working": working, "name": name},
    )
    return row


def set_period(
    session: Session, who: Principal, first: date, last: date, *, working: bool, name: str = ""
) -> list[CalendarDay]:
    """The county admin marks every day from `first` to `last` (both included) at once, as the State Council's
    arrangement gives a holiday: "1 to 8 October off". Each day follows `set_day`'s rules and goes to the change log
    as its own edit; one day refused (a make-up working day on a weekday, say) refuses the period, and the caller's
    transaction writes nothing. A period is at most `PERIOD_DAYS` days."""
    _admin(who)
    if not all(isinstance(d, date) and not isinstance(d, datetime) for d in (first, last)):
        raise CalendarDayInvalid("A period runs from one date to another.", field="last")
    if last < first:
        raise CalendarDayInvalid("The last day of a period is not before its first.", field="last")
    if (last - first).days + 1 > PERIOD_DAYS:
        raise CalendarDayInvalid(f"A period is at most {PERIOD_DAYS} days: mark a longer one in parts.", field="last")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [set_day(session, who, day, working=working, name=name) for day in days]


def remove_day(session: Session, who: Principal, day: date) -> None:
    """The county admin removes a day's mark: it is an ordinary day of the week again (a day with no mark:
    `not_found`). In the change log."""
    _admin(who)
    row = session.get(CalendarDay, (who.county_id, day), with_for_update=True)
    if row is None:
        raise NotFound("This day has no mark on the county's calendar.")
    before = {"working": row.working, "name": row.name}
    session.execute(delete(CalendarDay).where(col(CalendarDay.county_id) == who.county_id, col(CalendarDay.day) == day))
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="calendar.day_removed",
        target_type="calendar_day",
        target_id=day.isoformat(),
        before=before,
    )


def days_of(session: Session, county_id: int, year: int) -> list[CalendarDay]:
    """The marked days of a year, in order."""
    return list(
        session.scalars(
            select(CalendarDay)
            .where(
                col(CalendarDay.county_id) == county_id,
                col(CalendarDay.day) >= date(year, 1, 1),
                col(CalendarDay.day) <= date(year, 12, 31),
            )
            .order_by(col(CalendarDay.day))
        ).all()
    )


DEADLINE_FIELDS = ("accept_minutes", "dispatch_minutes", "resolve_minutes", "resolve_working")


def check_minutes(name: str, value: object) -> int:
    """One of a category's deadlines, in whole minutes within its bounds (MINUTE_BOUNDS): the one rule for the
    set-up of a category and for its deadlines alone."""
    return _whole(name, value, MINUTE_BOUNDS[name], CategoryDeadlinesInvalid)


def set_category_deadlines(
    session: Session,
    who: Principal,
    category_id: int,
    *,
    accept_minutes: int,
    dispatch_minutes: int,
    resolve_minutes: int,
    resolve_working: bool,
) -> ConcernCategory:
    """The county admin sets a category's deadlines (whole minutes within bounds; resolving on the working clock or
    the plain one); a category of another county looks missing. In the change log. Concerns already waiting keep
    the deadline of their current step; the next step counts the new minutes."""
    _admin(who)
    category = session.get(ConcernCategory, category_id, with_for_update=True)
    if category is None or category.county_id != who.county_id:
        raise CategoryNotFound("No such concern category in this county.")
    changes: dict[str, Any] = {
        "accept_minutes": check_minutes("accept_minutes", accept_minutes),
        "dispatch_minutes": check_minutes("dispatch_minutes", dispatch_minutes),
        "resolve_minutes": check_minutes("resolve_minutes", resolve_minutes),
    }
    if not isinstance(resolve_working, bool):
        raise CategoryDeadlinesInvalid("resolve_working is true or false.", field="resolve_working")
    changes["resolve_working"] = resolve_working
    before = audit.fields(category, DEADLINE_FIELDS)
    for name, value in changes.items():
        setattr(category, name, value)
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="concern_category.deadlines",
        target_type="concern_category",
        target_id=category.code,
        before=before,
        after=audit.fields(category, DEADLINE_FIELDS),
    )
    return category

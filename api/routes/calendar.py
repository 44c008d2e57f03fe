"""The county's working calendar (hours, holidays, make-up working days) and each category's step deadlines:
read by the county's staff, edited by the county admin (ledger/concerns/deadlines.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import Session

from api.deps import SessionDep, allow
from api.schemas.calendar import (
    CalendarDayIn,
    CalendarDayOut,
    CalendarHoursIn,
    CalendarOut,
    CalendarPeriodIn,
    CalendarPeriodOut,
    CategoryDeadlinesIn,
    CategoryDeadlinesOut,
)
from ledger.concerns import deadlines
from ledger.core.base import utcnow
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import County

router = APIRouter(tags=["concerns"])
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
Year = Annotated[int | None, Query(ge=deadlines.FIRST_YEAR, le=deadlines.LAST_YEAR, description="Default: this year.")]


def _calendar(session: Session, county_id: int, year: int | None) -> CalendarOut:
    county = session.get(County, county_id)
    assert county is not None  # a principal's county exists
    year = year or utcnow().year
    return CalendarOut(
        timezone=county.timezone,
        work_starts=county.work_starts,
        work_ends=county.work_ends,
        concern_close_days=county.concern_close_days,
        year=year,
        days=[
            CalendarDayOut(day=d.day, working=d.working, name=d.name)
            for d in deadlines.days_of(session, county_id, year)
        ],
    )


@router.get("/api/v1/calendar", response_model=CalendarOut)
def calendar(session: SessionDep, who: Staff, year: Year = None) -> CalendarOut:
    """The county's working hours, how long a resolved concern waits for its evaluation, and the marked days of a
    year (holidays on weekdays stop the deadlines' clocks; make-up days on weekends run them)."""
    return _calendar(session, who.county_id, year)


@router.put(
    "/api/v1/calendar",
    response_model=CalendarOut,
    responses={422: {"description": "calendar_hours_invalid: the opening is not before the closing."}},
)
def set_hours(body: CalendarHoursIn, session: SessionDep, who: Admin, year: Year = None) -> CalendarOut:
    """The county admin sets the working hours and the days a resolved concern waits; only what is sent changes.
    Deadlines already running keep their moment. Written to the change log (GET /api/v1/audit)."""
    deadlines.set_hours(session, who, starts=body.work_starts, ends=body.work_ends, close_days=body.concern_close_days)
    return _calendar(session, who.county_id, year)


@router.put(
    "/api/v1/calendar/days/{day}",
    response_model=CalendarDayOut,
    responses={
        422: {"description": "calendar_day_invalid: a make-up working day on a weekday, or a year out of range."}
    },
)
def set_day(day: date, body: CalendarDayIn, session: SessionDep, who: Admin) -> CalendarDayOut:
    """The county admin marks a day as a holiday (`working: false`) or a make-up working day on a weekend
    (`working: true`), replacing any mark it had. Written to the change log."""
    row = deadlines.set_day(session, who, day, working=body.working, name=body.name)
    return CalendarDayOut(day=row.day, working=row.working, name=row.name)


@router.post(
    "/api/v1/calendar/periods",
    response_model=CalendarPeriodOut,
    responses={
        422: {
            "description": "calendar_day_invalid: the last day before the first, a period of over 31 days, a make-up "
            "working day on a weekday, or a year out of range (nothing is marked)."
        }
    },
)
def set_period(body: CalendarPeriodIn, session: SessionDep, who: Admin) -> CalendarPeriodOut:
    """The county admin marks every day of a period at once, as the year's arrangement is published ("1 to 8
    October off"): each day as `PUT /api/v1/calendar/days/{day}` would, replacing its mark, or none of them when
    one is refused. Each day is written to the change log."""
    rows = deadlines.set_period(session, who, body.first, body.last, working=body.working, name=body.name)
    return CalendarPeriodOut(days=[CalendarDayOut(day=r.day, working=r.working, name=r.name) for r in rows])


@router.delete("/api/v1/calendar/days/{day}", status_code=204, response_class=Response)
def remove_day(day: date, session: SessionDep, who: Admin) -> Response:
    """The county admin removes a day's mark: it follows the week again. 404 when it had none."""
    deadlines.remove_day(session, who, day)
    return Response(status_code=204)


@router.put(
    "/api/v1/concern-categories/{category_id}/deadlines",
    response_model=CategoryDeadlinesOut,
    responses={
        404: {"description": "category_not_found: no such category in the caller's county."},
        422: {"description": "category_deadlines_invalid: a deadline out of its bounds."},
    },
)
def set_category_deadlines(
    category_id: int, body: CategoryDeadlinesIn, session: SessionDep, who: Admin
) -> CategoryDeadlinesOut:
    """The county admin sets a category's deadlines: working minutes to accept and to dispatch, minutes to resolve
    on the working clock or the plain one. Concerns already waiting keep their current deadline; the next step
    counts the new minutes. Written to the change log."""
    category = deadlines.set_category_deadlines(
        session,
        who,
        category_id,
        accept_minutes=body.accept_minutes,
        dispatch_minutes=body.dispatch_minutes,
        resolve_minutes=body.resolve_minutes,
        resolve_working=body.resolve_working,
    )
    return CategoryDeadlinesOut.model_validate(category, from_attributes=True)

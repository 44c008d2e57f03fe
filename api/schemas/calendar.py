"""The county's working calendar and the deadlines of each category of concerns (docs/concerns.md, "Deadlines and
working time")."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Strict

Clock = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class CalendarDayOut(BaseModel):
    day: date
    working: bool = Field(description="true: a make-up working day (调休) on a weekend; false: a holiday.")
    name: str


class CalendarOut(BaseModel):
    timezone: str = Field(description="The county's time zone: working hours and days are its wall clock.")
    work_starts: str = Field(description="Opening, HH:MM, on every working day.")
    work_ends: str = Field(description="Closing, HH:MM (lunch is not taken out).")
    concern_close_days: int = Field(
        description="A resolved concern nobody evaluates closes this many calendar days after its resolution."
    )
    year: int
    days: list[CalendarDayOut] = Field(description="The year's marked days, in order; other days follow the week.")


class CalendarHoursIn(Strict):
    work_starts: Clock | None = None
    work_ends: Clock | None = None
    concern_close_days: int | None = Field(default=None, ge=1, le=60)


class CalendarDayIn(Strict):
    working: bool = Field(description="false: a holiday; true: a make-up working day (a Saturday or a Sunday only).")
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""


class CalendarPeriodIn(Strict):
    first: date = Field(description="The period's first day.")
    last: date = Field(description="Its last day (the same day for one day); a period is at most 31 days.")
    working: bool = Field(
        description="false: every day of it a holiday; true: every day of it a make-up working day (weekends only)."
    )
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""


class CalendarPeriodOut(BaseModel):
    days: list[CalendarDayOut] = Field(description="The days marked, in order.")


class CategoryDeadlinesIn(Strict):
    accept_minutes: int = Field(ge=1, le=1620, description="Working minutes to accept a new report.")
    dispatch_minutes: int = Field(ge=1, le=1620, description="Working minutes to dispatch an accepted one.")
    resolve_minutes: int = Field(ge=1, le=86400, description="Minutes for the handler to resolve it.")
    resolve_working: bool = Field(
        description="true: resolving counts working minutes; false: the plain clock, nights and holidays included "
        "(urgent categories)."
    )


class CategoryDeadlinesOut(BaseModel):
    id: int
    code: str
    accept_minutes: int
    dispatch_minutes: int
    resolve_minutes: int
    resolve_working: bool

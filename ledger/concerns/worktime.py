"""Working time on a county's calendar (pure: no database, no clock).

A day works when it is a weekday (Monday to Friday) that is not a public holiday of the county, or when the
county made it a make-up working day (调休: a weekend day worked in exchange for a holiday). On a working day the
working hours run from `starts` to `ends` in the county's time zone, lunch included. Everything else (nights,
weekends, holidays) does not count.

`add` finds the moment a number of working minutes after a start: counting begins at the start if it falls in
working hours, else at the next opening (a report at 22:00 on a Friday before a Monday holiday, with one minute to
accept it, is due at 08:31 on Tuesday). A deadline that uses up a day exactly lands at that day's closing, not at
the next opening. `working_minutes_between` is its inverse: the whole working minutes between two moments.

Moments given are UTC (a moment without a zone is taken as UTC, as SQLite hands them back); moments returned are
timezone-aware UTC. Working hours are wall-clock hours of the county's zone, so a zone with summer time keeps its
opening hour across the change (and a day around the change is as long as its clock says).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MINUTE = timedelta(minutes=1)
_SEARCH_DAYS = 3660  # no county calendar goes ten years without a working day: a search gives up there


@dataclass(frozen=True)
class Calendar:
    """A county's working calendar: its time zone (an IANA name), its daily working hours, and its exceptions."""

    tz: str
    starts: time
    ends: time
    holidays: frozenset[date] = frozenset()  # weekdays that do not work (public holidays)
    workdays: frozenset[date] = frozenset()  # weekend days that do work (make-up days)
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.starts.tzinfo is not None or self.ends.tzinfo is not None:
            raise ValueError("working hours are wall-clock times without a zone")
        if not self.starts < self.ends:
            raise ValueError("working hours must start before they end, on the same day")
        object.__setattr__(self, "zone", ZoneInfo(self.tz))


def is_working_day(cal: Calendar, day: date) -> bool:
    """A weekday that is no holiday, or a make-up working day."""
    if day in cal.workdays:
        return True
    return day.weekday() < 5 and day not in cal.holidays


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _hours(cal: Calendar, day: date) -> tuple[datetime, datetime]:
    """The working hours of a day, as UTC moments (whether or not the day works)."""
    opens = datetime.combine(day, cal.starts, tzinfo=cal.zone).astimezone(UTC)
    closes = datetime.combine(day, cal.ends, tzinfo=cal.zone).astimezone(UTC)
    return opens, closes


def _working_hours_from(cal: Calendar, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The working hours of each working day, in order, from the day (county time) of `moment` on."""
    day = moment.astimezone(cal.zone).date()
    idle = 0  # days in a row without work
    while idle < _SEARCH_DAYS:
        if is_working_day(cal, day):
            idle = 0
            yield _hours(cal, day)
        else:
            idle += 1
        day += timedelta(days=1)
    raise ValueError("the calendar has no working day within ten years")


def add(cal: Calendar, start: datetime, minutes: int, *, working: bool) -> datetime:
    """The moment `minutes` after `start`: working minutes on the calendar, or plain elapsed minutes when
    `working` is False. Zero minutes is the start itself."""
    if minutes < 0:
        raise ValueError("minutes cannot be negative")
    start = _utc(start)
    if not working or minutes == 0:
        return start + minutes * MINUTE
    left = minutes * MINUTE
    for opens, closes in _working_hours_from(cal, start):
        begin = max(start, opens)
        if begin >= closes:
            continue  # started after this day's closing
        available = closes - begin
        if left <= available:
            return begin + left  # exactly at closing when the day's last minute is the deadline's
        left -= available
    raise AssertionError("unreachable: _working_hours_from raises first")  # pragma: no cover


def working_minutes_between(cal: Calendar, a: datetime, b: datetime) -> int:
    """The whole working minutes from `a` to `b` (0 when `b` is not after `a`)."""
    a, b = _utc(a), _utc(b)
    if b <= a:
        return 0
    total = timedelta(0)
    day = a.astimezone(cal.zone).date()
    last = b.astimezone(cal.zone).date()
    while day <= last:
        if is_working_day(cal, day):
            opens, closes = _hours(cal, day)
            overlap = min(b, closes) - max(a, opens)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total // MINUTE

"""Working time on a county calendar: when a step is due, and how many working minutes lie between two moments."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.concerns.worktime import Calendar, add, is_working_day, working_minutes_between

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: date, hour: int, minute: int = 0, zone: ZoneInfo = SHANGHAI) -> datetime:
    """A wall-clock moment of the county, as the UTC moment the functions take and give."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


def calendar(
    holidays: set[date] | None = None, workdays: set[date] | None = None, tz: str = "Asia/Shanghai"
) -> Calendar:
    return Calendar(tz, time(8, 30), time(17, 30), frozenset(holidays or ()), frozenset(workdays or ()))


FRI = date(2026, 12, 4)  # a Friday
MON = date(2026, 12, 7)
TUE = date(2026, 12, 8)


def test_days_work_on_weekdays_unless_a_holiday_and_on_make_up_weekends() -> None:
    cal = calendar(holidays={MON}, workdays={date(2026, 12, 5)})
    assert is_working_day(cal, FRI)
    assert not is_working_day(cal, MON)  # a public holiday on a Monday
    assert is_working_day(cal, date(2026, 12, 5))  # a make-up Saturday
    assert not is_working_day(cal, date(2026, 12, 6))  # an ordinary Sunday
    assert is_working_day(cal, TUE)


def test_a_report_late_on_friday_before_a_monday_holiday_is_due_on_tuesday_morning() -> None:
    cal = calendar(holidays={MON})
    due = add(cal, local(FRI, 22), 1, working=True)
    assert due == local(TUE, 8, 31)
    assert due.tzinfo == UTC
    # at closing time on Friday there is nothing left of the day either
    assert add(cal, local(FRI, 17, 30), 1, working=True) == local(TUE, 8, 31)
    # half an hour before closing, one minute is still Friday's
    assert add(cal, local(FRI, 17), 1, working=True) == local(FRI, 17, 1)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (local(TUE, 6), local(TUE, 8, 35)),  # before opening: counting starts at opening
        (local(TUE, 12), local(TUE, 12, 5)),  # in working hours (lunch counts)
        (local(TUE, 17, 28), local(date(2026, 12, 9), 8, 33)),  # two minutes today, three tomorrow
        (local(TUE, 18), local(date(2026, 12, 9), 8, 35)),  # after closing
        (local(date(2026, 12, 5), 10), local(MON, 8, 35)),  # on a Saturday
    ],
)
def test_counting_begins_at_the_next_opening(start: datetime, due: datetime) -> None:
    assert add(calendar(), start, 5, working=True) == due


def test_a_deadline_that_uses_up_a_day_lands_at_its_closing_not_the_next_opening() -> None:
    cal = calendar()
    assert add(cal, local(TUE, 8, 30), 9 * 60, working=True) == local(TUE, 17, 30)
    assert add(cal, local(TUE, 17), 30, working=True) == local(TUE, 17, 30)
    assert add(cal, local(TUE, 17), 31, working=True) == local(date(2026, 12, 9), 8, 31)


def test_three_working_days_across_golden_week_with_a_make_up_saturday() -> None:
    # A made-up test calendar shaped like a Golden Week: 1–7 October off (Thu–Wed here), Saturday 10 worked.
    week = {date(2026, 10, d) for d in range(1, 8)}
    cal = calendar(holidays=week, workdays={date(2026, 10, 10)})
    start = local(date(2026, 9, 30), 16)  # Wednesday, an hour and a half before closing
    # 90 minutes on 30 Sep, 540 on Thu 8 and 540 on Fri 9 make 1170; the last 270 on the make-up Saturday
    due = add(cal, start, 1440, working=True)
    assert due == local(date(2026, 10, 10), 13, 0)
    assert working_minutes_between(cal, start, due) == 1440
    # without the make-up day the same deadline waits for Monday
    assert add(calendar(holidays=week), start, 1440, working=True) == local(date(2026, 10, 12), 13, 0)


def test_elapsed_time_ignores_the_calendar() -> None:
    cal = calendar(holidays={MON})
    assert add(cal, local(FRI, 22), 1440, working=False) == local(date(2026, 12, 5), 22)
    assert add(cal, local(FRI, 22), 0, working=True) == local(FRI, 22)


def test_a_moment_without_a_zone_is_utc() -> None:
    naive = datetime(2026, 12, 8, 1, 0)  # 09:00 in Shanghai
    assert add(calendar(), naive, 10, working=True) == local(TUE, 9, 10)


def test_working_minutes_between() -> None:
    cal = calendar(holidays={MON})
    assert working_minutes_between(cal, local(FRI, 17), local(TUE, 9)) == 30 + 30
    assert working_minutes_between(cal, local(TUE, 9), local(FRI, 17)) == 0
    assert working_minutes_between(cal, local(date(2026, 12, 5), 9), local(date(2026, 12, 6), 17)) == 0


def test_working_hours_are_wall_clock_in_a_zone_with_summer_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    cal = calendar(tz="Europe/Berlin")
    friday = date(2026, 3, 27)  # clocks go forward on Sunday 29 March
    due = add(cal, local(friday, 17, 0, berlin), 60, working=True)
    assert due == local(date(2026, 3, 30), 9, 0, berlin)
    assert due.hour == 7  # 09:00 in summer time is 07:00 UTC (it was 08:00 UTC in winter)


def test_a_calendar_needs_hours_that_start_before_they_end() -> None:
    with pytest.raises(ValueError, match="start before"):
        Calendar("Asia/Shanghai", time(17, 30), time(8, 30), frozenset(), frozenset())
    with pytest.raises(ValueError, match="negative"):
        add(calendar(), local(TUE, 9), -1, working=True)


_days = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31))


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    minutes=st.integers(min_value=0, max_value=20 * 540),
    holidays=st.frozensets(_days, max_size=40),
    workdays=st.frozensets(_days, max_size=10),
    tz=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"]),
    hours=st.sampled_from([(time(8, 30), time(17, 30)), (time(0, 0), time(23, 59)), (time(9, 15), time(9, 16))]),
)
def test_adding_then_measuring_gives_back_the_minutes(
    start: datetime,
    minutes: int,
    holidays: frozenset[date],
    workdays: frozenset[date],
    tz: str,
    hours: tuple[time, time],
) -> None:
    cal = Calendar(tz, hours[0], hours[1], holidays, workdays)
    start = start.replace(tzinfo=UTC)
    due = add(cal, start, minutes, working=True)
    assert due >= start
    assert working_minutes_between(cal, start, due) == minutes
    if minutes:  # the deadline is the first moment that many minutes are done: a minute earlier is one short
        assert working_minutes_between(cal, start, due - timedelta(minutes=1)) == minutes - 1
        local_due = due.astimezone(ZoneInfo(tz))
        assert is_working_day(cal, local_due.date())
        assert hours[0] <= local_due.time().replace(tzinfo=None) <= hours[1]

"""Pure rules of claims and deductions: periods in county time, caps, distances, how a deduction splits, how the
notice board names a household. Plain values in, plain values or an error out."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ledger.core.base import as_utc
from ledger.core.errors import Conflict

UNITS = ("day", "week", "month", "year")


class CapReached(Conflict):
    code = "cap_reached"


def local(moment: datetime, timezone: str) -> datetime:
    return as_utc(moment).astimezone(ZoneInfo(timezone))


def period_key(moment: datetime, timezone: str, period: str) -> str:
    """The period a claim falls in, as the unique constraint sees it: once, 2026-11-24, 2026-W48, 2026-11."""
    if period == "once":
        return "once"
    day = local(moment, timezone)
    if period == "day":
        return day.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return day.strftime("%Y-%m")
    raise ValueError(f"unknown period {period!r}")


def period_bounds(moment: datetime, timezone: str, unit: str) -> tuple[datetime, datetime]:
    """The day, ISO week, month or year (county time) around `moment`, as UTC instants [start, end)."""
    day = local(moment, timezone).replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        start, end = day, day + timedelta(days=1)
    elif unit == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif unit == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    elif unit == "year":
        start = day.replace(month=1, day=1)
        end = start.replace(year=start.year + 1)
    else:
        raise ValueError(f"unknown unit {unit!r}")
    # Rebuild the local midnights through the zone, so a DST change inside the period is respected.
    zone = ZoneInfo(timezone)
    start = start.replace(tzinfo=None).replace(tzinfo=zone)
    end = end.replace(tzinfo=None).replace(tzinfo=zone)
    return as_utc(start), as_utc(end)


def check_caps(caps: dict[str, int | None], counts: dict[str, int]) -> None:
    """Refuse when the household already has as many claims of the matter in a period as the cap allows."""
    for unit in UNITS:
        cap = caps.get(unit)
        if cap is not None and counts.get(unit, 0) >= cap:
            raise CapReached(f"Your household has reached this matter's limit of {cap} per {unit}.", unit=unit, cap=cap)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def split_deduction(points: int, available: int) -> tuple[int, int]:
    """(posted, unpaid): a deduction takes what the spendable balance allows and records the rest unpaid."""
    if points <= 0:
        raise ValueError("a deduction takes a positive number of points")
    posted = max(0, min(points, available))
    return posted, points - posted


def notice_name(policy: str, *, head_name: str, house_number: str | None) -> str:
    """How the notice board names a household under the village's privacy policy."""
    if policy == "full_name":
        return head_name
    if policy == "surname_house":
        surname = head_name[:1] if head_name else "?"
        return f"{surname}家" + (f"（{house_number}号）" if house_number else "")
    return "一户村民"

"""An activity is something to take part in (a meeting, a clean-up) or a standing code (a sorting station). It
pins the version of the matter it awards, so its poster and its claims agree."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, String
from sqlmodel import Field, SQLModel

from ledger.core.base import timestamp, utcnow


class Period(StrEnum):
    """How often one household may claim the same activity."""

    ONCE = "once"  # an event: once
    DAY = "day"  # a standing code: once a day, a week or a month (county time)
    WEEK = "week"
    MONTH = "month"


class Activity(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("period in ('once', 'day', 'week', 'month')", name="period"),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("capacity is null or capacity > 0", name="capacity_positive"),
        CheckConstraint("(lat is null) = (lon is null) and (radius_m is null or lat is not null)", name="geofence"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    matter_id: int = Field(foreign_key="matter.id")
    title: str = Field(max_length=100)
    place: str = Field(default="", max_length=100)
    lat: float | None = None
    lon: float | None = None
    radius_m: int | None = None
    starts_at: datetime = timestamp()
    ends_at: datetime = timestamp()
    capacity: int | None = None  # households, for an event with limited places
    period: str = Field(default=Period.ONCE.value, sa_type=String(8))
    rotating: bool = False  # shown live by an official: a new code every 30 s
    active: bool = True
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)

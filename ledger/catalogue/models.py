"""A matter is one rule of the catalogue. Its rows are versions: an edit writes version n+1 and leaves version n as
it was, so every claim and deduction keeps the rule it was posted under. A county row applies in every village of
the county; a village row (village_id set) applies in that village only and hides a county row of the same code."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String, text
from sqlmodel import Field, SQLModel

from ledger.core.base import timestamp, utcnow


class Evidence(StrEnum):
    NONE = "none"
    PHOTO = "photo"  # the claim needs at least one photo of the household's own
    WITNESS = "witness"  # an official saw it: only a live (rotating) code or a proxy entry will do


class Review(StrEnum):
    OFFICIAL = "official"  # an official approves every claim
    AUTO = "auto"  # approved at once, but only when claimed from a rotating code an official shows live


class Matter(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("points <> 0", name="points_nonzero"),
        CheckConstraint("evidence in ('none', 'photo', 'witness')", name="evidence"),
        CheckConstraint("review in ('official', 'auto')", name="review"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(
            "uq_matter_county_version",
            "county_id",
            "code",
            "version",
            unique=True,
            sqlite_where=text("village_id IS NULL"),
            postgresql_where=text("village_id IS NULL"),
        ),
        Index(
            "uq_matter_village_version",
            "village_id",
            "code",
            "version",
            unique=True,
            sqlite_where=text("village_id IS NOT NULL"),
            postgresql_where=text("village_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    village_id: int | None = Field(default=None, foreign_key="village.id", index=True)
    code: str = Field(max_length=48)
    version: int = 1
    name_zh: str = Field(max_length=60)
    name_en: str = Field(max_length=80)
    category: str = Field(max_length=32)
    points: int  # positive for good conduct, negative for a deduction
    evidence: str = Field(default=Evidence.NONE.value, sa_type=String(10))
    review: str = Field(default=Review.OFFICIAL.value, sa_type=String(10))
    cap_day: int | None = None  # claims per household of this matter per day / week / month / year
    cap_week: int | None = None
    cap_month: int | None = None
    cap_year: int | None = None
    valid_from: datetime | None = timestamp(default=None)
    valid_to: datetime | None = timestamp(default=None)
    active: bool = True
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)

    @property
    def is_deduction(self) -> bool:
        return self.points < 0

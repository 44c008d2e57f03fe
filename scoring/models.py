"""Scoring tables. Ratings, the access log, loan outcome events and scorecard activations are written once and
never changed (the database refuses UPDATE and DELETE on them, as on the journal)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from ledger.core.base import timestamp, utcnow


class Scorecard(SQLModel, table=True):
    """One version of a scorecard; its id is the hash of its content."""

    id: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=100)
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    origin: str = Field(max_length=16)  # "shipped" or "calibrated"
    parent_id: str | None = Field(default=None, foreign_key="scorecard.id", max_length=16)
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)


class ScorecardActivation(SQLModel, table=True):
    """Which version a county rates with, from when, and who decided. The newest row is in force."""

    __tablename__ = "scorecard_activation"

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    scorecard_id: str = Field(foreign_key="scorecard.id", max_length=16)
    activated_by: str = Field(max_length=64)
    activated_at: datetime = timestamp(default_factory=utcnow)
    note: str | None = Field(default=None, max_length=500)


class Rating(SQLModel, table=True):
    __table_args__ = (
        Index("ix_rating_household", "household_id", "id"),
        CheckConstraint("grade in ('AAA', 'AA', 'A', 'B', 'C', 'NR')", name="grade"),
        CheckConstraint("(grade = 'NR') = (score is null)", name="score_unless_not_rated"),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id")
    county_id: int = Field(foreign_key="county.id")
    scorecard_id: str = Field(foreign_key="scorecard.id", max_length=16)
    score: int | None = None
    grade: str = Field(sa_type=String(3))
    as_of: datetime = timestamp()  # the ledger cut-off: everything settled before it is counted
    record_seq: int  # the household's record sequence it was computed at (stale once the household's moves on)
    computed_at: datetime = timestamp(default_factory=utcnow)
    features: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    points: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # per characteristic
    reasons: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # top four, zh and en
    sufficiency: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class Purpose(StrEnum):
    LOAN_PREAPPROVAL = "loan_preapproval"
    LOAN_APPLICATION = "loan_application"
    CREDIT_REVIEW = "credit_review"  # a bank reviewing a credit line it already gave


class Scope(StrEnum):
    GRADE = "grade"  # the grade only
    SCORE = "score"  # + the score and the reasons
    SUMMARY = "summary"  # + a summary of the household's participation


class Consent(SQLModel, table=True):
    """A household's permission for one partner bank to read its rating, for one purpose, until it expires or is
    revoked. Its id is random, so a bank cannot guess another's."""

    __table_args__ = (
        CheckConstraint("purpose in ('loan_preapproval', 'loan_application', 'credit_review')", name="purpose"),
        CheckConstraint("scope in ('grade', 'score', 'summary')", name="scope"),
        CheckConstraint("expires_at > granted_at", name="expires_after_grant"),
        Index("ix_consent_household", "household_id", "granted_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    county_id: int = Field(foreign_key="county.id")
    household_id: int = Field(foreign_key="household.id")
    partner_id: int = Field(foreign_key="partner.id", index=True)
    purpose: str = Field(sa_type=String(20))
    scope: str = Field(sa_type=String(10))
    granted_by: str = Field(max_length=64)
    granted_at: datetime = timestamp(default_factory=utcnow)
    expires_at: datetime = timestamp()
    revoked_at: datetime | None = timestamp(default=None)
    revoked_by: str | None = Field(default=None, max_length=64)


class CreditLookup(SQLModel, table=True):
    """The access log: one row per rating shown to a partner. Append-only."""

    __tablename__ = "credit_lookup"
    __table_args__ = (Index("ix_credit_lookup_household", "household_id", "looked_at"),)

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id")
    household_id: int = Field(foreign_key="household.id")
    partner_id: int = Field(foreign_key="partner.id")
    client_id: str = Field(max_length=64)
    consent_id: str = Field(foreign_key="consent.id", max_length=32)
    purpose: str = Field(max_length=20)
    rating_id: int = Field(foreign_key="rating.id")
    looked_at: datetime = timestamp(default_factory=utcnow)


class ReviewRequest(SQLModel, table=True):
    """A villager asks a person to look at their rating; officials of the village answer."""

    __tablename__ = "review_request"
    __table_args__ = (CheckConstraint("status in ('open', 'answered')", name="status"),)

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id")
    village_id: int = Field(foreign_key="village.id", index=True)
    household_id: int = Field(foreign_key="household.id")
    rating_id: int = Field(foreign_key="rating.id")
    reason: str = Field(max_length=500)
    requested_by: str = Field(max_length=64)
    requested_at: datetime = timestamp(default_factory=utcnow)
    status: str = Field(default="open", sa_type=String(10))
    answer: str | None = Field(default=None, max_length=1000)
    answered_by: str | None = Field(default=None, max_length=64)
    answered_at: datetime | None = timestamp(default=None)


class LoanEvent(StrEnum):
    DISBURSED = "disbursed"
    REPAID = "repaid"  # repaid on time, in full
    DPD30 = "dpd30"  # 30 or more days past due
    DPD90 = "dpd90"  # 90 or more days past due
    DEFAULT = "default"


BAD_EVENTS = (LoanEvent.DPD90, LoanEvent.DEFAULT)


class LoanOutcome(SQLModel, table=True):
    """What happened to a loan, event by event, as the bank reports it. Append-only; a loan's state is its
    latest event. `rating_id` is the rating the bank decided on (the one its lookup showed)."""

    __tablename__ = "loan_outcome"
    __table_args__ = (
        CheckConstraint("event in ('disbursed', 'repaid', 'dpd30', 'dpd90', 'default')", name="event"),
        UniqueConstraint("partner_id", "loan_ref", "event", name="uq_loan_outcome_event"),
        Index("ix_loan_outcome_loan", "partner_id", "loan_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id")
    partner_id: int = Field(foreign_key="partner.id")
    household_id: int = Field(foreign_key="household.id", index=True)
    loan_ref: str = Field(max_length=64)
    rating_id: int = Field(foreign_key="rating.id")
    event: str = Field(sa_type=String(10))
    amount: int | None = None  # yuan
    occurred_at: datetime = timestamp()
    reported_by: str = Field(max_length=64)
    reported_at: datetime = timestamp(default_factory=utcnow)

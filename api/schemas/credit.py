"""What the credit routes accept and return. The partner response is an allow-list per consent scope: a field
reaches a bank only if it is named here, and only the fields of the consented scope are filled."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Moment, Strict

ConsentId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class ReasonOut(BaseModel):
    code: str
    zh: str
    en: str


class SufficiencyOut(BaseModel):
    sufficient: bool
    months_of_history: int


class ActivitySummaryOut(BaseModel):
    active_months_12: int
    categories_24m: int
    points_12m_capped: int
    deductions_24m: int


class PartnerRatingOut(BaseModel):
    """What a bank sees: no names, phones, photos, places or statements; score and reasons only with a `score`
    or `summary` consent, the activity summary only with a `summary` consent."""

    household_id: int
    grade: str
    score: int | None = None
    score_range: list[int] | None = None
    reasons: list[ReasonOut] | None = None
    activity_summary: ActivitySummaryOut | None = None
    as_of: Moment
    computed_at: Moment
    scorecard_version: str
    data_sufficiency: SufficiencyOut
    valid_until: Moment
    consent_id: str
    purpose: str
    scope: str


class LookupItem(Strict):
    household_id: int = Field(gt=0)
    consent_id: ConsentId


class LookupsIn(Strict):
    items: Annotated[list[LookupItem], Field(min_length=1, max_length=100)]


class LookupResultOut(BaseModel):
    household_id: int
    consent_id: str
    status: int
    code: str | None = None
    rating: PartnerRatingOut | None = None


class LookupsOut(BaseModel):
    results: list[LookupResultOut]


class MyRatingOut(BaseModel):
    """What the household sees of its own rating: everything, and how to do better."""

    household_id: int
    grade: str
    score: int | None
    score_range: list[int]
    reasons: list[dict[str, Any]]
    points: dict[str, int]
    features: dict[str, Any]
    improve: dict[str, Any]
    as_of: Moment
    computed_at: Moment
    valid_until: Moment
    scorecard_version: str
    data_sufficiency: dict[str, Any]
    explanation: str = Field(description="What the rating is and is not.")


class ConsentIn(Strict):
    partner_id: int = Field(gt=0)
    purpose: Literal["loan_preapproval", "loan_application", "credit_review"]
    scope: Literal["grade", "score", "summary"]
    days: int = Field(default=90, ge=1, le=366)


class ConsentOut(BaseModel):
    id: str
    partner_id: int
    partner: str
    purpose: str
    scope: str
    granted_at: Moment
    expires_at: Moment
    revoked_at: Moment | None
    active: bool


class PartnerOut(BaseModel):
    id: int
    name: str
    kind: str


class AccessLogOut(BaseModel):
    partner: str
    purpose: str
    looked_at: Moment
    consent_id: str


class ReviewRequestIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ReviewAnswerIn(Strict):
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class ReviewRequestOut(BaseModel):
    id: int
    household_id: int
    village_id: int
    reason: str
    status: str
    requested_at: Moment
    answer: str | None
    answered_at: Moment | None
    rating: dict[str, Any] | None = None


class OutcomeIn(Strict):
    loan_ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    household_id: int = Field(gt=0)
    consent_id: ConsentId
    event: Literal["disbursed", "repaid", "dpd30", "dpd90", "default"]
    occurred_at: Moment
    amount: int | None = Field(default=None, ge=0, le=10_000_000)


class OutcomeOut(BaseModel):
    id: int
    loan_ref: str
    household_id: int
    event: str
    occurred_at: Moment
    replayed: bool = False


class ScorecardOut(BaseModel):
    id: str
    name: str
    origin: str
    parent_id: str | None
    created_at: Moment
    active: bool


class ActivateIn(Strict):
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None

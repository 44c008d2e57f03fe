"""What the loan-application routes accept and return. The household, the bank, the grade and the limits come
from who is asking, from the offer and from the rating, never from the body (unknown fields are refused)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Moment, Strict
from api.schemas.credit import PartnerRatingOut

Status = Literal[
    "pre_approved", "under_review", "approved", "rejected", "withdrawn", "disbursed", "repaid", "overdue", "defaulted"
]


class LoanApplicationIn(Strict):
    offer_id: int = Field(gt=0, description="A loan product (an approved offer of kind loan)")
    amount_yuan: int = Field(gt=0, le=10_000_000, description="Whole yuan")
    term_months: int = Field(ge=1, le=120)
    purpose: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class LoanDecisionIn(Strict):
    approve: bool
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class LoanStatusIn(Strict):
    event: Literal["disbursed", "repaid", "dpd30", "dpd90", "default"]
    occurred_at: Moment | None = Field(default=None, description="When it happened; now if not given")
    amount_yuan: int | None = Field(
        default=None, gt=0, le=10_000_000, description="Whole yuan; for disbursed, the applied amount if not given"
    )


class LoanStepOut(BaseModel):
    status: str = Field(description="submitted, then the statuses the application went through")
    note: str | None = None
    at: Moment


class LoanApplicationOut(BaseModel):
    """An application as its household sees it (with the timeline) or as its bank does (with the household id
    and the rating snapshot it was decided on; no names or phones)."""

    id: int
    offer_id: int
    offer_title: str
    partner_id: int
    partner_name: str
    household_id: int | None = None
    amount_yuan: int
    term_months: int
    purpose: str
    status: Status
    grade: str = Field(description="The grade at application")
    max_amount_yuan: int | None = Field(default=None, description="What the product lends this grade")
    rate_discount_bp: int | None = Field(default=None, description="The rate discount for this grade, in bp")
    decided_automatically: bool
    decided_at: Moment | None = None
    decision_note: str | None = None
    loan_ref: str | None = Field(default=None, description="The bank's: the loan's key in loan outcomes")
    consent_id: str
    created_at: Moment
    updated_at: Moment
    rating: PartnerRatingOut | None = Field(default=None, description="The bank's: the snapshot sent to it")
    timeline: list[LoanStepOut] | None = Field(default=None, description="The household's: every step so far")

"""Imports every table of the scoring package so that SQLModel.metadata is complete (Alembic reads it)."""

from scoring.models import (
    Consent,
    CreditLookup,
    LoanOutcome,
    Rating,
    ReviewRequest,
    Scorecard,
    ScorecardActivation,
)

__all__ = ["Consent", "CreditLookup", "LoanOutcome", "Rating", "ReviewRequest", "Scorecard", "ScorecardActivation"]

"""Ratings, consents, review requests and lookups as the API shows them (api/schemas/credit.py).

`partner_rating` is the allow-list of what a bank may see: the consented scope decides, field by field (grade:
the grade and its dates; score: also the score, its range and the reasons; summary: also four counts of the
household's participation). Nothing else of a rating ever reaches a bank."""

from __future__ import annotations

from sqlmodel import Session

from api.schemas.credit import (
    AccessLogOut,
    ActivitySummaryOut,
    ConsentOut,
    MyRatingOut,
    PartnerOut,
    PartnerRatingOut,
    ReasonOut,
    ReviewRequestOut,
    SufficiencyOut,
)
from ledger.core.base import utcnow
from ledger.identity.models import Partner
from scoring import consent as consents
from scoring import lookups, ratings
from scoring.models import Consent, CreditLookup, Rating, ReviewRequest, Scope

EXPLANATION = (
    "The rating is computed from the household's settled points, deductions, claim decisions and upheld "
    "objections, by a published scorecard. It supports a bank's decision and does not make it. You may "
    "ask for a person to review it, and you can see every time a bank looked at it."
)


def partner_rating(session: Session, rating: Rating, consent: Consent) -> PartnerRatingOut:
    """A stored rating as the consent's bank may see it (`partner_answer`)."""
    return partner_answer(
        lookups.shown_of(session, rating, consent_id=consent.id, purpose=consent.purpose, scope=consent.scope)
    )


def partner_answer(shown: lookups.Shown) -> PartnerRatingOut:
    """The allow-list: what the consented scope lets the bank see, nothing else. Built from plain values, so a
    lookup builds it after its unit of work has committed."""
    sufficiency = shown.sufficiency
    out = PartnerRatingOut(
        household_id=shown.household_id,
        grade=shown.grade,
        as_of=shown.as_of,
        computed_at=shown.computed_at,
        scorecard_version=shown.scorecard_id,
        valid_until=ratings.valid_until(shown.as_of),
        data_sufficiency=SufficiencyOut(
            sufficient=bool(sufficiency.get("sufficient")),
            months_of_history=int(sufficiency.get("months_of_history", 0)),
        ),
        consent_id=shown.consent_id,
        purpose=shown.purpose,
        scope=shown.scope,
    )
    if shown.scope in (Scope.SCORE, Scope.SUMMARY):
        out.score = shown.score
        out.score_range = list(shown.score_range)
        out.reasons = [ReasonOut(code=r["code"], zh=r["zh"], en=r["en"]) for r in shown.reasons]
    if shown.scope == Scope.SUMMARY:
        f = shown.features
        out.activity_summary = ActivitySummaryOut(
            active_months_12=int(f.get("active_months_12") or 0),
            categories_24m=int(f.get("categories_24m") or 0),
            points_12m_capped=int(f.get("points_12m_capped") or 0),
            deductions_24m=int(f.get("deductions_24m") or 0),
        )
    return out


def my_rating_out(session: Session, rating: Rating) -> MyRatingOut:
    """The household's own view: everything, with how to improve and what the rating is for."""
    card = ratings.card_by_id(session, rating.scorecard_id)
    return MyRatingOut(
        household_id=rating.household_id,
        grade=rating.grade,
        score=rating.score,
        score_range=list(card.score_range),
        reasons=rating.reasons,
        points=rating.points,
        features=rating.features,
        improve=ratings.how_to_improve(session, rating),
        as_of=rating.as_of,
        computed_at=rating.computed_at,
        valid_until=ratings.valid_until(rating.as_of),
        scorecard_version=rating.scorecard_id,
        data_sufficiency=rating.sufficiency,
        explanation=EXPLANATION,
    )


def access_log_out(session: Session, household_id: int, *, limit: int = 200) -> list[AccessLogOut]:
    """Who looked at the household's rating, when and why, newest first."""
    return [lookup_out(entry, name) for entry, name in lookups.access_log(session, household_id, limit=limit)]


def lookup_out(entry: CreditLookup, partner_name: str) -> AccessLogOut:
    return AccessLogOut(
        partner=partner_name, purpose=entry.purpose, looked_at=entry.looked_at, consent_id=entry.consent_id
    )


def partner_out(partner: Partner) -> PartnerOut:
    assert partner.id is not None
    return PartnerOut(id=partner.id, name=partner.name, kind=partner.kind)


def consent_out(session: Session, consent: Consent) -> ConsentOut:
    partner = session.get(Partner, consent.partner_id)
    return ConsentOut(
        id=consent.id,
        partner_id=consent.partner_id,
        partner=partner.name if partner else "?",
        purpose=consent.purpose,
        scope=consent.scope,
        granted_at=consent.granted_at,
        expires_at=consent.expires_at,
        revoked_at=consent.revoked_at,
        active=consents.is_active(consent, utcnow()),
    )


def review_out(session: Session, task: ReviewRequest, *, with_rating: bool = True) -> ReviewRequestOut:
    """A request for a person to look at a rating; officials also see the rating it was made about."""
    assert task.id is not None
    rating = session.get(Rating, task.rating_id) if with_rating else None
    return ReviewRequestOut(
        id=task.id,
        household_id=task.household_id,
        village_id=task.village_id,
        reason=task.reason,
        status=task.status,
        requested_at=task.requested_at,
        answer=task.answer,
        answered_at=task.answered_at,
        rating=None
        if rating is None
        else {
            "grade": rating.grade,
            "score": rating.score,
            "reasons": rating.reasons,
            "points": rating.points,
            "features": rating.features,
            "computed_at": rating.computed_at.isoformat(),
        },
    )

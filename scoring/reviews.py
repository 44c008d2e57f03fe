"""A person looks at a rating: the household asks (PIPL Art. 24: an explanation of an automated decision, and a
decision not made by automation alone), and it becomes a task for the officials of its village."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.core import outbox
from ledger.core.base import utcnow
from ledger.core.errors import Conflict, Invalid, NotFound
from ledger.identity.principal import Principal
from ledger.tenancy import Household
from scoring import access, ratings
from scoring.models import ReviewRequest


class ReviewNotFound(NotFound):
    code = "review_request_not_found"


class AlreadyAnswered(Conflict):
    code = "review_already_answered"


def _text(value: str, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid(f"{field} is 1 to {limit} characters.", field=field)
    return value.strip()


def request(session: Session, who: Principal, *, reason: str, now: datetime | None = None) -> ReviewRequest:
    household_id = access.own_household(who, "A member of the household asks for a review of its rating.")
    household = session.get(Household, household_id)
    assert household is not None
    rating = ratings.current(session, household_id, now=now)
    assert rating.id is not None  # a stored rating
    task = ReviewRequest(
        county_id=household.county_id,
        village_id=household.village_id,
        household_id=household_id,
        rating_id=rating.id,
        reason=_text(reason, "reason", 500),
        requested_by=who.actor,
        requested_at=now or utcnow(),
    )
    session.add(task)
    session.flush()
    return task


def answer(
    session: Session, who: Principal, *, request_id: int, text: str, now: datetime | None = None
) -> ReviewRequest:
    task = access.answerable_review(
        who,
        session.scalars(select(ReviewRequest).where(col(ReviewRequest.id) == request_id).with_for_update()).first(),
        request_id,
    )
    if task.status != "open":
        raise AlreadyAnswered("This review request was already answered.")
    task.answer = _text(text, "answer", 1000)
    task.status = "answered"
    task.answered_by = who.actor
    task.answered_at = now or utcnow()
    outbox.tell(
        session,
        county_id=task.county_id,
        household_id=task.household_id,
        kind="rating_review_answered",
        request_id=task.id,
        answer=task.answer,
    )
    session.flush()
    return task

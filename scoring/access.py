"""Who may see and do what with ratings: a household's own rating, its consents and review requests; a bank's
lookups (only under the household's active consent); the officials' review tasks. Routes and pages ask here; the
services (consent, lookups, reviews) ask here for their own checks.

A bank without an active consent gets one refusal that says nothing about the household; another household's
consent or review request looks missing.

The services import this module and this module imports them; each side uses the other only inside functions,
never at import time, so either may be imported first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from ledger.core import paging
from ledger.core.errors import Forbidden
from ledger.identity.models import PartnerKind, Role
from ledger.identity.principal import PARTNER, Principal
from scoring import consent as consents
from scoring import reviews
from scoring.models import Consent, ReviewRequest


def own_household(who: Principal, message: str = "Only a member of a household does this.") -> int:
    """The household whose rating, consents and review requests a villager acts on."""
    if who.role != Role.VILLAGER or who.household_id is None:
        raise Forbidden(message)
    return who.household_id


# --- banks -----------------------------------------------------------------------------------------------------


def require_bank(who: Principal) -> int:
    """Only partner banks read ratings; the bank's partner id."""
    if who.role != PARTNER or who.partner_kind != PartnerKind.BANK or who.partner_id is None:
        raise Forbidden("Only partner banks read ratings.")
    return who.partner_id


def readable_rating(session: Session, who: Principal, *, household_id: int, consent_id: str, now: datetime) -> Consent:
    """The consent under which this bank may read this household's rating now. Anything else — no such
    household, no such consent, another bank's or household's, expired, revoked — is the same refusal."""
    partner_id = require_bank(who)
    return consents.check(session, partner_id=partner_id, household_id=household_id, consent_id=consent_id, now=now)


# --- the household ---------------------------------------------------------------------------------------------


def own_consent(who: Principal, consent: Consent | None, consent_id: str) -> Consent:
    """A consent the caller may revoke: one their household gave."""
    if consent is None or who.household_id is None or consent.household_id != who.household_id:
        raise consents.ConsentNotFound("No such consent of your household.", consent_id=consent_id)
    return consent


def household_consents(session: Session, who: Principal) -> list[Consent]:
    """The consents the caller's household gave, newest first."""
    return consents.of_household(session, own_household(who))


def household_review_requests(session: Session, who: Principal) -> list[ReviewRequest]:
    """The caller's household's requests for a person to look at its rating, newest first."""
    household_id = own_household(who)
    query = select(ReviewRequest).where(col(ReviewRequest.household_id) == household_id)
    return list(session.exec(query.order_by(col(ReviewRequest.id).desc())))


def household_review_page(
    session: Session, who: Principal, *, cursor: str | None = None, limit: int = paging.PAGE
) -> paging.Page[ReviewRequest]:
    """`household_review_requests` a page at a time, newest first, after `cursor`."""
    query = select(ReviewRequest).where(col(ReviewRequest.household_id) == own_household(who))
    return paging.by_id(session, query, col(ReviewRequest.id), cursor=cursor, limit=limit)


# --- officials and the county admin ----------------------------------------------------------------------------


def review_queue(session: Session, who: Principal, status: str | None = None) -> list[ReviewRequest]:
    """Review requests of the villages the caller handles (an official: theirs; the county admin: the county's),
    oldest first."""
    return list(session.exec(_queue(who, status).order_by(col(ReviewRequest.id))))


def review_queue_page(
    session: Session, who: Principal, status: str | None = None, *, cursor: str | None = None, limit: int = paging.PAGE
) -> paging.Page[ReviewRequest]:
    """`review_queue` a page at a time, oldest first, after `cursor`."""
    return paging.by_id(
        session, _queue(who, status), col(ReviewRequest.id), cursor=cursor, limit=limit, newest_first=False
    )


def _queue(who: Principal, status: str | None) -> Any:
    if who.role not in (Role.OFFICIAL, Role.COUNTY_ADMIN):
        raise Forbidden("Officials and the county admin handle rating reviews.")
    query = select(ReviewRequest).where(col(ReviewRequest.county_id) == who.county_id)
    if who.role == Role.OFFICIAL:
        query = query.where(col(ReviewRequest.village_id).in_(sorted(who.village_ids)))
    if status:
        query = query.where(col(ReviewRequest.status) == status)
    return query


def answerable_review(who: Principal, task: ReviewRequest | None, request_id: int) -> ReviewRequest:
    """A review request the caller may answer: of a village they manage, and not their own household's."""
    if task is None or not who.manages_village(task.village_id, task.county_id):
        raise reviews.ReviewNotFound("No such review request among those you handle.", review_request_id=request_id)
    who.refuse_own(task.household_id, what="This is your own household's rating")
    return task

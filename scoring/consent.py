"""A household's consent for a partner bank to read its rating: for one purpose, in one scope, until it expires
(90 days unless the household says otherwise) or the household revokes it."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.core.base import as_utc, utcnow
from ledger.core.errors import Forbidden, Invalid, NotFound
from ledger.identity.models import Partner, PartnerKind
from ledger.identity.principal import Principal
from ledger.tenancy import Household
from scoring import access
from scoring.models import Consent, Purpose, Scope

DEFAULT_DAYS = 90
MAX_DAYS = 366


class ConsentNotFound(NotFound):
    code = "consent_not_found"


class ConsentRequired(Forbidden):
    """The only answer a partner gets without an active consent: it says nothing about the household."""

    code = "consent_required"


class PartnerNotFound(NotFound):
    code = "partner_not_found"


def grant(
    session: Session,
    who: Principal,
    *,
    partner_id: int,
    purpose: str,
    scope: str,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> Consent:
    """A member of the household grants a bank of its county consent."""
    household_id = access.own_household(who, "A member of the household grants consent.")
    if purpose not in {p.value for p in Purpose}:
        raise Invalid("purpose is loan_preapproval, loan_application or credit_review.", field="purpose")
    if scope not in {s.value for s in Scope}:
        raise Invalid("scope is grade, score or summary.", field="scope")
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"A consent lasts 1 to {MAX_DAYS} days.", field="days")
    partner = session.get(Partner, partner_id)
    if partner is None or partner.kind != PartnerKind.BANK or partner.county_id != who.county_id:
        raise PartnerNotFound("No such bank in your county.", partner_id=partner_id)
    now = now or utcnow()
    consent = Consent(
        id=secrets.token_hex(16),
        county_id=who.county_id,
        household_id=household_id,
        partner_id=partner_id,
        purpose=purpose,
        scope=scope,
        granted_by=who.actor,
        granted_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(consent)
    session.flush()
    return consent


def revoke(session: Session, who: Principal, *, consent_id: str, now: datetime | None = None) -> Consent:
    consent = access.own_consent(
        who,
        session.scalars(select(Consent).where(col(Consent.id) == consent_id).with_for_update()).first(),
        consent_id,
    )
    if consent.revoked_at is None:
        consent.revoked_at = now or utcnow()
        consent.revoked_by = who.actor
        session.flush()
    return consent


def of_household(session: Session, household_id: int) -> list[Consent]:
    return list(
        session.scalars(
            select(Consent).where(col(Consent.household_id) == household_id).order_by(col(Consent.granted_at).desc())
        ).all()
    )


def is_active(consent: Consent, now: datetime) -> bool:
    return consent.revoked_at is None and as_utc(consent.granted_at) <= now < as_utc(consent.expires_at)


def check(session: Session, *, partner_id: int, household_id: int, consent_id: str, now: datetime) -> Consent:
    """The consent that lets this partner read this household now. Anything else — no such household, no such
    consent, another partner's or household's, expired, revoked, a closed household — is the same refusal."""
    consent = session.get(Consent, consent_id) if isinstance(consent_id, str) and len(consent_id) <= 64 else None
    if (
        consent is None
        or consent.partner_id != partner_id
        or consent.household_id != household_id
        or not is_active(consent, now)
        or _closed(session, household_id)  # its consents ended with it (scoring/closing.py)
    ):
        raise ConsentRequired("The household has not given you an active consent to read its rating.")
    return consent


def _closed(session: Session, household_id: int) -> bool:
    closed_at = session.scalar(select(col(Household.closed_at)).where(col(Household.id) == household_id))
    return closed_at is not None


def end_for_household(session: Session, *, household_id: int, actor: str, now: datetime) -> list[str]:
    """End every consent of the household still in force (it closed): the ids ended."""
    live = session.scalars(
        select(Consent)
        .where(
            col(Consent.household_id) == household_id,
            col(Consent.revoked_at).is_(None),
            col(Consent.expires_at) > now,
        )
        .with_for_update()
    ).all()
    for consent in live:
        consent.revoked_at = now
        consent.revoked_by = actor[:64]
    session.flush()
    return [consent.id for consent in live]

"""Closing a household, whole: the ledger's part (`ledger/people/closing.py`: claims, sign-ins, the change log)
and the rating's: the household's consents end, so banks learn nothing more of it. A bank that looks it up then
gets `consent_required`, the same answer as for any household that gave it no consent: that the household closed
is not told (docs/people.md). Routes and pages close a household through here."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ledger.core import audit
from ledger.core.base import utcnow
from ledger.identity.principal import Principal
from ledger.people import closing
from scoring import consent


def close_household(
    session: Session, who: Principal, household_id: int, *, why: str | None = None, now: datetime | None = None
) -> closing.Closed:
    now = now or utcnow()
    closed = closing.close_household(session, who, household_id, why=why, now=now)
    ended = consent.end_for_household(session, household_id=household_id, actor=who.actor, now=now)
    if ended:
        audit.record(
            session,
            county_id=closed.household.county_id,
            actor=who.actor,
            action="household.close.consents",
            target_type="household",
            target_id=household_id,
            before={"consents": ended},
            after={"consents": []},
        )
    return closed

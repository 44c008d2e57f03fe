"""Closing a household (the family moved away, merged into another, or is no more). docs/people.md says it in
words; in one transaction:

- claims still waiting for a decision expire through the claim lifecycle (`expire`, the journal entry's reason
  `household_closed`): nobody of the household can follow them up any more;
- claims approved and on the notice board stay there and settle at the end of their notice, as any other: the
  points were earned, and the village may still object;
- settled points stay on the household's account as its history; nobody of the household can sign in, so nothing
  is redeemed, and points expiry (where the county has it) applies as to any account;
- its members' villager sign-ins end at once, and none signs in again while they belong to it;
- nothing new is taken for it: no claim, award, deduction, proxy claim, redemption or member (`household_closed`);
- vouchers issued before stay valid until they expire (the points were spent on them).

A closed household is never opened again; a family that comes back is a new household. Its members may still be
moved to an open household. The rating's side (consents end, banks learn nothing more) is `scoring/closing.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from ledger import tenancy
from ledger.claims import lifecycle
from ledger.claims.models import Claim, ClaimStatus
from ledger.core import audit
from ledger.core.base import utcnow
from ledger.core.errors import Invalid
from ledger.identity import service as identity
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal
from ledger.people import access
from ledger.tenancy import Household, Person

REASON = "household_closed"  # the journal's reason on the expiry of a claim the closing left undecided


@dataclass(frozen=True)
class Closed:
    household: Household
    expired_claims: list[int] = field(default_factory=list)
    ended_sign_ins: list[int] = field(default_factory=list)  # villager accounts


def close_household(
    session: Session, who: Principal, household_id: int, *, why: str | None = None, now: datetime | None = None
) -> Closed:
    """Close the household (the county admin of its county, never their own). Closing twice: `household_closed`."""
    household = access.household(session, who, household_id)
    tenancy.refuse_closed(household)
    if why is not None and len(why.strip()) > 200:
        raise Invalid("Say why in at most 200 characters.", field="why")
    now = now or utcnow()
    tenancy.touch_record(session, household_id)  # the household row first, then the claims and the journal
    household.closed_at = now
    session.flush()
    expired = []
    pending = session.scalars(
        select(Claim)
        .where(col(Claim.household_id) == household_id, col(Claim.status) == ClaimStatus.PENDING)
        .order_by(col(Claim.id))
        .with_for_update()
    ).all()
    for claim in pending:
        if lifecycle.allows(claim, lifecycle.Transition.EXPIRE):
            lifecycle.move(session, claim, lifecycle.Transition.EXPIRE, by=who.actor, now=now, reason=REASON)
            expired.append(claim.id)
    villagers = session.scalars(
        select(User)
        .join(Person, col(Person.id) == col(User.person_id))
        .where(col(Person.household_id) == household_id, col(User.role) == Role.VILLAGER)
        .order_by(col(User.id))
    ).all()
    for villager in villagers:
        assert villager.id is not None
        identity.end_sign_ins(session, villager.id)
    session.flush()
    audit.record(
        session,
        county_id=household.county_id,
        actor=who.actor,
        action="household.close",
        target_type="household",
        target_id=household_id,
        before={"closed_at": None},
        after={
            "closed_at": now,
            "why": why.strip() if why and why.strip() else None,
            "expired_claims": expired,
            "ended_sign_ins": [v.id for v in villagers],
        },
    )
    return Closed(household, [c for c in expired if c is not None], [v.id for v in villagers if v.id is not None])

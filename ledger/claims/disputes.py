"""Objections and appeals, and how officials resolve them.

- An objection: any villager of the village, against a claim on the notice board, while it is in notice. While an
  objection is open the claim does not settle. Upheld: the approval is reversed (a reversal transaction) and the
  claim is revoked. Dismissed: the claim settles when its notice period is over.
- An appeal: the household, against a rejected claim or a deduction, within the county's appeal days. Upheld: a
  rejected claim is approved after all (a new transfer into notice; the notice period starts then); a deduction
  is revoked (its transaction reversed, its unpaid part dropped). Dismissed: it stays as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from ledger.claims import access, lifecycle, notice
from ledger.claims.deductions import DeductionNotFound
from ledger.claims.lifecycle import NotAppealable as NotAppealable  # its home before the lifecycle
from ledger.claims.lifecycle import NotInNotice as NotInNotice
from ledger.claims.models import (
    Claim,
    ClaimStatus,
    Deduction,
    DeductionStatus,
    Dispute,
    DisputeKind,
    DisputeStatus,
)
from ledger.claims.service import ClaimNotFound
from ledger.core import idempotency, outbox
from ledger.core.base import as_utc, row_id, utcnow
from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound, ReasonRequired
from ledger.core.idempotency import Outcome
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.journal import service as journal
from ledger.tenancy import County, touch_record


class DisputeNotFound(NotFound):
    code = "dispute_not_found"


class OwnEntry(Forbidden):
    code = "own_entry"


class AlreadyDisputed(Conflict):
    code = "already_disputed"


class AppealWindowClosed(Conflict):
    code = "appeal_window_closed"


class DisputeAlreadyResolved(Conflict):
    code = "dispute_already_resolved"


def object_to(
    session: Session,
    who: Principal,
    *,
    claim_id: int,
    reason: str,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Outcome[Dispute]:
    """A villager objects to a claim on their village's notice board."""
    at = now or utcnow()
    reason = _reason(reason)
    return idempotency.run(
        session,
        actor=who.actor,
        key=idempotency_key,
        request={"op": "objection", "claim": claim_id, "reason": reason},
        stored=_DISPUTE,
        operation=lambda: _object_to(session, who, claim_id=claim_id, reason=reason, now=at),
    )


def _object_to(session: Session, who: Principal, *, claim_id: int, reason: str, now: datetime) -> Dispute:
    if who.role != Role.VILLAGER or who.household_id is None:
        raise Forbidden("Villagers object to entries on their village's notice board.")
    claim = session.scalars(select(Claim).where(col(Claim.id) == claim_id).with_for_update()).first()
    claim = _objectable(who, claim, claim_id, now)
    dispute = _open(
        session,
        DisputeKind.OBJECTION,
        who,
        claim.county_id,
        claim.village_id,
        claim.household_id,
        reason,
        now,
        claim_id=claim.id,
    )
    outbox.tell(
        session,
        county_id=claim.county_id,
        household_id=claim.household_id,
        kind="objection_raised",
        claim_id=claim.id,
        dispute_id=dispute.id,
    )
    return dispute


def _objectable(who: Principal, claim: Claim | None, claim_id: int, now: datetime) -> Claim:
    """The checks of an objection, in order: on the objector's village's board (else it looks missing), not
    their own household's, in its notice period."""
    if claim is None or not access.may_object(who, claim):
        raise ClaimNotFound("No such entry on your village's notice board.", claim_id=claim_id)
    if claim.household_id == who.household_id:
        raise OwnEntry("This entry is your own household's; you may not object to it.")
    if claim.status != ClaimStatus.APPROVED or claim.notice_until is None or as_utc(claim.notice_until) <= now:
        raise NotInNotice("This entry is not in its notice period; objections are taken only then.")
    return claim


def objection_entry(session: Session, who: Principal, *, claim_id: int, now: datetime | None = None) -> notice.Entry:
    """The notice-board entry a villager is about to object to, exactly as the board shows it (its household
    named only as the village's privacy policy allows), after the checks the objection itself makes; and
    `AlreadyDisputed` when their household has objected to it already. Changes nothing."""
    at = now or utcnow()
    if who.role != Role.VILLAGER or who.household_id is None or who.home_village_id is None:
        raise Forbidden("Villagers object to entries on their village's notice board.")
    _objectable(who, session.get(Claim, claim_id), claim_id, at)
    if claim_id in objected_claims(session, who):
        raise AlreadyDisputed("Your household has already raised an objection about this entry.")
    entry = notice.claim_entry(session, who.home_village_id, claim_id, now=at)
    if entry is not None:
        return entry
    raise NotInNotice("This entry is not on the notice board.")  # not reached: an approved claim is on it


def objectable_claims(session: Session, who: Principal, *, now: datetime | None = None) -> set[int]:
    """The claims on the villager's own village's notice board they may object to now: in their notice period,
    another household's, and not objected to by their household already (deductions are appealed by their
    household, never objected to)."""
    if who.role != Role.VILLAGER or who.household_id is None or who.home_village_id is None:
        return set()
    at = now or utcnow()
    found = session.scalars(
        select(col(Claim.id)).where(
            col(Claim.village_id) == who.home_village_id,
            col(Claim.status) == ClaimStatus.APPROVED,
            col(Claim.household_id) != who.household_id,
            col(Claim.notice_until) > at,
        )
    ).all()
    return {row_id(claim_id) for claim_id in found} - objected_claims(session, who)


def objected_claims(session: Session, who: Principal) -> set[int]:
    """The claims the villager's household has objected to (open or answered)."""
    if who.household_id is None:
        return set()
    found = session.scalars(
        select(col(Dispute.claim_id)).where(
            col(Dispute.kind) == DisputeKind.OBJECTION, col(Dispute.raised_by_household_id) == who.household_id
        )
    ).all()
    return {claim_id for claim_id in found if claim_id is not None}


def appeal_deadline(county: County, target: Claim | Deduction) -> datetime | None:
    """Until when the household may appeal: a rejected claim, from its decision; a deduction in force, from its
    recording; for the county's appeal days. None: there is nothing to appeal."""
    if isinstance(target, Claim):
        if target.status != ClaimStatus.REJECTED or target.decided_at is None:
            return None
        since = as_utc(target.decided_at)
    else:
        if target.status != DeductionStatus.IN_FORCE:
            return None
        since = as_utc(target.recorded_at)
    return since + timedelta(days=county.appeal_days)


def appeal(
    session: Session,
    who: Principal,
    *,
    claim_id: int | None = None,
    deduction_id: int | None = None,
    reason: str,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Outcome[Dispute]:
    """A household appeals against a rejection of its claim or a deduction against it."""
    at = now or utcnow()
    reason = _reason(reason)
    if (claim_id is None) == (deduction_id is None):
        raise Invalid("Appeal against one claim or one deduction.", field="claim_id")
    return idempotency.run(
        session,
        actor=who.actor,
        key=idempotency_key,
        request={"op": "appeal", "claim": claim_id, "deduction": deduction_id, "reason": reason},
        stored=_DISPUTE,
        operation=lambda: _appeal(session, who, claim_id=claim_id, deduction_id=deduction_id, reason=reason, now=at),
    )


def _appeal(
    session: Session, who: Principal, *, claim_id: int | None, deduction_id: int | None, reason: str, now: datetime
) -> Dispute:
    if who.role != Role.VILLAGER or who.household_id is None:
        raise Forbidden("A household appeals through one of its members.")
    target: Claim | Deduction | None
    if claim_id is not None:
        target = session.scalars(select(Claim).where(col(Claim.id) == claim_id).with_for_update()).first()
        if target is None or not access.may_appeal(who, target):
            raise ClaimNotFound("No such claim of your household.", claim_id=claim_id)
        if not lifecycle.allows(target, lifecycle.Transition.REINSTATE) or target.decided_at is None:
            raise NotAppealable("Only a rejected claim can be appealed.", claim_status=target.status)
    else:
        target = session.scalars(select(Deduction).where(col(Deduction.id) == deduction_id).with_for_update()).first()
        if target is None or not access.may_appeal(who, target):
            raise DeductionNotFound("No such deduction against your household.", deduction_id=deduction_id)
        if target.status != DeductionStatus.IN_FORCE:
            raise NotAppealable("This deduction was already revoked.")
    county = session.get(County, target.county_id)
    assert county is not None
    closes = appeal_deadline(county, target)
    assert closes is not None
    if now > closes:
        raise AppealWindowClosed(f"Appeals are taken within {county.appeal_days} days.", closed_at=closes.isoformat())
    return _open(
        session,
        DisputeKind.APPEAL,
        who,
        target.county_id,
        target.village_id,
        target.household_id,
        reason,
        now,
        claim_id=claim_id,
        deduction_id=deduction_id,
    )


def resolve(
    session: Session,
    who: Principal,
    *,
    dispute_id: int,
    upheld: bool,
    note: str | None,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Outcome[Dispute]:
    at = now or utcnow()
    return idempotency.run(
        session,
        actor=who.actor,
        key=idempotency_key,
        request={"op": "resolve", "dispute": dispute_id, "upheld": upheld, "note": note},
        stored=_DISPUTE,
        operation=lambda: _resolve(session, who, dispute_id=dispute_id, upheld=upheld, note=note, now=at),
    )


def _resolve(
    session: Session, who: Principal, *, dispute_id: int, upheld: bool, note: str | None, now: datetime
) -> Dispute:
    dispute = session.scalars(select(Dispute).where(col(Dispute.id) == dispute_id).with_for_update()).first()
    if dispute is None or not access.may_resolve(who, dispute):
        raise DisputeNotFound("No such objection or appeal among those you handle.", dispute_id=dispute_id)
    who.refuse_own(dispute.household_id, dispute.raised_by_household_id, what="Your own household is part of this")
    if dispute.status != DisputeStatus.OPEN:
        raise DisputeAlreadyResolved(f"This was already resolved: {dispute.status}.", dispute_status=dispute.status)
    if note is not None and len(note) > 500:
        raise Invalid("note is at most 500 characters.", field="note")
    if upheld:
        _uphold(session, who, dispute, now)
    dispute.status = (DisputeStatus.UPHELD if upheld else DisputeStatus.DISMISSED).value
    dispute.resolved_at = now
    dispute.resolved_by = who.actor
    dispute.resolution_note = note
    outbox.tell(
        session,
        county_id=dispute.county_id,
        household_id=dispute.raised_by_household_id,
        kind=f"{dispute.kind}_{dispute.status}",
        dispute_id=dispute.id,
        note=note,
    )
    session.flush()
    return dispute


def _uphold(session: Session, who: Principal, dispute: Dispute, now: datetime) -> None:
    touch_record(session, dispute.household_id)
    if dispute.deduction_id is not None:
        deduction = session.scalars(
            select(Deduction).where(col(Deduction.id) == dispute.deduction_id).with_for_update()
        ).one()
        if deduction.transaction_id is not None:
            reversal = journal.reverse(
                session, transaction_id=deduction.transaction_id, actor=who.actor, reason="appeal_upheld", now=now
            )
            deduction.reversal_tx_id = reversal.id
        deduction.status = DeductionStatus.REVOKED.value
        deduction.revoked_at = now
        return
    claim = session.scalars(select(Claim).where(col(Claim.id) == dispute.claim_id).with_for_update()).one()
    if dispute.kind == DisputeKind.OBJECTION:
        lifecycle.move(session, claim, lifecycle.Transition.REVOKE, by=who.actor, now=now)
    else:
        lifecycle.move(
            session, claim, lifecycle.Transition.REINSTATE, by=who.actor, now=now, meta={"appeal": dispute.id}
        )


def _open(
    session: Session,
    kind: DisputeKind,
    who: Principal,
    county_id: int,
    village_id: int,
    household_id: int,
    reason: str,
    now: datetime,
    *,
    claim_id: int | None = None,
    deduction_id: int | None = None,
) -> Dispute:
    dispute = Dispute(
        kind=kind.value,
        county_id=county_id,
        village_id=village_id,
        household_id=household_id,
        claim_id=claim_id,
        deduction_id=deduction_id,
        raised_by=who.actor,
        raised_by_household_id=row_id(who.household_id),  # the callers let only a household's member open one
        reason=reason,
        opened_at=now,
    )
    try:
        with session.begin_nested():
            session.add(dispute)
            session.flush()
    except IntegrityError:
        raise AlreadyDisputed(f"Your household has already raised an {kind.value} about this entry.") from None
    return dispute


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise ReasonRequired("Say why (up to 500 characters).", field="reason")
    return reason.strip()


_DISPUTE = idempotency.row(Dispute, "dispute")


def of_village(session: Session, village_id: int, *, status: str | None = None) -> list[Dispute]:
    query = select(Dispute).where(col(Dispute.village_id) == village_id)
    if status is not None:
        query = query.where(col(Dispute.status) == status)
    return list(session.scalars(query.order_by(col(Dispute.opened_at))).all())

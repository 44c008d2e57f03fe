"""Who may see and act on claims, their evidence photos, disputes and deductions: the one place routes, pages and
the claim services ask.

A villager sees their own household's claims, deductions and disputes (and the photos used for or against it);
staff see those of their villages (the county admin and auditors: the whole county). Writing (deciding a claim,
resolving a dispute, recording a deduction) is for the officials of the village and the county admin, never
auditors. What is not yours to see looks missing (404), so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, case, select
from sqlmodel import Session, col

from ledger.claims.evidence import EvidenceDeleted, EvidenceNotFound
from ledger.claims.models import (
    Claim,
    ClaimEvidence,
    ClaimStatus,
    Deduction,
    DeductionEvidence,
    Dispute,
    DisputeKind,
    DisputeStatus,
    EvidenceFile,
)
from ledger.core import paging
from ledger.core.base import utcnow
from ledger.core.errors import Invalid
from ledger.identity.models import Role
from ledger.identity.principal import Principal, managed_village
from ledger.tenancy import County, Household

STAFF = (Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)
LISTED = 200  # at most this many deductions or disputes in one listing


class VillageRequired(Invalid):
    code = "village_required"


def is_staff(who: Principal) -> bool:
    """Staff see a claim's review side (who entered and decided it, its age, flags and note)."""
    return who.role in STAFF


# --- claims ---------------------------------------------------------------------------------------------------


def may_see_claim(who: Principal, claim: Claim) -> bool:
    if who.role == Role.VILLAGER:
        return claim.household_id == who.household_id
    return who.sees_village(claim.village_id, claim.county_id)


def visible_claim(session: Session, who: Principal, claim_id: int) -> Claim:
    """The claim, if `who` may see it; otherwise `claim_not_found`, as for a claim that does not exist."""
    claim = session.get(Claim, claim_id)
    if claim is None or not may_see_claim(who, claim):
        from ledger.claims.service import ClaimNotFound  # the service asks this module: imported when needed

        raise ClaimNotFound("No such claim, or it is not yours to see.", claim_id=claim_id)
    return claim


def may_decide(who: Principal, claim: Claim) -> bool:
    """Approve or reject: the officials of the claim's village and the county admin (conflict of interest aside,
    see `Principal.refuse_own`)."""
    return who.role in (Role.OFFICIAL, Role.COUNTY_ADMIN) and who.manages_village(claim.village_id, claim.county_id)


def may_object(who: Principal, claim: Claim) -> bool:
    """Object to a claim on the notice board: those who live in its village."""
    return who.lives_in(claim.village_id)


def visible_claims(
    session: Session,
    who: Principal,
    *,
    status: ClaimStatus | None = None,
    village_id: int | None = None,
    overdue: bool = False,
    escalated: bool = False,
    limit: int = 50,
    cursor: int | None = None,
) -> list[Claim]:
    """A villager: their household's claims, newest first. Staff: their villages' (or `village_id`, if one of
    theirs); pending ones oldest first, those sent up to the township supervisor (escalated, ledger/claims/
    escalation.py) before the others. `overdue`: pending claims past the county's review time; `escalated`: the
    pending claims sent up (both for staff only)."""
    query = select(Claim)
    if who.role == Role.VILLAGER:
        query = query.where(col(Claim.household_id) == who.household_id)
    else:
        villages = sorted(who.village_ids) if who.role == Role.OFFICIAL else None
        if village_id is not None:
            villages = [village_id] if villages is None or village_id in villages else []
        query = query.where(col(Claim.county_id) == who.county_id)
        if villages is not None:
            query = query.where(col(Claim.village_id).in_(villages))
    if escalated and not is_staff(who):
        return []
    scoped = query
    if overdue or escalated:
        status = ClaimStatus.PENDING
    if escalated:
        query = query.where(col(Claim.escalated_at).is_not(None))
    if status is not None:
        query = query.where(col(Claim.status) == status)
    oldest_first = status == ClaimStatus.PENDING
    if oldest_first and is_staff(who):
        query = _sent_up_first(session, scoped, query, cursor)
    else:
        if cursor is not None:
            query = query.where(col(Claim.id) > cursor if oldest_first else col(Claim.id) < cursor)
        query = query.order_by(col(Claim.id) if oldest_first else col(Claim.id).desc())
    if not overdue:
        return list(session.scalars(query.limit(limit)).all())
    if not is_staff(who):  # only staff are shown whether a claim is overdue
        return []
    from ledger.claims import review  # review asks this module who may decide: imported when needed

    found = session.scalars(query.limit(limit * 5)).all()  # the county's overdue hours decide: filter after loading
    county = session.get(County, who.county_id)
    assert county is not None
    now = utcnow()
    return [c for c in found if review.is_overdue(c, county, now)][:limit]


def _sent_up_first(session: Session, scoped: Select[Any], query: Select[Any], cursor: int | None) -> Select[Any]:
    """The review queue's order: claims sent up to the supervisor first, then the others, each oldest first. The
    cursor (the last claim of the page before, among the caller's own) says in which of the two it stopped."""
    sent_up = col(Claim.escalated_at).is_not(None)
    if cursor is not None:
        last = session.scalars(scoped.where(col(Claim.id) == cursor)).first()
        if last is not None and last.escalated_at is not None:
            query = query.where((sent_up & (col(Claim.id) > cursor)) | col(Claim.escalated_at).is_(None))
        else:
            query = query.where(col(Claim.escalated_at).is_(None), col(Claim.id) > cursor)
    return query.order_by(case((sent_up, 0), else_=1), col(Claim.id))


# --- evidence photos ------------------------------------------------------------------------------------------


def may_see_evidence(session: Session, who: Principal, photo: EvidenceFile) -> bool:
    """The household it belongs to (or is used for or against), and the staff of its village."""
    if who.role in STAFF:
        return who.sees_village(photo.village_id, photo.county_id)
    if who.role != Role.VILLAGER or who.household_id is None:
        return False
    if photo.household_id == who.household_id:
        return True
    used_against = session.scalar(
        select(col(Deduction.id))
        .join(DeductionEvidence, col(DeductionEvidence.deduction_id) == col(Deduction.id))
        .where(col(DeductionEvidence.evidence_id) == photo.id, col(Deduction.household_id) == who.household_id)
        .limit(1)
    )
    used_for = session.scalar(
        select(col(Claim.id))
        .join(ClaimEvidence, col(ClaimEvidence.claim_id) == col(Claim.id))
        .where(col(ClaimEvidence.evidence_id) == photo.id, col(Claim.household_id) == who.household_id)
        .limit(1)
    )
    return used_against is not None or used_for is not None


def may_attach(who: Principal, photo: EvidenceFile) -> bool:
    """Whether `who` may attach this photo to something they send (a claim, a concern, its resolution): a
    villager, a photo of their household; staff, one they sent themselves. Never a deleted one."""
    if photo.purged_at is not None:
        return False
    if who.role == Role.VILLAGER:
        return who.household_id is not None and photo.household_id == who.household_id
    return photo.uploaded_by == who.actor


def visible_evidence(session: Session, who: Principal, evidence_id: int) -> EvidenceFile:
    photo = session.get(EvidenceFile, evidence_id)
    if photo is None or not may_see_evidence(session, who, photo):
        raise EvidenceNotFound("No such photo, or it is not yours to see.", evidence_id=evidence_id)
    if photo.purged_at is not None:
        raise EvidenceDeleted("This photo was deleted: its keeping period ended, or its sender's data was erased.")
    return photo


def upload_target(session: Session, who: Principal, village_id: int | None) -> tuple[int | None, int]:
    """Whose a new photo is, as (household_id, village_id): a villager's belongs to their household; an official
    names one of their villages."""
    if who.role == Role.VILLAGER:
        assert who.home_village_id is not None
        return who.household_id, who.home_village_id
    if village_id is None:
        raise VillageRequired("Say which of your villages this photo is for (village_id).", field="village_id")
    managed_village(session, who, village_id)
    return None, village_id


def evidence_ids(session: Session, *, claim_id: int | None = None, deduction_id: int | None = None) -> list[int]:
    """The photos of a claim or of a deduction, in id order."""
    if claim_id is not None:
        ids = session.scalars(select(col(ClaimEvidence.evidence_id)).where(col(ClaimEvidence.claim_id) == claim_id))
    else:
        ids = session.scalars(
            select(col(DeductionEvidence.evidence_id)).where(col(DeductionEvidence.deduction_id) == deduction_id)
        )
    return sorted(ids.all())


def evidence_of(
    session: Session, *, claim_ids: Sequence[int] = (), deduction_ids: Sequence[int] = ()
) -> dict[int, list[int]]:
    """The photos of many claims (or of many deductions) in one query: by claim (or deduction) id, each list in id
    order; one without photos is absent."""
    if claim_ids:
        rows = session.execute(
            select(col(ClaimEvidence.claim_id), col(ClaimEvidence.evidence_id)).where(
                col(ClaimEvidence.claim_id).in_(sorted(set(claim_ids)))
            )
        ).all()
    elif deduction_ids:
        rows = session.execute(
            select(col(DeductionEvidence.deduction_id), col(DeductionEvidence.evidence_id)).where(
                col(DeductionEvidence.deduction_id).in_(sorted(set(deduction_ids)))
            )
        ).all()
    else:
        return {}
    found: dict[int, list[int]] = {}
    for owner, evidence in sorted(rows):
        found.setdefault(int(owner), []).append(int(evidence))
    return found


# --- deductions and disputes ----------------------------------------------------------------------------------


def _scoped(
    query: Select[Any], who: Principal, village: Any, household: Any, county: Any, village_id: int | None
) -> Select[Any]:
    """Limit a listing to what `who` may see: their household, or their villages (or `village_id` among them)."""
    if who.role == Role.VILLAGER:
        return query.where(household == who.household_id)
    query = query.where(county == who.county_id)
    if who.role == Role.OFFICIAL:
        villages = (
            sorted(who.village_ids) if village_id is None else ([village_id] if village_id in who.village_ids else [])
        )
        return query.where(village.in_(villages))
    return query if village_id is None else query.where(village == village_id)


def visible_deductions(
    session: Session, who: Principal, *, village_id: int | None = None, limit: int = LISTED
) -> list[Deduction]:
    """A villager: the deductions against their household. Staff: their villages'. Newest first, the first
    `limit` (`deduction_page` reaches the others)."""
    return deduction_page(session, who, village_id=village_id, limit=limit).rows


def deduction_page(
    session: Session,
    who: Principal,
    *,
    village_id: int | None = None,
    cursor: str | None = None,
    limit: int = paging.PAGE,
) -> paging.Page[Deduction]:
    """`visible_deductions` a page at a time, newest first, after `cursor`."""
    query = _scoped(
        select(Deduction),
        who,
        col(Deduction.village_id),
        col(Deduction.household_id),
        col(Deduction.county_id),
        village_id,
    )
    return paging.by_id(session, query, col(Deduction.id), cursor=cursor, limit=limit)


def visible_deduction(session: Session, who: Principal, deduction_id: int) -> Deduction:
    deduction = session.get(Deduction, deduction_id)
    if deduction is None or not (
        deduction.household_id == who.household_id
        if who.role == Role.VILLAGER
        else who.sees_village(deduction.village_id, deduction.county_id)
    ):
        from ledger.claims.deductions import DeductionNotFound  # deductions asks this module: imported when needed

        raise DeductionNotFound("No such deduction.", deduction_id=deduction_id)
    return deduction


def visible_disputes(
    session: Session,
    who: Principal,
    *,
    status: DisputeStatus | None = None,
    kind: DisputeKind | None = None,
    village_id: int | None = None,
    limit: int = LISTED,
) -> list[Dispute]:
    """Objections and appeals: a villager, those about or raised by their household; staff their villages'.
    Oldest first, the first `limit` (`dispute_page` reaches the others)."""
    return dispute_page(session, who, status=status, kind=kind, village_id=village_id, limit=limit).rows


def dispute_page(
    session: Session,
    who: Principal,
    *,
    status: DisputeStatus | None = None,
    kind: DisputeKind | None = None,
    village_id: int | None = None,
    decided: bool = False,
    cursor: str | None = None,
    limit: int = paging.PAGE,
    newest_first: bool = False,
) -> paging.Page[Dispute]:
    """`visible_disputes` a page at a time, oldest first (or newest first), after `cursor`; `decided`: only
    those upheld or dismissed."""
    query = select(Dispute)
    if who.role == Role.VILLAGER:
        query = query.where(
            (col(Dispute.household_id) == who.household_id) | (col(Dispute.raised_by_household_id) == who.household_id)
        )
    else:
        query = _scoped(
            query, who, col(Dispute.village_id), col(Dispute.household_id), col(Dispute.county_id), village_id
        )
    if status is not None:
        query = query.where(col(Dispute.status) == status)
    if decided:
        query = query.where(col(Dispute.status) != DisputeStatus.OPEN)
    if kind is not None:
        query = query.where(col(Dispute.kind) == kind)
    return paging.by_id(session, query, col(Dispute.id), cursor=cursor, limit=limit, newest_first=newest_first)


def sees_disputed_household(who: Principal, dispute: Dispute) -> bool:
    """A villager who objected to another household's claim is not told which household it is: the notice board
    may name households anonymously, and an objection must not undo that."""
    return who.role != Role.VILLAGER or dispute.household_id == who.household_id


def may_appeal(who: Principal, target: Claim | Deduction) -> bool:
    """Appeal a rejection or a deduction: a member of the household it is about (a villager)."""
    return who.role == Role.VILLAGER and who.household_id is not None and target.household_id == who.household_id


def may_resolve(who: Principal, dispute: Dispute) -> bool:
    """Uphold or dismiss: the officials of the dispute's village and the county admin."""
    return who.role in (Role.OFFICIAL, Role.COUNTY_ADMIN) and who.manages_village(dispute.village_id, dispute.county_id)


def may_act_for(who: Principal, household: Household) -> bool:
    """Record a deduction against a household, award it, enter a claim for it: the officials of its village and
    the county admin (conflict of interest aside)."""
    return who.manages_village(household.village_id, household.county_id)

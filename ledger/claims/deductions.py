"""Deductions: an official records misconduct against a household, with evidence and a reason.

A deduction never makes the spendable balance negative. It takes what the household's available (settled, not
held) points allow, at once; whatever the balance could not cover is recorded on the deduction as `unpaid`. Unpaid
points are not collected from later earnings and never show as a negative balance; they stay on the household's
record, and the rating counts the deduction in full (points = posted + unpaid). Points in notice are not touched:
they are not the household's yet.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.catalogue import service as catalogue
from ledger.catalogue.models import Evidence
from ledger.claims import access
from ledger.claims.models import Deduction, DeductionEvidence, EvidenceFile
from ledger.claims.service import (
    EvidenceNotYours,
    EvidenceRequired,
    TooManyPhotos,
)
from ledger.core import idempotency, outbox
from ledger.core.base import row_id, utcnow
from ledger.core.errors import Forbidden, Invalid, NotFound, ReasonRequired
from ledger.core.idempotency import Outcome
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.journal.models import AccountKind
from ledger.tenancy import Household, HouseholdNotFound, refuse_closed, touch_record

MAX_PHOTOS = 3


class DeductionNotFound(NotFound):
    code = "deduction_not_found"


class NotADeduction(Invalid):
    code = "not_a_deduction"


def record(
    session: Session,
    who: Principal,
    *,
    household_id: int,
    matter_code: str,
    reason: str,
    evidence_ids: tuple[int, ...],
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Outcome[Deduction]:
    if who.role not in (Role.OFFICIAL, Role.COUNTY_ADMIN):
        raise Forbidden("Only officials record deductions.")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise ReasonRequired("Say what happened (up to 500 characters): the household is told.", field="reason")
    now = now or utcnow()

    def write() -> Deduction:
        household = session.scalars(
            select(Household).where(col(Household.id) == household_id).with_for_update()
        ).first()
        if household is None or not access.may_act_for(who, household):
            raise HouseholdNotFound("No such household in your villages.", household_id=household_id)
        who.refuse_own(household_id)
        refuse_closed(household)
        matter = catalogue.current(
            session, county_id=household.county_id, village_id=household.village_id, code=matter_code
        )
        if matter.points > 0:
            raise NotADeduction(
                "This matter earns points; record a deduction with a deduction matter.", field="matter_code"
            )
        if not catalogue.in_force(matter, now):
            raise catalogue.MatterInactive("This matter is not in force.", matter_code=matter_code)
        photos = _evidence(session, who, household, evidence_ids, needed=matter.evidence == Evidence.PHOTO)
        points = -matter.points
        touch_record(session, household_id)
        tx = journal.take_available(
            session,
            debit=row_id(accounts.of_household(session, household_id).id),
            credit=row_id(accounts.of_village(session, household.village_id, AccountKind.PENALTY).id),
            amount=points,
            reason=matter.code,
            actor=who.actor,
            meta={"deduction": "recorded"},
            now=now,
        )
        posted = 0 if tx is None else sum(leg.amount for leg in tx.postings if leg.amount > 0)
        deduction = Deduction(
            county_id=household.county_id,
            village_id=household.village_id,
            household_id=household_id,
            matter_id=row_id(matter.id),
            points=points,
            posted=posted,
            unpaid=points - posted,
            reason=reason.strip(),
            recorded_by=who.actor,
            recorded_at=now,
            transaction_id=tx.id if tx else None,
        )
        session.add(deduction)
        session.flush()
        for photo in photos:
            session.add(DeductionEvidence(deduction_id=row_id(deduction.id), evidence_id=row_id(photo.id)))
        outbox.tell(
            session,
            county_id=household.county_id,
            household_id=household_id,
            kind="deduction_recorded",
            deduction_id=deduction.id,
            points=points,
            posted=posted,
            unpaid=deduction.unpaid,
            matter=matter.code,
            reason=deduction.reason,
        )
        session.flush()
        return deduction

    return idempotency.run(
        session,
        actor=who.actor,
        key=idempotency_key,
        request={
            "op": "deduction",
            "household": household_id,
            "matter": matter_code,
            "reason": reason,
            "evidence": sorted(evidence_ids),
        },
        stored=_DEDUCTION,
        operation=write,
    )


_DEDUCTION = idempotency.row(Deduction, "deduction")


def _evidence(
    session: Session, who: Principal, household: Household, ids: tuple[int, ...], *, needed: bool
) -> list[EvidenceFile]:
    if len(ids) > MAX_PHOTOS:
        raise TooManyPhotos(f"A deduction carries at most {MAX_PHOTOS} photos.", field="evidence_ids")
    if needed and not ids:
        raise EvidenceRequired("This deduction needs a photo as evidence.", field="evidence_ids")
    photos = list(session.scalars(select(EvidenceFile).where(col(EvidenceFile.id).in_(ids))).all()) if ids else []
    by_id = {p.id: p for p in photos}
    for evidence_id in ids:
        photo = by_id.get(evidence_id)
        if photo is None or photo.village_id != household.village_id or photo.household_id is not None:
            raise EvidenceNotYours(
                "Evidence for a deduction is a photo an official of the village sent.", evidence_id=evidence_id
            )
    return photos


def get(session: Session, deduction_id: int) -> Deduction:
    deduction = session.get(Deduction, deduction_id)
    if deduction is None:
        raise DeductionNotFound("No such deduction.", deduction_id=deduction_id)
    return deduction

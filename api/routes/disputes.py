"""Deductions, appeals, and the officials' handling of objections and appeals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select
from sqlmodel import Session

from api.deps import REPLAY_RESPONSES, IdempotencyKey, SessionDep, allow, created_or_replayed
from api.routes.claims import dispute_out
from api.routes.evidence import evidence_links
from api.schemas.claims import AppealIn, DeductionIn, DeductionOut, DisputeOut, ResolveDisputeIn
from ledger.catalogue.models import Matter
from ledger.claims import deductions, disputes
from ledger.claims.models import Deduction, Dispute, DisputeKind, DisputeStatus
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import County

router = APIRouter(prefix="/api/v1", tags=["deductions and disputes"])
Villager = Annotated[Principal, allow(Role.VILLAGER)]
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


def deduction_out(session: Session, deduction: Deduction, *, replayed: bool = False) -> DeductionOut:
    matter = session.get(Matter, deduction.matter_id)
    assert matter is not None
    county = session.get(County, deduction.county_id)
    assert county is not None
    return DeductionOut(
        **deduction.model_dump(include=set(DeductionOut.model_fields)),
        matter_code=matter.code,
        appeal_until=disputes.appeal_deadline(county, deduction),
        evidence=evidence_links(session, deduction_id=deduction.id),
        replayed=replayed,
    )


def _scoped(query, who: Principal, column_village, column_household, column_county, village_id: int | None):  # type: ignore[no-untyped-def]
    """Limit a listing to what the caller may see: their household, or their villages."""
    if who.role == Role.VILLAGER:
        return query.where(column_household == who.household_id)
    query = query.where(column_county == who.county_id)
    if who.role == Role.OFFICIAL:
        villages = (
            sorted(who.village_ids) if village_id is None else ([village_id] if village_id in who.village_ids else [])
        )
        return query.where(column_village.in_(villages))
    return query if village_id is None else query.where(column_village == village_id)


@router.post("/deductions", response_model=DeductionOut, status_code=201, responses=REPLAY_RESPONSES)
def record_deduction(
    body: DeductionIn, idempotency_key: IdempotencyKey, session: SessionDep, who: Staff, response: Response
) -> DeductionOut:
    """Record a deduction against a household. It takes what the spendable balance allows; the rest is recorded
    as unpaid, counted by the rating, never collected."""
    recorded = deductions.record(
        session,
        who,
        household_id=body.household_id,
        matter_code=body.matter_code,
        reason=body.reason,
        evidence_ids=tuple(body.evidence_ids),
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, recorded.replayed)
    return deduction_out(session, recorded.value, replayed=recorded.replayed)


@router.get("/deductions", response_model=list[DeductionOut])
def list_deductions(
    session: SessionDep, who: Reader, village_id: Annotated[int | None, Query(gt=0)] = None
) -> list[DeductionOut]:
    """A villager: deductions against their household. Staff: their villages'. Newest first."""
    query = _scoped(
        select(Deduction), who, Deduction.village_id, Deduction.household_id, Deduction.county_id, village_id
    )
    rows = session.scalars(query.order_by(Deduction.id.desc()).limit(200)).all()  # type: ignore[union-attr]
    return [deduction_out(session, d) for d in rows]


@router.post("/appeals", response_model=DisputeOut, status_code=201, responses=REPLAY_RESPONSES)
def appeal(
    body: AppealIn, idempotency_key: IdempotencyKey, session: SessionDep, who: Villager, response: Response
) -> DisputeOut:
    """Appeal against a rejection of your household's claim or a deduction against it (within the county's
    appeal days)."""
    opened = disputes.appeal(
        session,
        who,
        claim_id=body.claim_id,
        deduction_id=body.deduction_id,
        reason=body.reason,
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, opened.replayed)
    return dispute_out(opened.value, who, replayed=opened.replayed)


@router.get("/disputes", response_model=list[DisputeOut])
def list_disputes(
    session: SessionDep,
    who: Reader,
    status: DisputeStatus | None = None,
    kind: DisputeKind | None = None,
    village_id: Annotated[int | None, Query(gt=0)] = None,
) -> list[DisputeOut]:
    """Objections and appeals: a villager sees those about or raised by their household; staff their villages',
    oldest first."""
    query = select(Dispute)
    if who.role == Role.VILLAGER:
        query = query.where(
            (Dispute.household_id == who.household_id) | (Dispute.raised_by_household_id == who.household_id)
        )
    else:
        query = _scoped(query, who, Dispute.village_id, Dispute.household_id, Dispute.county_id, village_id)
    if status is not None:
        query = query.where(Dispute.status == status)
    if kind is not None:
        query = query.where(Dispute.kind == kind)
    return [dispute_out(d, who) for d in session.scalars(query.order_by(Dispute.id).limit(200)).all()]  # type: ignore[arg-type]


@router.post("/disputes/{dispute_id}/resolve", response_model=DisputeOut, status_code=201, responses=REPLAY_RESPONSES)
def resolve(
    dispute_id: int,
    body: ResolveDisputeIn,
    idempotency_key: IdempotencyKey,
    session: SessionDep,
    who: Staff,
    response: Response,
) -> DisputeOut:
    """Uphold (a claim in notice is reversed; a rejected claim is approved after all; a deduction is revoked) or
    dismiss."""
    resolved = disputes.resolve(
        session,
        who,
        dispute_id=dispute_id,
        upheld=body.outcome == "upheld",
        note=body.note,
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, resolved.replayed)
    return dispute_out(resolved.value, who, replayed=resolved.replayed)
